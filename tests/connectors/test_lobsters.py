"""The Lobsters connector against a local lobste.rs stand-in serving the recorded stories and comments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, Sleeps, make_config
from tests.support.http_server import RecordingServer, Reply
from tests.support.lobsters_api import FakeLobsters, later
from tests.support.processes import TrackerProcess
from tracker.poller import Poller, RunResult
from tracker.schema import coverage_gaps
from tracker.store import Store

NOW = datetime(2024, 9, 5, 12, 0, tzinfo=UTC)
# By hand from the recordings: stories whose URL is on github.com (not *.github.io) and the one comment
# (qy0l9k on story tdfoqh, tagged meta) whose text links there.
GITHUB = {
    "czkgxc", "w4yr9y", "10z34j", "tnvk82", "70sorb", "aqnjd5", "jexsmk", "bdl64p", "qd7sq1", "fmilri",
    "fkhdwk", "c_qy0l9k",
}  # fmt: skip


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def lobsters(server: RecordingServer) -> Iterator[FakeLobsters]:
    fake = FakeLobsters(server)
    yield fake
    assert fake.problems == []


class Rig:
    def __init__(
        self, tmp_path: Path, fake: FakeLobsters, domain: str = "github.com", extra: str = ""
    ) -> None:
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        self.config = make_config(
            tmp_path,
            f"""
            [[domains]]
            name = "{domain}"
            [connectors.lobsters]
            api_base_url = "{fake.url}"
            initial_lookback = "2000d"
            {extra}
            """,
        )
        self.store = Store.open(self.config.database_url)

    def poll(self, **options: Any) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("lobsters", **options)
        finally:
            poller.close()

    def refresh(self, ids: list[str]) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.refresh("lobsters", ids)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions(include_deleted=True)}


def test_stories_and_the_comment_linking_to_the_domain_are_found(
    lobsters: FakeLobsters, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, lobsters)
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    found = rig.mentions()
    assert set(found) == GITHUB
    story = found["10z34j"]  # lobste.rs-graph newest.json: submitter_user is a string
    assert (story.kind, story.title, story.author_handle, story.community) == (
        "post",
        "TUI for lobste.rs website",
        "pythops",
        "rust",
    )
    assert (story.metrics.score, story.metrics.replies, story.engagement) == (30, 2, 32)
    assert story.permalink == "https://lobste.rs/s/10z34j"
    assert story.created_at == datetime(2024, 9, 4, 17, 11, 43, tzinfo=UTC)
    assert [(link.url, link.source, link.anchor_text) for link in story.links] == [
        ("https://github.com/pythops/lobtui", "url_field", story.title)
    ]
    older = found["bdl64p"]  # lobste.rs-graph hottest.json: submitter_user is an object
    assert (older.author_handle, older.community) == ("thev", "programming,vcs")
    comment = found["c_qy0l9k"]
    assert (comment.kind, comment.thread_id, comment.parent_id, comment.community) == (
        "comment",
        "tdfoqh",
        "c_4l8mzk",
        "meta",
    )
    assert comment.permalink == "https://lobste.rs/s/tdfoqh/ranking_comments_by_sum_replies_scores#c_qy0l9k"
    assert comment.metrics.score == 5
    assert [link.canonical_url for link in comment.links] == [
        "https://github.com/lobsters/lobsters/blob/cf52ab9f3f0b3ac805effc2e718f15922cb67332/app/models/comment.rb",
    ]  # the two links differ only in their fragment: one canonical page


def test_each_listing_is_read_by_path_and_only_matching_comments_are_looked_up(
    lobsters: FakeLobsters, server: RecordingServer, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, lobsters)
    rig.poll()
    paths = [r.path for r in server.requests]
    assert paths[:1] == ["/domains/github.com.json"]
    assert [p for p in paths if p.startswith("/newest")] == [
        "/newest.json", "/newest/page/2.json", "/newest/page/3.json", "/newest/page/4.json", "/newest/page/5.json",
    ]  # fmt: skip  # 101 recorded stories, 25 a page, all within the lookback
    assert [p for p in paths if p.startswith("/comments")] == ["/comments.rss"]  # 17 comments: one page
    assert [p for p in paths if p.startswith(("/c/", "/s/"))] == ["/c/qy0l9k.json", "/s/tdfoqh.json"]
    assert all(r.headers["user-agent"].startswith("mention-tracker") for r in server.requests)


def test_a_later_pass_reads_back_only_to_the_cursor(
    lobsters: FakeLobsters, server: RecordingServer, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, lobsters)
    rig.poll()
    rig.clock.advance(hours=2)
    lobsters.add_story(
        later(NOW + timedelta(hours=1), lobsters.stories["czkgxc"], "zz1new", url="https://github.com/a/b")
    )
    server.requests.clear()
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert [r.path for r in server.requests] == ["/domains/github.com.json", "/newest.json", "/comments.rss"]
    cursor = rig.store.cursors("lobsters")["newest"]
    assert cursor.state == {"until": rig.clock.now.isoformat()}


def test_refresh_updates_scores_and_marks_gone_items_deleted(lobsters: FakeLobsters, tmp_path: Path) -> None:
    rig = Rig(tmp_path, lobsters)
    rig.poll()
    lobsters.stories["10z34j"]["score"] = 41
    lobsters.gone |= {"czkgxc", "qy0l9k"}
    result = rig.refresh(["10z34j", "czkgxc", "c_qy0l9k"])
    assert (result.status, result.deleted) == ("ok", 2)
    found = rig.mentions()
    assert found["10z34j"].metrics.score == 41
    assert found["czkgxc"].deleted_at is not None
    assert found["c_qy0l9k"].deleted_at is not None
    assert found["c_qy0l9k"].text is None  # erased with the deletion


def test_a_deleted_comment_in_refresh_is_marked_deleted(lobsters: FakeLobsters, tmp_path: Path) -> None:
    rig = Rig(tmp_path, lobsters)
    rig.poll()
    lobsters.comments["qy0l9k"]["is_deleted"] = True
    result = rig.refresh(["c_qy0l9k"])
    assert result.deleted == 1


@pytest.mark.parametrize(
    ("script", "counted"),
    [
        ([Reply(429, "slow down", {"Retry-After": "3"})], {"retried_429": 1}),
        ([Reply(502, "bad gateway"), Reply(503, "unavailable")], {"retried_5xx": 2}),
        ([Reply(200, b"<rss><channel><item>")], {"retried_bad_json": 1}),
        ([1.5], {"retried_timeout": 1}),
    ],
    ids=["429", "5xx", "malformed", "timeout"],
)
def test_transient_faults_are_retried_and_counted_and_nothing_is_lost(
    lobsters: FakeLobsters, tmp_path: Path, script: list[Any], counted: dict[str, int]
) -> None:
    rig = Rig(tmp_path, lobsters, extra='comments = true\ntimeout = "1s"')
    lobsters.script = list(script)
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", GITHUB)
    assert json.loads(rig.store.run(result.run_id)["counters"]) == counted  # type: ignore[arg-type]
    if script[0] == Reply(429, "slow down", {"Retry-After": "3"}):
        assert rig.sleeps == [3.0]


def test_answers_that_stay_malformed_fail_the_run_and_the_next_pass_recovers(
    lobsters: FakeLobsters, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, lobsters)
    lobsters.fault = "malformed"
    failed = rig.poll()
    assert failed.status == "failed"
    assert "malformed; gave up after 5 attempts" in (failed.error or "")
    lobsters.fault = None
    rig.clock.advance(minutes=30)
    assert rig.poll().status == "ok"
    assert set(rig.mentions()) == GITHUB


def test_a_broken_story_is_skipped_and_counted(lobsters: FakeLobsters, tmp_path: Path) -> None:
    broken = later(NOW - timedelta(hours=1), lobsters.stories["czkgxc"], "brk001", url="https://github.com/x")
    broken["created_at"] = "yesterday"
    lobsters.add_story(broken)
    rig = Rig(tmp_path, lobsters)
    result = rig.poll()
    assert result.status == "ok"
    assert result.skipped == 2  # listed by /domains and by /newest
    assert "Lobsters story 'brk001'" in result.problems[0]


def test_more_pages_than_the_cap_is_a_recorded_gap(lobsters: FakeLobsters, tmp_path: Path) -> None:
    rig = Rig(tmp_path, lobsters, extra="max_pages = 2\ncomments = false")
    result = rig.poll()
    assert result.status == "ok"
    with rig.store.read() as conn:
        gaps = conn.execute(coverage_gaps.select()).mappings().all()
    assert [(g["source_key"], g["reason"]) for g in gaps] == [
        ("newest", "more than 2 pages of Lobsters stories")
    ]


def test_a_backfill_reads_back_to_its_date_with_cursors_of_its_own(
    lobsters: FakeLobsters, server: RecordingServer, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, lobsters)
    result = rig.poll(kind="backfill", since=datetime(2024, 3, 1, tzinfo=UTC))
    assert result.status == "ok"
    # Since 2024-03-01: the github.com stories of 2024 only (not those of 2023, nor the 2022 comment).
    assert set(rig.mentions()) == {"czkgxc", "w4yr9y", "10z34j", "bdl64p", "qd7sq1", "fmilri", "fkhdwk"}
    assert set(rig.store.cursors("lobsters")) == {
        "backfill:domain:github.com",
        "backfill:newest",
        "backfill:comments",
    }


def test_tracker_poll_stores_exactly_the_expected_mentions_and_a_second_poll_adds_none(
    lobsters: FakeLobsters, tmp_path: Path
) -> None:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f'[[domains]]\nname = "github.com"\n[connectors.lobsters]\napi_base_url = "{lobsters.url}"\n'
        'initial_lookback = "4000d"\n',
        encoding="utf-8",
    )
    for _ in range(2):
        with TrackerProcess(path, "poll") as process:
            assert process.wait(timeout=120) == 0, process.output()
        store = Store.open(f"sqlite:///{tmp_path / 'data' / 'tracker.db'}")
        try:
            assert {m.platform_id for m in store.iter_mentions(include_deleted=True)} == GITHUB
            assert store.count_mentions() == len(GITHUB)
        finally:
            store.close()
    assert "lobsters" in process.output()
