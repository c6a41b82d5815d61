"""The poll cycle: only posts linking to us are kept, each page is stored with its cursor, faults are
recorded and never stop the other connectors, and a budget stops a connector before it overspends."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import Clock, make_config
from tests.support.factories import mention
from tests.support.scripted import ScriptedConnector
from tracker.connector import Cursor, FetchRequest, Page, Usage
from tracker.errors import AuthError, ConnectorError
from tracker.poller import MentionFilter, Poller
from tracker.record import Link
from tracker.settings import Config, DomainSettings
from tracker.store import Store

SCRIPTED = "tests.support.scripted:ScriptedConnector"


def config(tmp_path: Path, database_url: str, *sections: str, domains: str = "") -> Config:
    body = f'[tracker]\ndatabase_url = "{database_url}"\n'
    body += domains or '[[domains]]\nname = "example.com"\nexclude_authors = ["hackernews:me"]\n'
    for section in sections:
        body += section
    return make_config(tmp_path, body)


def scripted(name: str, script: str, extra: str = "") -> str:
    return f'[connectors.{name}]\ntype = "{SCRIPTED}"\nscript = "{script}"\n{extra}\n'


@pytest.fixture(autouse=True)
def _reset_scripts() -> None:
    ScriptedConnector.SCRIPTS.clear()
    ScriptedConnector.requests.clear()


def test_filter_keeps_only_links_to_monitored_domains_canonicalized() -> None:
    f = MentionFilter([DomainSettings(name="example.com")])
    post = mention(
        links=(
            Link("https://notexample.com/x", "text"),
            Link("https://www.example.com/a/?utm_source=hn", "url_field", "A"),
            Link("https://example.com/a", "text", "dup"),
            Link("https://blog.example.com/b#top", "text"),
        )
    )
    kept = f(post)
    assert kept is not None
    assert [(k.canonical_url, k.domain, k.anchor_text) for k in kept.links] == [
        ("https://example.com/a", "example.com", "A"),
        ("https://blog.example.com/b", "example.com", None),
    ]
    assert f(mention(url="https://other.org/")) is None


def test_posts_without_our_links_or_by_excluded_authors_are_not_stored(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    ScriptedConnector.SCRIPTS["one"] = lambda request: [
        Page("s", [mention("1"), mention("2", url="https://other.org/"), mention("3", author_handle="Me")],
             cursor=Cursor(1, {"n": 1}))
    ]  # fmt: skip
    cfg = config(tmp_path, database_url, scripted("one", "one"))
    store = Store.open(cfg.database_url)
    result = Poller(cfg, store, clock=clock).poll("one")
    assert (result.status, result.fetched, result.new) == ("ok", 3, 1)
    assert [m.platform_id for m in store.iter_mentions()] == ["1"]
    store.close()


def test_a_competitor_domain_is_searched_and_its_mentions_are_stored_like_an_own_domain(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    ScriptedConnector.SCRIPTS["rivals"] = lambda request: [
        Page("s", [mention("1"), mention("2", url="https://blog.rival.com/post"), mention("3", url="https://rvl.co/x"),
                   mention("4", url="https://notrival.com/"), mention("5", url="https://rival.com/", author_handle="Them")],
             cursor=Cursor(1, {"n": 1}))
    ]  # fmt: skip
    domains = (
        '[[domains]]\nname = "example.com"\n'
        '[[domains]]\nname = "rival.com"\nrole = "competitor"\naliases = ["rvl.co"]\n'
        'exclude_authors = ["hackernews:them"]\n'
    )
    cfg = config(tmp_path, database_url, scripted("one", "rivals"), domains=domains)
    store = Store.open(cfg.database_url)
    result = Poller(cfg, store, clock=clock).poll("one")
    assert (result.status, result.fetched, result.new) == ("ok", 5, 3)
    searched = ScriptedConnector.requests[-1].domains
    assert [(d.name, d.role) for d in searched] == [
        ("example.com", "own"), ("rival.com", "competitor"), ("rvl.co", "competitor"),
    ]  # fmt: skip
    stored = {m.platform_id: [(k.canonical_url, k.domain) for k in m.links] for m in store.iter_mentions()}
    assert stored == {
        "1": [("https://example.com/page", "example.com")],
        "2": [("https://blog.rival.com/post", "rival.com")],
        "3": [("https://rvl.co/x", "rival.com")],
    }
    store.close()


def test_a_connector_receives_its_stored_cursors_and_the_pass_start(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    def script(request: FetchRequest) -> list[Page | BaseException]:
        n = request.cursors["s"].state["n"] if "s" in request.cursors else 0
        return [Page("s", [mention(str(n))], cursor=Cursor(1, {"n": n + 1}))]

    ScriptedConnector.SCRIPTS["count"] = script
    cfg = config(tmp_path, database_url, scripted("one", "count"))
    store = Store.open(cfg.database_url)
    poller = Poller(cfg, store, clock=clock)
    for _ in range(3):
        poller.poll("one")
        clock.advance(minutes=10)
    assert sorted(m.platform_id for m in store.iter_mentions()) == ["0", "1", "2"]
    assert ScriptedConnector.requests[-1].started_at == clock.now - timedelta(minutes=10)
    store.close()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            ConnectorError("HTTP 503 from the server; gave up after 5 attempts"),
            "HTTP 503 from the server; gave up after 5 attempts",
        ),
        (AuthError("HTTP 401"), "credentials rejected: HTTP 401"),
        (KeyError("surprise"), "internal error: KeyError: 'surprise'"),
    ],
)
def test_a_failing_connector_keeps_its_stored_pages_and_does_not_stop_the_others(
    tmp_path: Path, database_url: str, clock: Clock, fault: BaseException, message: str
) -> None:
    ScriptedConnector.SCRIPTS["fails"] = lambda request: [
        Page("s", [mention("1")], cursor=Cursor(1, {"n": 1})),
        fault,
    ]
    ScriptedConnector.SCRIPTS["works"] = lambda request: [
        Page("t", [mention("2")], cursor=Cursor(1, {"n": 1}))
    ]
    cfg = config(tmp_path, database_url, scripted("bad", "fails"), scripted("good", "works"))
    store = Store.open(cfg.database_url)
    poller = Poller(cfg, store, clock=clock)
    bad, good = poller.poll("bad"), poller.poll("good")
    assert (bad.status, bad.error, bad.new) == ("failed", message, 1)
    assert (good.status, good.new) == ("ok", 1)
    assert store.cursors("bad") == {"s": Cursor(1, {"n": 1})}
    assert store.run(bad.run_id)["error"] == message  # type: ignore[arg-type]
    assert store.count_mentions() == 2
    store.close()


def _refuse_cursor_writes(store: Store, refuse: bool) -> None:
    """Make the database itself reject (or accept again) every write to the cursors table: the fault of a
    process killed, or a disk gone, between a page's mentions and its cursor."""
    if store.dialect == "postgresql":
        statements = (
            [
                "CREATE FUNCTION refuse_cursor() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'cursor write refused'; END $$",
                "CREATE TRIGGER refuse_cursor BEFORE INSERT OR UPDATE ON cursors "
                "FOR EACH ROW EXECUTE FUNCTION refuse_cursor()",
            ]
            if refuse
            else ["DROP TRIGGER refuse_cursor ON cursors", "DROP FUNCTION refuse_cursor()"]
        )
    else:
        statements = (
            [
                "CREATE TRIGGER refuse_cursor BEFORE INSERT ON cursors "
                "BEGIN SELECT RAISE(ABORT, 'cursor write refused'); END",
                "CREATE TRIGGER refuse_cursor_update BEFORE UPDATE ON cursors "
                "BEGIN SELECT RAISE(ABORT, 'cursor write refused'); END",
            ]
            if refuse
            else ["DROP TRIGGER refuse_cursor", "DROP TRIGGER refuse_cursor_update"]
        )
    with store.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_a_page_whose_cursor_cannot_be_saved_stores_none_of_its_mentions(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    ScriptedConnector.SCRIPTS["two"] = lambda request: [
        Page("s", [mention("1"), mention("2")], cursor=Cursor(1, {"n": 2}))
    ]
    cfg = config(tmp_path, database_url, scripted("one", "two"))
    store = Store.open(cfg.database_url)
    _refuse_cursor_writes(store, True)
    failed = Poller(cfg, store, clock=clock).poll("one")
    assert failed.status == "failed"
    assert failed.error is not None and "cursor write refused" in failed.error
    # the mentions went with the cursor: none is stored without the resume point that covers it
    assert (store.count_mentions(), store.cursors("one")) == (0, {})
    _refuse_cursor_writes(store, False)
    clock.advance(minutes=10)
    healed = Poller(cfg, store, clock=clock).poll("one")
    assert (healed.status, healed.new) == ("ok", 2)
    assert store.cursors("one") == {"s": Cursor(1, {"n": 2})}
    store.close()


def test_ctrl_c_keeps_the_stored_pages_and_closes_the_run_as_interrupted(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    ScriptedConnector.SCRIPTS["ctrl-c"] = lambda request: [
        Page("s", [mention("1")], cursor=Cursor(1, {"n": 1})),
        KeyboardInterrupt(),
    ]
    cfg = config(tmp_path, database_url, scripted("manual", "ctrl-c"))
    store = Store.open(cfg.database_url)
    poller = Poller(cfg, store, clock=clock)
    with pytest.raises(KeyboardInterrupt):
        poller.poll("manual")
    with store.read() as conn:
        runs = conn.exec_driver_sql("SELECT status, new FROM connector_runs WHERE connector = 'manual'").all()
    assert [tuple(run) for run in runs] == [("interrupted", 1)]
    assert store.cursors("manual") == {"s": Cursor(1, {"n": 1})}
    store.close()


def test_the_budget_stops_a_connector_before_a_page_could_pass_it(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    ScriptedConnector.SCRIPTS["paid"] = lambda request: [
        Page("s", [mention(str(i))], cursor=Cursor(1, {"n": i}), usage=Usage(1, 100, 0.9)) for i in range(10)
    ]
    cfg = config(tmp_path, database_url, scripted("paid", "paid", "budget = 3.0"))
    store = Store.open(cfg.database_url)
    result = Poller(cfg, store, clock=clock).poll("paid")
    # 0.9 per page, at most 1.0 per page: after 2 pages (1.8 spent) a third could reach 2.8, a fourth 3.7 > 3.0
    assert (result.status, result.new) == ("budget", 3)
    assert result.error is not None and "monthly budget reached: $2.70 of $3.00" in result.error
    assert store.spend_since("paid", clock() - timedelta(days=1)) == pytest.approx(2.7)
    again = Poller(cfg, store, clock=clock).poll("paid")
    assert (again.status, again.new) == ("budget", 0)
    store.close()


def test_a_shutdown_request_stops_between_pages(tmp_path: Path, database_url: str, clock: Clock) -> None:
    poller_ref: list[Poller] = []

    def script(request: FetchRequest) -> list[Page | BaseException]:
        poller_ref[0].stop.set()
        return [Page("s", [mention("1")], cursor=Cursor(1, {"n": 1})), Page("s", [mention("2")])]

    ScriptedConnector.SCRIPTS["stop"] = script
    cfg = config(tmp_path, database_url, scripted("one", "stop"))
    store = Store.open(cfg.database_url)
    poller = Poller(cfg, store, clock=clock)
    poller_ref.append(poller)
    result = poller.poll("one")
    assert result.status == "interrupted"
    assert store.count_mentions() == 1
    store.close()


def test_tracker_poll_runs_the_connectors_at_once_so_a_pass_takes_the_time_of_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracker.cli import cli

    meeting = threading.Barrier(2)

    def slow(request: FetchRequest) -> list[Page | BaseException]:
        # Each pass waits until the other one is running too: one after the other, the first would wait in
        # vain and fail; at once, the pass takes the time of one.
        meeting.wait(timeout=20)
        return [Page("all", cursor=Cursor(1, {"done": True}))]

    ScriptedConnector.SCRIPTS["slow"] = slow
    path = config(tmp_path, "", scripted("first", "slow"), scripted("second", "slow")).path
    result = CliRunner().invoke(cli, ["--config", str(path), "poll"])
    assert result.exit_code == 0, result.output
    rows = [line.split()[:2] for line in result.stdout.splitlines()[1:]]
    assert rows == [["first", "ok"], ["second", "ok"]]  # one line per connector, in the config's order


def test_poll_runs_at_most_the_bound_at_once_and_a_failure_stops_no_other(tmp_path: Path) -> None:
    from tracker.poller import run_all

    lock, pairs = threading.Lock(), threading.Barrier(2)
    running, most = [0], [0]

    def counted(request: FetchRequest) -> list[Page | BaseException]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        pairs.wait(timeout=20)
        with lock:
            running[0] -= 1
        return [Page("all", cursor=Cursor(1, {"done": True}))]

    ScriptedConnector.SCRIPTS["counted"] = counted
    ScriptedConnector.SCRIPTS["broken"] = lambda request: [ConnectorError("the platform is down")]
    names = ["a", "b", "broken", "c", "d"]
    sections = [scripted(n, "broken" if n == "broken" else "counted") for n in names]
    cfg = config(tmp_path, "", *sections)
    store = Store.open(cfg.database_url)
    poller = Poller(cfg, store)
    try:
        results = run_all(poller, names, workers=2)
    finally:
        poller.close()
        store.close()
    assert [(r.connector, r.status) for r in results] == [
        ("a", "ok"), ("b", "ok"), ("broken", "failed"), ("c", "ok"), ("d", "ok"),
    ]  # fmt: skip
    assert most[0] == 2
