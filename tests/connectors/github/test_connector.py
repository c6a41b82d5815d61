"""The GitHub connector against a local GitHub API serving recorded issue-search items."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, Sleeps, make_config
from tests.support.github_api import GITHUB3_SEARCH, SEARCH, TOKEN, FakeGitHub, comment, recorded_body
from tests.support.http_server import RecordingServer, Reply
from tracker.config import ConfigError
from tracker.poller import Poller, RunResult
from tracker.record import Mention
from tracker.schema import coverage_gaps
from tracker.store import Store

NOW = datetime(2017, 12, 21, tzinfo=UTC)
BOUNTY = {"sigmavirus24/github3.py#410", "sigmavirus24/github3.py#318", "sigmavirus24/github3.py#406"}


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


class Rig:
    def __init__(
        self, tmp_path: Path, fake: FakeGitHub, domain: str, extra: str = "", lookback: str = "4000d"
    ):
        self.clock = Clock(NOW)
        fake.now = self.clock
        self.fake = fake
        self.sleeps = Sleeps()
        self.config = make_config(
            tmp_path,
            f"""
            [[domains]]
            name = "{domain}"
            [connectors.github]
            token = "${{GITHUB_TOKEN}}"
            api_base_url = "{fake.base_url}"
            initial_lookback = "{lookback}"
            {extra}
            """,
            env={"GITHUB_TOKEN": TOKEN},
        )
        self.store = Store.open(self.config.database_url)

    def poll(self) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("github")
        finally:
            poller.close()

    def refresh(self, ids: list[str]) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.refresh("github", ids)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Mention]:
        return {m.platform_id: m for m in self.store.iter_mentions()}


def _item(fake: FakeGitHub, number: int) -> dict[str, Any]:
    return next(item for item in fake.items if item["html_url"].endswith(f"github3.py/issues/{number}"))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_issues_whose_body_links_to_the_domain_are_found(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeGitHub(server)
    rig = Rig(tmp_path, fake, "bountysource.com")
    result = rig.poll()
    assert (result.status, result.error, result.new) == ("ok", None, 3)
    found = rig.mentions()
    assert set(found) == BOUNTY
    issue = found["sigmavirus24/github3.py#410"]
    assert (issue.kind, issue.permalink, issue.community) == (
        "issue", "https://github.com/sigmavirus24/github3.py/issues/410", "sigmavirus24/github3.py",
    )  # fmt: skip
    assert (issue.author_handle, issue.author_id, issue.author_followers) == ("donjohnson", "669584", None)
    assert issue.title == "contents.update api response is not checked, causing TypeError"
    assert issue.created_at == datetime(2015, 7, 8, 17, 33, 23, tzinfo=UTC)
    assert (issue.metrics.replies, issue.metrics.likes) == (5, None)  # 2017 answers carry no reactions
    assert [(link.canonical_url, link.anchor_text, link.source) for link in issue.links] == [
        ("https://bountysource.com/issues/23952842-contents-update-api-response-is-not-checked-causing-typeerror",
         "Post a bounty on it!", "text"),
        ("https://bountysource.com/", "Bountysource", "text"),
    ]  # fmt: skip
    assert json.loads(issue.raw or "{}")["number"] == 410
    assert fake.problems == []


def test_each_search_and_comment_read_carries_the_documented_query(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    rig = Rig(tmp_path, fake, "bountysource.com", lookback="30d")
    rig.poll()
    lower = _stamp(NOW - timedelta(days=30))
    issues, pulls = fake.searches()
    assert issues.query == {
        "q": [f'"bountysource.com" is:issue created:2008-01-01T00:00:00Z..2017-12-21T00:00:00Z '
              f"updated:{lower}..2017-12-21T00:00:00Z"],
        "sort": ["created"], "order": ["asc"], "per_page": ["100"], "page": ["1"],
    }  # fmt: skip
    assert pulls.param("q") == (
        f'"bountysource.com" is:pull-request created:2008-01-01T00:00:00Z..2017-12-21T00:00:00Z '
        f"updated:{lower}..2017-12-21T00:00:00Z"
    )
    assert issues.headers["authorization"] == f"Bearer {TOKEN}"
    assert issues.headers["accept"] == "application/vnd.github+json"
    assert issues.headers["x-github-api-version"] == "2022-11-28"
    assert issues.headers["user-agent"].startswith("mention-tracker/")
    assert fake.comment_requests() == []  # nothing was updated in the last 30 days of the recording


def test_a_verbatim_recorded_answer_is_read(server: RecordingServer, tmp_path: Path) -> None:
    recorded = recorded_body(GITHUB3_SEARCH)
    empty = {"total_count": 0, "incomplete_results": False, "items": []}

    def search(request: Any) -> Reply:
        return Reply(200, recorded if "is:issue" in request.param("q") else empty)

    fake = FakeGitHub(server)
    server.route("GET", SEARCH, search)
    rig = Rig(tmp_path, fake, "bountysource.com", "comments = false")
    result = rig.poll()
    assert (result.status, result.fetched, result.new) == ("ok", 57, 3)
    assert set(rig.mentions()) == BOUNTY


def test_comments_that_link_to_the_domain_are_mentions_of_their_own(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    issue = _item(fake, 187)  # "Document two factor auth", updated 2014-12-14, no link to example.com
    fake.add_comments(
        issue,
        comment(issue, 9001, "Written up in [the guide](https://blog.example.com/2fa?utm_source=gh).",
                "2014-12-14T04:30:00Z", reactions=3),
        comment(issue, 9002, "Try:\n\n```\ncurl https://example.com/api\n```\n", "2014-12-14T04:31:00Z"),
        comment(issue, 9003, "example.com was down, and `https://example.com/x` too", "2014-12-14T04:31:30Z"),
        comment(issue, 9004, "Mirror: www.example.com/mirror and <a href=\"https://example.com/a\">here</a>",
                "2014-12-14T04:31:40Z"),
    )  # fmt: skip
    rig = Rig(tmp_path, fake, "example.com")
    assert rig.poll().status == "ok"
    found = rig.mentions()
    assert set(found) == {"sigmavirus24/github3.py#187/9001", "sigmavirus24/github3.py#187/9004"}
    first = found["sigmavirus24/github3.py#187/9001"]
    assert (first.kind, first.thread_id, first.parent_id, first.metrics.likes) == (
        "comment", "sigmavirus24/github3.py#187", "sigmavirus24/github3.py#187", 3,
    )  # fmt: skip
    assert first.permalink == "https://github.com/sigmavirus24/github3.py/issues/187#issuecomment-9001"
    assert (first.author_handle, first.community) == ("sigmavirus24", "sigmavirus24/github3.py")
    assert [(link.canonical_url, link.anchor_text) for link in first.links] == [
        ("https://blog.example.com/2fa", "the guide")
    ]
    assert [(link.canonical_url, link.anchor_text) for link in found["sigmavirus24/github3.py#187/9004"].links] == [
        ("https://example.com/a", "here"), ("https://example.com/mirror", None),
    ]  # fmt: skip
    (read,) = fake.comment_requests()
    assert read.path == "/repos/sigmavirus24/github3.py/issues/187/comments"
    assert read.query == {"since": ["2007-01-08T00:00:00Z"], "per_page": ["100"], "page": ["1"]}


def _volume(fake: FakeGitHub, count: int, start: datetime, step: float, domain: str = "example.com") -> None:
    template = _item(fake, 187)
    fake.items.clear()
    for index in range(count):
        item = copy.deepcopy(template)
        moment = _stamp(start + timedelta(seconds=index * step))
        item.update(number=100_000 + index, created_at=moment, updated_at=moment, comments=0,
                    html_url=f"https://github.com/acme/widgets/issues/{100_000 + index}",
                    body=f"See https://{domain}/p/{index}")  # fmt: skip
        item.pop("repository_url", None)
        fake.items.append(item)


def _windows(fake: FakeGitHub) -> list[tuple[str, str]]:
    found = []
    for request in fake.searches():
        match = re.search(r"created:(\S+)\.\.(\S+)", request.param("q") or "")
        assert match is not None
        if "is:issue" in (request.param("q") or "") and request.param("page") == "1":
            found.append((match.group(1), match.group(2)))
    return found


def test_a_query_over_1000_results_is_sliced_by_creation_date(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    start = NOW - timedelta(days=1)
    _volume(fake, 2500, start, 30)  # one every 30 s
    rig = Rig(tmp_path, fake, "example.com", lookback="2d")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 2500)
    assert len(rig.mentions()) == 2500
    # The first 1,000 (oldest) of 2,500, then from the creation second of the 1,000th (index 999), then
    # from that of the 1,999th (index 1998): 1,000 + 1,000 + 502 results, the two at the seams read twice.
    assert _windows(fake) == [
        ("2008-01-01T00:00:00Z", "2017-12-21T00:00:00Z"),
        (_stamp(start + timedelta(seconds=999 * 30)), "2017-12-21T00:00:00Z"),
        (_stamp(start + timedelta(seconds=1998 * 30)), "2017-12-21T00:00:00Z"),
    ]
    pages = [int(r.param("page") or 0) for r in fake.searches() if "is:issue" in (r.param("q") or "")]
    assert pages == [*range(1, 11), *range(1, 11), *range(1, 7)]
    assert server.unexpected == []
    state = rig.store.cursors("github")["issue:example.com"].state
    assert (state["until"], "pending" in state) == ("2017-12-21T00:00:00Z", False)


def test_more_than_1000_results_in_one_second_is_a_recorded_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    _volume(fake, 1003, NOW - timedelta(minutes=1), 0)
    rig = Rig(tmp_path, fake, "example.com", "pull_requests = false", lookback="1h")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1000)
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert gap["source_key"] == "issue:example.com"
    assert "more than 1000" in gap["reason"]


def test_the_next_pass_reads_what_changed_since_the_cursor_and_skips_unchanged_items(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    issue = _item(fake, 187)
    issue.update(updated_at=_stamp(NOW - timedelta(minutes=10)), comments=1)
    fake.add_comments(
        issue, comment(issue, 9001, "https://example.com/one", _stamp(NOW - timedelta(minutes=10)))
    )
    rig = Rig(tmp_path, fake, "example.com", "pull_requests = false", lookback="1d")
    assert rig.poll().new == 1
    assert len(fake.comment_requests()) == 1
    rig.clock.advance(minutes=5)
    second = rig.poll()
    assert (second.status, second.new, second.updated) == ("ok", 0, 0)
    assert fake.searches()[-1].param("q") == (
        '"example.com" is:issue created:2008-01-01T00:00:00Z..2017-12-21T00:05:00Z '
        "updated:2017-12-20T23:30:00Z..2017-12-21T00:05:00Z"
    )
    assert len(fake.comment_requests()) == 1  # seen last pass with the same updated_at: not read again
    rig.clock.advance(minutes=5)
    issue.update(updated_at=_stamp(rig.clock()), comments=2)
    fake.add_comments(issue, comment(issue, 9002, "https://example.com/two", _stamp(rig.clock())))
    third = rig.poll()
    assert (third.status, third.new) == ("ok", 1)
    assert fake.comment_requests()[-1].param("since") == "2017-12-20T23:35:00Z"
    assert set(rig.mentions()) == {"sigmavirus24/github3.py#187/9001", "sigmavirus24/github3.py#187/9002"}


def _limited(status: int, body: dict[str, Any], **headers: str) -> Reply:
    return Reply(status, body, headers)


EMPTY = {"total_count": 0, "incomplete_results": False, "items": []}


@pytest.mark.parametrize(
    ("reply", "waits"),
    [
        (
            _limited(
                200,
                EMPTY,
                **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW.timestamp()) + 42)},
            ),
            [43.0],
        ),
        (
            _limited(
                403,
                {"message": "API rate limit exceeded for user ID 1."},
                **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW.timestamp()) + 100)},
            ),
            [101.0],
        ),
        (
            _limited(
                403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
            ),
            [60.0],
        ),
        (_limited(429, {"message": "slow down"}, **{"retry-after": "7"}), [7.0]),
    ],
    ids=["spent-counter", "403-primary", "403-secondary", "429-retry-after"],
)
def test_rate_limits_are_waited_out_through_the_interruptible_sleep(
    server: RecordingServer, tmp_path: Path, reply: Reply, waits: list[float]
) -> None:
    fake = FakeGitHub(server)
    fake.script = [reply]
    rig = Rig(tmp_path, fake, "bountysource.com")
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    assert rig.sleeps == waits
    expected = BOUNTY if reply.status != 200 else set()  # a 200 answer was taken as the (empty) issue search
    assert set(rig.mentions()) == expected
    assert json.loads(rig.store.run(result.run_id)["counters"]) == {"waited_rate_limit": 1}  # type: ignore[arg-type]


def test_a_rate_limit_beyond_the_cap_fails_the_pass_and_the_next_goes_on_where_it_stopped(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    _volume(fake, 2500, NOW - timedelta(days=1), 30)
    rig = Rig(tmp_path, fake, "example.com", "pull_requests = false", lookback="2d")
    far = str(int(NOW.timestamp()) + 3600)
    answered = 0
    search = server.routes[("GET", SEARCH)]

    def limited_after_a_while(request: Any) -> Reply:
        nonlocal answered
        answered += 1
        if answered == 14:  # the fourth page of the second window
            return _limited(403, {"message": "API rate limit exceeded"},
                            **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": far})  # fmt: skip
        return search(request)

    server.route("GET", SEARCH, limited_after_a_while)
    first = rig.poll()
    assert first.status == "failed"
    assert "max_rate_limit_wait" in (first.error or "")
    stored = len(rig.mentions())
    assert 0 < stored < 2500
    state = rig.store.cursors("github")["issue:example.com"].state
    done_to = state["pending"]["done_to"]
    rig.clock.advance(hours=1)
    before = len(fake.searches())
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 2500 - stored)
    resumed = fake.searches()[before].param("q") or ""
    resumed_from = datetime.fromisoformat(done_to) + timedelta(seconds=1)
    assert f"created:{_stamp(resumed_from)}..2017-12-21T00:00:00Z" in resumed
    assert rig.store.cursors("github")["issue:example.com"].state["until"] == "2017-12-21T01:00:00Z"
    assert len(rig.mentions()) == 2500


@pytest.mark.parametrize(
    ("failure", "counted"),
    [
        (Reply(502, "<html>Unicorn!</html>", {"Content-Type": "text/html"}), {"retried_5xx": 1}),
        (Reply(200, b'{"total_count": 3, "items": [{'), {"retried_bad_json": 1}),
    ],
    ids=["5xx", "malformed-json"],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    server: RecordingServer, tmp_path: Path, failure: Reply, counted: dict[str, int]
) -> None:
    fake = FakeGitHub(server)
    fake.script = [failure]
    rig = Rig(tmp_path, fake, "bountysource.com")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 3)
    assert json.loads(rig.store.run(result.run_id)["counters"]) == counted  # type: ignore[arg-type]


def test_a_timeout_is_retried(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeGitHub(server)
    search = server.routes[("GET", SEARCH)]
    calls = 0

    def slow_once(request: Any) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 1:
            import time

            time.sleep(1.5)
        return search(request)

    server.route("GET", SEARCH, slow_once)
    rig = Rig(tmp_path, fake, "bountysource.com", 'timeout = "1s"')
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 3)
    assert json.loads(rig.store.run(result.run_id)["counters"]) == {"retried_timeout": 1}  # type: ignore[arg-type]


def test_a_malformed_item_is_skipped_and_counted(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeGitHub(server)
    broken = copy.deepcopy(_item(fake, 410))
    broken.update(
        number=411, created_at="yesterday", html_url="https://github.com/sigmavirus24/github3.py/issues/411"
    )
    fake.add(broken)
    rig = Rig(tmp_path, fake, "bountysource.com")
    fake.items.remove(broken)
    server.route("GET", SEARCH, lambda request: Reply(
        200, {"total_count": 4, "incomplete_results": False,
              "items": [broken, *[i for i in fake.items if "bountysource" in (i.get("body") or "")]]}
        if "is:issue" in (request.param("q") or "") else EMPTY))  # fmt: skip
    result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 3, 1)
    assert "github3.py/issues/411" in result.problems[0]


def test_refresh_reads_each_item_again_with_its_reactions_and_comment_count(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    issue = _item(fake, 187)
    fake.add_comments(
        issue, comment(issue, 9001, "https://example.com/x", "2014-12-14T04:30:00Z", reactions=1)
    )
    issue["body"] += "\n\nhttps://example.com/y"
    rig = Rig(tmp_path, fake, "example.com")
    rig.poll()
    issue.update(comments=4, reactions={"total_count": 6, "+1": 6})
    fake.comments[("sigmavirus24/github3.py", 187)][0]["reactions"]["total_count"] = 2
    result = rig.refresh(["sigmavirus24/github3.py#187", "sigmavirus24/github3.py#187/9001"])
    assert (result.status, result.deleted) == ("ok", 0)
    found = rig.mentions()
    assert (
        found["sigmavirus24/github3.py#187"].metrics.likes,
        found["sigmavirus24/github3.py#187"].metrics.replies,
    ) == (6, 4)
    assert found["sigmavirus24/github3.py#187/9001"].metrics.likes == 2
    reads = [r.path for r in server.requests if r.path.startswith("/repos/") and "comments?" not in r.path]
    assert "/repos/sigmavirus24/github3.py/issues/187" in reads
    assert "/repos/sigmavirus24/github3.py/issues/comments/9001" in reads


def test_a_refreshed_item_that_is_gone_is_marked_deleted(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeGitHub(server)
    rig = Rig(tmp_path, fake, "bountysource.com")
    rig.poll()
    fake.items.remove(_item(fake, 318))
    result = rig.refresh(sorted(BOUNTY))
    assert (result.status, result.deleted) == ("ok", 1)
    deleted = {
        m.platform_id for m in rig.store.iter_mentions(include_deleted=True) if m.deleted_at is not None
    }
    assert deleted == {"sigmavirus24/github3.py#318"}


def test_the_token_is_only_sent_to_the_api_host(server: RecordingServer, tmp_path: Path) -> None:
    with RecordingServer() as elsewhere:
        fake = FakeGitHub(server)
        issue = _item(fake, 410)
        for key in ("url", "comments_url", "events_url", "labels_url"):
            issue[key] = elsewhere.url + "/steal"
        rig = Rig(tmp_path, fake, "bountysource.com")
        assert rig.poll().new == 3
        assert elsewhere.requests == []


def test_a_missing_token_is_a_config_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, '[[domains]]\nname = "example.com"\n[connectors.github]\ntoken = ""\n')
    assert "connectors.github.token: GitHub's search API needs a token" in str(caught.value)
    with pytest.raises(ConfigError) as unset:
        make_config(
            tmp_path, '[[domains]]\nname = "example.com"\n[connectors.github]\ntoken = "${GITHUB_TOKEN}"\n'
        )
    assert "GITHUB_TOKEN" in str(unset.value)


def test_a_backfill_reads_everything_created_since_its_date_with_cursors_of_its_own(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    rig = Rig(tmp_path, fake, "bountysource.com", lookback="1d")
    poller = Poller(rig.config, rig.store, clock=rig.clock, sleeper=rig.sleeps)
    try:
        result = poller.poll("github", kind="backfill", since=datetime(2015, 1, 1, tzinfo=UTC))
    finally:
        poller.close()
    assert (result.status, result.new) == ("ok", 2)  # #410 and #406; #318 was opened in 2014
    assert set(rig.mentions()) == {"sigmavirus24/github3.py#410", "sigmavirus24/github3.py#406"}
    issues = fake.searches()[0]
    assert (
        issues.param("q") == '"bountysource.com" is:issue created:2015-01-01T00:00:00Z..2017-12-21T00:00:00Z'
    )
    assert set(rig.store.cursors("github")) == {
        "backfill:issue:bountysource.com",
        "backfill:pr:bountysource.com",
    }


def test_a_shutdown_during_a_rate_limit_wait_stops_the_pass_without_moving_the_cursor(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    fake.script = [_limited(429, {"message": "slow down"}, **{"retry-after": "30"})]
    rig = Rig(tmp_path, fake, "bountysource.com")
    poller = Poller(rig.config, rig.store, clock=rig.clock, sleeper=lambda seconds: poller.stop.set())
    try:
        result = poller.poll("github")
    finally:
        poller.close()
    assert result.status == "interrupted"
    assert rig.store.cursors("github") == {}


def test_a_search_that_timed_out_on_githubs_side_is_a_recorded_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeGitHub(server)
    search = server.routes[("GET", SEARCH)]

    def incomplete(request: Any) -> Reply:
        reply = search(request)
        reply.body = {**reply.body, "incomplete_results": True}
        return reply

    server.route("GET", SEARCH, incomplete)
    rig = Rig(tmp_path, fake, "bountysource.com", "pull_requests = false")
    assert rig.poll().new == 3
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert "incomplete_results" in gap["reason"]
