"""Short links (CONTRACT §2, ``resolve_shorteners``): resolved by their redirect headers against a loopback
shortener reached through ``connect_to``, each once, and the posts behind them stored late with their own
``created_at``; never the target, never a private address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import Clock, Sleeps, make_config
from tests.support.factories import mention
from tests.support.scripted import ScriptedConnector
from tests.support.shortener import FakeShortener
from tracker.connector import Cursor, FetchRequest, Page
from tracker.outbound import Outbound
from tracker.poller import MentionFilter, Poller
from tracker.record import Link
from tracker.schema import short_links, waiting_mentions
from tracker.settings import Config, DomainSettings
from tracker.shortlinks import MAX_HOPS, RequestBudget, ShortLinkResolver
from tracker.store import Store

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
SHORTENERS = ("bit.ly", "buff.ly", "ow.ly", "is.gd", "dlvr.it")
POSTED = datetime(2026, 11, 10, 8, 30, 15, 250000, tzinfo=UTC)


@pytest.fixture
def shortener() -> Iterator[FakeShortener]:
    with FakeShortener() as server:
        yield server


def resolver(
    shortener: FakeShortener, *, budget: int = 60, resolve: Any = None, also: tuple[str, ...] = ()
) -> ShortLinkResolver:
    outbound = Outbound(
        connect_to=shortener.connect_to(*SHORTENERS, *also),
        sleep=lambda seconds: None,
        **({"resolver": resolve} if resolve else {}),
    )
    return ShortLinkResolver(outbound, RequestBudget(budget), lambda: NOW)


# The resolver


def test_a_chain_of_short_links_is_followed_to_its_target_which_is_never_contacted(
    shortener: FakeShortener,
) -> None:
    shortener.redirect("bit.ly/a", "https://buff.ly/b")
    shortener.redirect("buff.ly/b", "https://example.com/page?utm_source=buffer", status=302)
    found = resolver(shortener, also=("example.com",)).resolve("https://bit.ly/a")
    assert found is not None
    assert (found.target, found.error, found.requests) == (
        "https://example.com/page?utm_source=buffer",
        None,
        2,
    )
    assert shortener.hosts_contacted() == ["bit.ly", "buff.ly"]  # example.com is mapped here too: never asked
    assert [seen.method for seen in shortener.requests] == ["HEAD", "HEAD"]


def test_a_redirect_to_a_private_address_is_a_target_that_is_never_contacted(
    shortener: FakeShortener,
) -> None:
    shortener.redirect("bit.ly/p", f"http://127.0.0.1:{shortener.port}/admin")
    found = resolver(shortener).resolve("https://bit.ly/p")
    assert found is not None and found.target == f"http://127.0.0.1:{shortener.port}/admin"
    assert [seen.path for seen in shortener.requests] == ["/p"]
    assert MentionFilter([DomainSettings(name="example.com")]).keep(
        mention(url="https://bit.ly/p"), {"https://bit.ly/p": found.target}
    ) == (None, set())


def test_a_shortener_hop_whose_name_resolves_to_a_private_address_is_refused(
    shortener: FakeShortener,
) -> None:
    shortener.redirect("bit.ly/q", "https://tinyurl.com/z")  # tinyurl.com is not in connect_to
    rebinding = {"tinyurl.com": ["127.0.0.1"]}

    def resolve(host: str, port: int) -> list[str]:
        return rebinding.get(host, ["127.0.0.1"])

    found = resolver(shortener, resolve=resolve).resolve("https://bit.ly/q")
    assert found is not None and found.target is None
    assert "tinyurl.com resolves to 127.0.0.1, not a public address; refused" in (found.error or "")
    assert shortener.hosts_contacted() == ["bit.ly"]
    assert found.retry_at == NOW + timedelta(days=1)


def test_a_redirect_loop_is_stopped(shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/l1", "https://buff.ly/l2")
    shortener.redirect("buff.ly/l2", "http://www.bit.ly/l1#again")
    found = resolver(shortener).resolve("https://bit.ly/l1")
    assert found is not None and found.target is None
    assert (found.error or "").startswith("redirect loop at http://www.bit.ly/l1")
    assert len(shortener.requests) == 2


def test_a_chain_longer_than_the_hop_limit_is_stopped(shortener: FakeShortener) -> None:
    for n in range(MAX_HOPS + 1):
        shortener.redirect(f"bit.ly/h{n}", f"https://bit.ly/h{n + 1}")
    found = resolver(shortener).resolve("https://bit.ly/h0")
    assert found is not None and found.error == f"more than {MAX_HOPS} redirects"
    assert len(shortener.requests) == MAX_HOPS


def test_a_wrapper_in_the_chain_is_unwrapped_without_a_request(shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/w", "https://l.facebook.com/l.php?u=https%3A%2F%2Fow.ly%2Fx&h=1")
    shortener.redirect("ow.ly/x", "https://example.com/wrapped")
    found = resolver(shortener, also=("l.facebook.com",)).resolve("https://bit.ly/w")
    assert found is not None and found.target == "https://example.com/wrapped"
    assert shortener.hosts_contacted() == ["bit.ly", "ow.ly"]


def test_a_shortener_that_refuses_head_is_asked_with_a_get_whose_body_is_not_read(
    shortener: FakeShortener,
) -> None:
    shortener.no_head.add("is.gd")
    shortener.endless_body = True
    shortener.redirect("is.gd/g", "https://example.com/g", status=302)
    found = resolver(shortener).resolve("https://is.gd/g")
    assert found is not None and (found.target, found.requests) == ("https://example.com/g", 2)
    assert [seen.method for seen in shortener.requests] == ["HEAD", "GET"]


def test_an_unknown_short_link_fails_without_a_get(shortener: FakeShortener) -> None:
    found = resolver(shortener).resolve("https://bit.ly/missing")
    assert found is not None and (found.target, found.error) == (
        None,
        "https://bit.ly/missing answered HTTP 404, not a redirect",
    )
    assert [seen.method for seen in shortener.requests] == ["HEAD"]


def test_the_request_budget_stops_lookups_until_the_minute_has_passed(shortener: FakeShortener) -> None:
    for n in range(3):
        shortener.redirect(f"bit.ly/{n}", f"https://example.com/{n}")
    limited = resolver(shortener, budget=2)
    assert limited.resolve("https://bit.ly/0") is not None
    assert limited.resolve("https://bit.ly/1") is not None
    assert limited.resolve("https://bit.ly/2") is None  # nothing known: try again later
    assert len(shortener.requests) == 2


def test_the_budget_is_a_sliding_minute() -> None:
    now = [0.0]
    budget = RequestBudget(2, monotonic=lambda: now[0])
    assert budget.take() and budget.take() and not budget.take()
    now[0] = 59.0
    assert not budget.take() and budget.used() == 2
    now[0] = 60.5
    assert budget.take() and budget.used() == 1


# Through the poller: posts wait in the store, then are stored late (or dropped)

SCRIPTED = "tests.support.scripted:ScriptedConnector"


@pytest.fixture(autouse=True)
def _reset_scripts() -> None:
    ScriptedConnector.SCRIPTS.clear()
    ScriptedConnector.requests.clear()


def short_config(
    tmp_path: Path, database_url: str, shortener: FakeShortener, *, resolve: bool = True
) -> Config:
    mapping = ", ".join(f'"{host}" = "{shortener.url}"' for host in (*SHORTENERS, "example.com"))
    return make_config(
        tmp_path,
        f'[tracker]\ndatabase_url = "{database_url}"\nresolve_shorteners = {str(resolve).lower()}\n'
        f"connect_to = {{{mapping}}}\n"
        '[[domains]]\nname = "example.com"\naliases = ["exm.pl"]\n'
        f'[connectors.one]\ntype = "{SCRIPTED}"\nscript = "one"\n',
    )


def posts(*items: tuple[str, list[str]]) -> list[Any]:
    return [
        mention(pid, created_at=POSTED, links=tuple(Link(url, "text", None) for url in urls), raw='{"id": 1}')
        for pid, urls in items
    ]


class Rig:
    def __init__(self, tmp_path: Path, database_url: str, shortener: FakeShortener, **options: Any) -> None:
        self.config = short_config(tmp_path, database_url, shortener, **options)
        self.store = Store.open(self.config.database_url)
        self.clock = Clock(NOW)
        self.pages: list[list[Any]] = []
        self.deleted: list[str] = []
        ScriptedConnector.SCRIPTS["one"] = lambda request: [
            Page("s", self.pages.pop(0), cursor=Cursor(1, {"n": 1}), deleted=self.deleted)
        ]

    def poller(self) -> Poller:
        return Poller(self.config, self.store, clock=self.clock, sleeper=Sleeps())

    def poll(self, *batch: tuple[str, list[str]]) -> Any:
        self.pages.append(posts(*batch))
        poller = self.poller()
        try:
            return poller.poll("one")
        finally:
            poller.close()

    def settle(self) -> int:
        return self.poller().settle_short_links()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions(include_deleted=True)}

    def waiting(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(waiting_mentions)).scalar() or 0)


@pytest.fixture
def rig(tmp_path: Path, database_url: str, shortener: FakeShortener) -> Iterator[Rig]:
    made = Rig(tmp_path, database_url, shortener)
    yield made
    made.store.close()


def test_a_post_whose_only_link_is_short_waits_then_is_stored_with_its_own_created_at(
    rig: Rig, shortener: FakeShortener
) -> None:
    shortener.redirect("bit.ly/ours", "https://www.example.com/post?utm_medium=social")
    shortener.redirect("bit.ly/theirs", "https://other.org/")
    result = rig.poll(("1", ["https://bit.ly/ours"]), ("2", ["https://bit.ly/theirs"]))
    assert (result.status, result.new) == ("ok", 0)
    assert rig.mentions() == {} and rig.waiting() == 2
    assert shortener.requests == []  # nothing is resolved on the polling path
    assert rig.settle() == 1
    (found,) = rig.mentions().values()
    assert (found.platform_id, found.created_at, found.raw) == ("1", POSTED, '{"id": 1}')
    (link,) = found.links
    assert (link.url, link.canonical_url, link.domain) == (
        "https://bit.ly/ours",
        "https://example.com/post",
        "example.com",
    )
    assert rig.waiting() == 0
    assert shortener.hosts_contacted() == ["bit.ly", "bit.ly"]  # the targets were never asked


def test_each_short_link_is_resolved_once(rig: Rig, shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/ours", "https://example.com/post")
    rig.poll(("1", ["https://bit.ly/ours"]), ("2", ["http://bit.ly/ours#x"]))
    rig.settle()
    rig.poll(("3", ["https://bit.ly/ours"]))  # known now: stored at once, without a request
    assert set(rig.mentions()) == {"1", "2", "3"} and rig.waiting() == 0
    assert len(shortener.requests) == 1


def test_a_failed_lookup_is_remembered_for_a_day(rig: Rig, shortener: FakeShortener) -> None:
    rig.poll(("1", ["https://bit.ly/gone"]))
    rig.settle()
    assert rig.mentions() == {} and rig.waiting() == 0  # decided: not a link to us
    rig.poll(("2", ["https://bit.ly/gone"]))
    assert rig.waiting() == 0 and len(shortener.requests) == 1  # not asked again today
    shortener.redirect("bit.ly/gone", "https://example.com/back")
    rig.clock.advance(days=1, seconds=1)
    rig.poll(("3", ["https://bit.ly/gone"]))
    assert rig.waiting() == 1
    rig.settle()
    assert set(rig.mentions()) == {"3"} and len(shortener.requests) == 2
    with rig.store.read() as conn:
        (row,) = conn.execute(select(short_links)).mappings()
    assert (row["target"], row["error"], row["retry_at"]) == ("https://example.com/back", None, None)


def test_a_post_with_a_direct_link_is_stored_at_once_and_gains_its_short_link_later(
    rig: Rig, shortener: FakeShortener
) -> None:
    shortener.redirect("buff.ly/more", "https://exm.pl/more")  # to an alias
    rig.poll(("1", ["https://example.com/a", "https://buff.ly/more"]))
    assert [link.url for link in rig.mentions()["1"].links] == ["https://example.com/a"]
    rig.settle()
    assert [(link.url, link.canonical_url) for link in rig.mentions()["1"].links] == [
        ("https://example.com/a", "https://example.com/a"),
        ("https://buff.ly/more", "https://exm.pl/more"),
    ]


def test_waiting_posts_survive_a_restart(rig: Rig, shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/ours", "https://example.com/post")
    rig.poll(("1", ["https://bit.ly/ours"]))
    assert rig.store.cursors("one")["s"].state == {"n": 1}  # the cursor moved on with the post queued
    rig.store.close()
    rig.store = Store.open(rig.config.database_url)  # as after a crash: a new process, the same database
    assert rig.settle() == 1 and set(rig.mentions()) == {"1"}


def test_the_budget_leaves_the_rest_waiting_for_the_next_run(rig: Rig, shortener: FakeShortener) -> None:
    for n in range(3):
        shortener.redirect(f"bit.ly/{n}", f"https://example.com/{n}")
    rig.poll(*[(str(n), [f"https://bit.ly/{n}"]) for n in range(3)])
    poller = rig.poller()
    poller.short_link_resolver().budget = RequestBudget(2)
    assert poller.settle_short_links() == 2 and rig.waiting() == 1
    state = json.loads(rig.store.state("short_links")["short_links"][0])
    assert state == {"per_minute": 2, "used_last_minute": 2}


def test_short_links_are_ignored_when_resolving_is_off(
    tmp_path: Path, database_url: str, shortener: FakeShortener
) -> None:
    off = Rig(tmp_path, database_url, shortener, resolve=False)
    shortener.redirect("bit.ly/ours", "https://example.com/post")
    off.poll(("1", ["https://bit.ly/ours"]))
    assert off.settle() == 0
    assert off.mentions() == {} and off.waiting() == 0 and shortener.requests == []
    off.store.close()


def test_connectors_get_the_matcher_and_search_aliases_too(rig: Rig) -> None:
    rig.poll()
    (request,) = ScriptedConnector.requests
    assert [d.name for d in request.domains] == ["example.com", "exm.pl"]
    assert isinstance(request, FetchRequest) and request.link_matcher().resolve_shorteners
    assert request.link_matcher().short_link_pattern is not None


def test_a_post_deleted_while_it_waits_is_never_stored(rig: Rig, shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/ours", "https://example.com/post")
    rig.poll(("1", ["https://bit.ly/ours"]), ("2", ["https://bit.ly/ours"]))
    rig.deleted = ["1"]
    rig.poll()
    assert rig.waiting() == 1
    rig.settle()
    assert set(rig.mentions()) == {"2"}


def test_a_post_seen_again_while_it_waits_keeps_its_place_in_the_queue(
    rig: Rig, shortener: FakeShortener
) -> None:
    rig.poll(("1", ["https://bit.ly/a"]))
    rig.clock.advance(minutes=10)
    rig.poll(("2", ["https://bit.ly/b"]), ("1", ["https://bit.ly/a", "https://bit.ly/c"]))  # edited meanwhile
    (first, second) = rig.store.waiting_for_links(10)
    assert (first.mention.platform_id, first.short_urls) == ("1", {"https://bit.ly/a", "https://bit.ly/c"})
    assert second.mention.platform_id == "2"
