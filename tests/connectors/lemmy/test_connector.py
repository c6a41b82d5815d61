"""The Lemmy connector against local instances serving recorded Reddit items in Lemmy's views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Clock, Sleeps, make_config
from tests.support.http_server import RecordingServer, Reply
from tests.support.lemmy_api import COMMUNITY, FakeLemmy
from tracker.cli import cli
from tracker.config import load_config
from tracker.connector import FetchRequest
from tracker.poller import Poller, RunResult
from tracker.record import Mention
from tracker.schema import coverage_gaps
from tracker.store import Store

NOW = datetime(2015, 1, 5, tzinfo=UTC)
# The four link posts of communal's recorded search for the Medium article: Reddit ids 2r539r (r/linux),
# 2r8es6 (r/sysadmin), 2r5o9n (r/csclub), 2r5364 (r/hackernews), as numbers in base 36.
MEDIUM = {
    "https://lemmy.world/post/166519503",
    "https://lemmy.world/post/166674390",
    "https://lemmy.world/post/166546715",
    "https://lemmy.world/post/166519372",
}


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def other() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


class Rig:
    def __init__(self, tmp_path: Path, domain: str, *fakes: FakeLemmy, extra: str = "") -> None:
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        instances = ", ".join(f'"{fake.url}"' for fake in fakes)
        self.config = make_config(
            tmp_path,
            f'[[domains]]\nname = "{domain}"\n[connectors.lemmy]\ninstances = [{instances}]\n{extra}\n',
        )
        self.store = Store.open(self.config.database_url)

    def poll(self) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("lemmy")
        finally:
            poller.close()

    def mentions(self) -> dict[str, Mention]:
        return {m.platform_id: m for m in self.store.iter_mentions()}


def test_posts_whose_url_is_on_the_domain_are_found(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    rig = Rig(tmp_path, "medium.com", fake)
    result = rig.poll()
    assert (result.status, result.error, result.new) == ("ok", None, 4)
    found = rig.mentions()
    assert set(found) == MEDIUM
    post = found["https://lemmy.world/post/166519503"]
    assert (post.kind, post.permalink, post.thread_id) == ("post", "https://lemmy.world/post/166519503",
                                                         "https://lemmy.world/post/166519503")  # fmt: skip
    assert post.community == "!linux@lemmy.world"
    assert (post.author_handle, post.author_id) == (
        "MisterSnuggles@lemmy.world",
        "https://lemmy.world/u/MisterSnuggles",
    )
    assert post.title == "Why aren’t we using SSH for everything?"
    assert post.created_at == datetime(2015, 1, 2, 21, 57, 1, tzinfo=UTC)
    assert (post.metrics.score, post.metrics.replies, post.metrics.likes) == (880, 352, None)
    assert [(link.canonical_url, link.anchor_text, link.source) for link in post.links] == [
        ("https://medium.com/@shazow/ssh-how-does-it-even-9e43586e4ffc", post.title, "url_field")
    ]
    assert json.loads(post.raw or "{}")["post"]["ap_id"] == "https://lemmy.world/post/166519503"
    assert fake.problems == []


def test_each_search_carries_the_documented_parameters(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    Rig(tmp_path, "medium.com", fake).poll()
    assert [r.query for r in fake.searches()] == [
        {"q": ["medium.com"], "type_": [kind], "sort": ["New"], "listing_type": ["All"], "page": ["1"],
         "limit": ["50"]}
        for kind in ("Url", "Posts", "Comments")
    ]  # fmt: skip
    assert all("authorization" not in r.headers for r in server.requests)


def _fetched(rig: Rig) -> dict[str, Mention]:
    """The mentions the connector yields (before the poller keeps those with links, and stores them)."""
    poller = Poller(rig.config, rig.store, clock=rig.clock, sleeper=rig.sleeps)
    try:
        connector = poller.connector("lemmy")
        request = FetchRequest(rig.config.domains, {}, rig.clock())
        return {m.platform_id: m for page in connector.fetch(request) for m in page.mentions}
    finally:
        poller.close()


def test_the_community_size_is_its_subscriber_count(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    found = _fetched(Rig(tmp_path, "medium.com", fake))
    # subreddit_subscribers of the recorded posts: r/linux 550886, r/csclub 27.
    assert found["https://lemmy.world/post/166519503"].community_size == 550886
    assert found["https://lemmy.world/post/166546715"].community_size == 27
    assert len(server.requests_to(COMMUNITY)) == 4  # one lookup per community


def test_a_community_without_a_count_has_no_size(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    rig = Rig(tmp_path, "github.com", fake, extra='initial_lookback = "800d"')
    rig.clock.now = datetime(2016, 3, 20, tzinfo=UTC)
    found = _fetched(rig)
    assert found["https://lemmy.world/post/200080061"].community_size is None  # the lookup answered 404


def test_community_sizes_are_looked_up_once_a_day(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    rig = Rig(tmp_path, "medium.com", fake)
    poller = Poller(rig.config, rig.store, clock=rig.clock, sleeper=rig.sleeps)
    try:
        poller.poll("lemmy")
        assert len(server.requests_to(COMMUNITY)) == 4  # linux, sysadmin, csclub, hackernews
        rig.clock.advance(hours=1)
        poller.poll("lemmy")
        assert len(server.requests_to(COMMUNITY)) == 4
    finally:
        poller.close()


def test_comments_linking_to_the_domain_are_mentions_of_their_own(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeLemmy(server)
    rig = Rig(tmp_path, "wikipedia.org", fake)
    assert rig.poll().new == 1
    # Comment cndy0nl of the recorded r/sysadmin thread (post 2r8es6) links to en.wikipedia.org; its author
    # deleted the account.
    comment = rig.mentions()["https://lemmy.world/comment/27535532241"]
    assert (comment.kind, comment.thread_id, comment.parent_id) == (
        "comment", "https://lemmy.world/post/166674390", None,  # it answers another comment
    )  # fmt: skip
    assert (comment.author_handle, comment.author_id) == (None, None)
    assert comment.community == "!sysadmin@lemmy.world"
    assert (comment.metrics.score, comment.metrics.replies) == (5, 4)
    assert [(link.canonical_url, link.anchor_text) for link in comment.links] == [
        ("https://en.wikipedia.org/wiki/DNS-based_Authentication_of_Named_Entities", "here")
    ]


def test_post_bodies_linking_to_the_domain_are_found(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    rig = Rig(tmp_path, "github.com", fake, extra='initial_lookback = "800d"')
    rig.clock.now = datetime(2016, 3, 20, tzinfo=UTC)
    assert rig.poll().status == "ok"
    # Self posts 3b4erh (r/learnpython) and 4at068 (r/p18s) of praw's recorded search link to github.com.
    found = rig.mentions()
    assert set(found) == {"https://lemmy.world/post/200080061", "https://lemmy.world/post/260014112"}
    post = found["https://lemmy.world/post/200080061"]
    assert (post.title, post.community) == (
        "Collecting submission data from Reddit",
        "!learnpython@lemmy.world",
    )
    assert [link.canonical_url for link in post.links] == [
        "https://github.com/reddit/reddit/wiki/OAuth2-Quick-Start-Example"
    ]


def test_one_post_seen_through_two_instances_is_one_record(
    server: RecordingServer, other: RecordingServer, tmp_path: Path
) -> None:
    home = FakeLemmy(server)
    federated = FakeLemmy(other, offset=1_000_000, local=False)
    rig = Rig(tmp_path, "medium.com", home, federated)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 4)
    assert len(federated.searches()) == 3
    assert set(rig.mentions()) == MEDIUM
    assert len(list(rig.store.iter_mentions())) == 4


def test_a_second_pass_reads_back_to_the_cursor_minus_the_overlap_and_adds_nothing(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeLemmy(server)
    rig = Rig(tmp_path, "medium.com", fake, extra="page_size = 2\ncomments = false\nposts = false")
    first = rig.poll()
    assert [r.param("page") for r in fake.searches()] == ["1", "2", "3"]  # 2 + 2 + 0
    assert first.new == 4
    rig.clock.advance(hours=1)
    second = rig.poll()
    assert (second.status, second.new, second.updated) == ("ok", 0, 0)
    # The newest post is two days old: older than the cursor minus six hours, so one page is enough.
    assert [r.param("page") for r in fake.searches()][3:] == ["1"]
    new = fake.publish("t3_2r539r", "zznew1", rig.clock().timestamp() - 600, "https://medium.com/@x/new")
    rig.clock.advance(hours=1)
    third = rig.poll()
    assert (third.status, third.new) == ("ok", 1)
    assert new in rig.mentions()


def test_a_removed_post_is_not_stored(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    fake.removed.add("2r539r")
    rig = Rig(tmp_path, "medium.com", fake)
    assert (rig.poll().new, set(rig.mentions())) == (3, MEDIUM - {"https://lemmy.world/post/166519503"})


def test_an_instance_that_fails_does_not_stop_the_others(
    server: RecordingServer, other: RecordingServer, tmp_path: Path
) -> None:
    broken = FakeLemmy(server)
    broken.fault = "server_error"
    working = FakeLemmy(other, offset=1_000_000, local=False)
    rig = Rig(tmp_path, "medium.com", broken, working)
    result = rig.poll()
    assert result.status == "failed"
    assert f"{server.url[7:]}: " in (result.error or "") and "HTTP 502" in (result.error or "")
    assert set(rig.mentions()) == MEDIUM


@pytest.mark.parametrize(
    ("failure", "sleeps", "counted"),
    [
        (Reply(429, {"error": "rate_limit_error"}, {"Retry-After": "4"}), [4.0], {"retried_429": 1}),
        (Reply(503, "<html>busy</html>", {"Content-Type": "text/html"}), 1, {"retried_5xx": 1}),
        (Reply(200, b'{"posts": [{'), 1, {"retried_bad_json": 1}),
    ],
    ids=["429", "5xx", "malformed-json"],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    server: RecordingServer, tmp_path: Path, failure: Reply, sleeps: object, counted: dict[str, int]
) -> None:
    fake = FakeLemmy(server)
    fake.script = [failure]
    rig = Rig(tmp_path, "medium.com", fake)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 4)
    assert rig.sleeps == sleeps if isinstance(sleeps, list) else len(rig.sleeps) == sleeps
    assert json.loads(rig.store.run(result.run_id)["counters"]) == counted  # type: ignore[arg-type]


def test_more_pages_than_allowed_is_a_recorded_gap(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeLemmy(server)
    rig = Rig(
        tmp_path, "medium.com", fake, extra="page_size = 1\nmax_pages = 2\ncomments = false\nposts = false"
    )
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 2)
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert gap["source_key"] == f"url:{server.url[7:]}:medium.com"


def test_tracker_poll_stores_the_expected_mentions_and_a_second_poll_adds_none(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeLemmy(server)
    path = tmp_path / "tracker.toml"
    path.write_text(
        f'[tracker]\ndata_dir = "data"\n[[domains]]\nname = "medium.com"\n[connectors.lemmy]\n'
        f'instances = ["{fake.url}"]\ninitial_lookback = "5000d"\n',
        encoding="utf-8",
    )
    first = CliRunner().invoke(cli, ["--config", str(path), "poll"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[1].split()[:4] == ["lemmy", "ok", "4", "4"]
    second = CliRunner().invoke(cli, ["--config", str(path), "poll"], catch_exceptions=False)
    assert second.stdout.splitlines()[1].split()[:4] == ["lemmy", "ok", "0", "0"]
    store = Store.open(load_config(path).database_url)
    try:
        assert {m.platform_id for m in store.iter_mentions()} == MEDIUM
    finally:
        store.close()
