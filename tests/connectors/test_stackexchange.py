"""The Stack Exchange connector against a local API 2.3 stand-in built from the recorded questions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.stackexchange import site_host
from tests.conftest import Clock, Sleeps, make_config
from tests.support.http_server import RecordingServer, Reply
from tests.support.processes import TrackerProcess
from tests.support.stackexchange_api import FakeStackExchange
from tracker import status
from tracker.errors import ConfigError
from tracker.poller import Poller, RunResult
from tracker.store import Store

NOW = datetime(2020, 3, 4, tzinfo=UTC)
# By hand from the recording: the questions whose body links to i.stack.imgur.com and the stand-in accepted
# answers of two of them (see tests/support/stackexchange_api.py).
IMGUR = {
    "stackoverflow:q60412242", "stackoverflow:q60389654", "stackoverflow:q60410331",
    "stackoverflow:a60392965", "stackoverflow:a60441372",
}  # fmt: skip


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def api(server: RecordingServer) -> Iterator[FakeStackExchange]:
    fake = FakeStackExchange(server)
    yield fake
    assert fake.problems == []


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        fake: FakeStackExchange,
        domains: tuple[str, ...] = ("imgur.com",),
        extra: str = "",
    ) -> None:
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        tables = "".join(f'\n[[domains]]\nname = "{d}"\n' for d in domains)
        self.config = make_config(
            tmp_path,
            f"""{tables}
[connectors.stackexchange]
api_base_url = "{fake.url}"
initial_lookback = "30d"
{extra}
""",
            env={"SE_KEY": "k3y(("},
        )
        self.store = Store.open(self.config.database_url)

    def poll(self, **options: Any) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("stackexchange", **options)
        finally:
            poller.close()

    def refresh(self, ids: list[str]) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.refresh("stackexchange", ids)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions(include_deleted=True)}


def test_questions_and_answers_linking_to_the_domain_are_found(
    api: FakeStackExchange, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, api)
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    found = rig.mentions()
    assert set(found) == IMGUR
    question = found["stackoverflow:q60389654"]
    assert (question.kind, question.permalink, question.community) == (
        "question",
        "https://stackoverflow.com/q/60389654",
        "stackoverflow",
    )
    assert (question.author_id, question.author_handle) == ("12447196", "Muhammad Hamza")
    assert (question.metrics.score, question.metrics.replies, question.metrics.views) == (5, 2, 202)
    assert question.created_at == datetime.fromtimestamp(1582616497, UTC)
    assert [(link.url, link.anchor_text) for link in question.links] == [
        ("https://i.stack.imgur.com/RzBoM.png", "See Image Here")
    ]  # the link to stackoverflow.com in the same body is not to a monitored domain
    answer = found["stackoverflow:a60392965"]
    assert (answer.kind, answer.permalink, answer.thread_id, answer.parent_id) == (
        "answer",
        "https://stackoverflow.com/a/60392965",
        "stackoverflow:q60389654",
        "stackoverflow:q60389654",
    )
    assert answer.title == question.title
    assert answer.metrics.score == 5
    image = found["stackoverflow:q60412242"]
    assert [link.anchor_text for link in image.links] == [
        "https://i.stack.imgur.com/KCvHA.png",
        None,
        None,
    ]  # an image inside a link has no anchor text


def test_the_search_is_newest_first_from_the_cursor_to_the_start_of_the_pass(
    api: FakeStackExchange, server: RecordingServer, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, api)
    rig.poll()
    (search,) = api.searches()
    assert {name: values[0] for name, values in search.query.items()} == {
        "site": "stackoverflow", "url": "*imgur.com*", "sort": "creation", "order": "desc",
        "fromdate": str(int((NOW - timedelta(days=30)).timestamp())), "todate": str(int(NOW.timestamp())),
        "pagesize": "100", "page": "1", "filter": "withbody",
    }  # fmt: skip
    lookups = [r.path for r in server.requests if r.path != search.path]
    assert lookups == ["/2.3/questions/60412242;60410331;60389654", "/2.3/answers/60441372;60392965"]
    rig.clock.advance(hours=1)
    rig.poll()
    later = api.searches()[-1]
    assert later.param("fromdate") == str(int(NOW.timestamp()) - 3600)  # the cursor minus the overlap
    assert later.param("todate") == str(int(rig.clock.now.timestamp()))


def test_the_app_key_is_sent_when_configured(
    api: FakeStackExchange, server: RecordingServer, tmp_path: Path
) -> None:
    api.key = "k3y(("
    rig = Rig(tmp_path, api, extra='key = "${SE_KEY}"')
    assert rig.poll().status == "ok"
    assert {r.param("key") for r in server.requests} == {"k3y(("}


def test_a_window_is_read_page_by_page_and_a_cut_short_pass_resumes_at_the_next_page(
    api: FakeStackExchange, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, api, extra="page_size = 2\nmax_pages = 2")
    first = rig.poll()
    assert first.status == "ok"
    assert [r.param("page") for r in api.searches()] == ["1", "2"]
    cursor = rig.store.cursors("stackexchange")["stackoverflow:imgur.com"].state
    window = [int((NOW - timedelta(days=30)).timestamp()), int(NOW.timestamp())]
    assert cursor == {
        "window": window,
        "page": 3,
        "quota": [294, 300, NOW.isoformat()],
    }  # 2 pages x 3 requests
    rig.clock.advance(hours=1)
    second = rig.poll()
    third = api.searches()[-1]
    assert (third.param("page"), third.param("fromdate"), third.param("todate")) == (
        "3",
        str(window[0]),
        str(window[1]),
    )
    assert set(rig.mentions()) == IMGUR
    assert second.status == "ok"
    assert rig.store.cursors("stackexchange")["stackoverflow:imgur.com"].state["until"] == window[1]


def test_the_quota_is_shown_in_status_and_a_pass_stops_before_it_runs_out(
    api: FakeStackExchange, server: RecordingServer, tmp_path: Path
) -> None:
    api.quota_remaining = 13  # the three requests of a pass leave 10, the reserve
    rig = Rig(tmp_path, api)
    assert rig.poll().status == "ok"
    (line,) = status.collect(rig.config, rig.store, rig.clock.now)
    assert (line.counters_this_month["quota_remaining"], line.counters_this_month["quota_max"]) == (10, 300)
    sent = len(server.requests)
    rig.clock.advance(hours=1)
    stopped = rig.poll()
    assert stopped.status == "failed"
    assert stopped.error == (
        "Stack Exchange's daily quota is almost used: 10 of 300 requests left, 10 kept in reserve "
        "(quota_reserve); the next pass after 00:00 UTC continues from the cursor; set `key` for 10,000 a day"
    )
    assert len(server.requests) == sent  # nothing spent: a new process knows the quota from the cursor
    api.quota_remaining = 300  # a new day
    rig.clock.advance(days=1)
    assert rig.poll().status == "ok"
    (line,) = status.collect(rig.config, rig.store, rig.clock.now)
    assert line.counters_this_month["quota_remaining"] == 299  # one search, nothing new to read


def test_the_quota_an_answer_told_a_failed_pass_is_shown_in_status(
    api: FakeStackExchange, tmp_path: Path
) -> None:
    api.quota_remaining = 51  # the search leaves 50
    api.backoff["search"] = 3600  # and asks for a wait longer than max_backoff: the pass fails right there
    rig = Rig(tmp_path, api)
    assert rig.poll().status == "failed"
    (line,) = status.collect(rig.config, rig.store, rig.clock.now)
    assert (line.counters_this_month["quota_remaining"], line.counters_this_month["quota_max"]) == (50, 300)


def test_a_backoff_is_obeyed_before_the_same_method_is_called_again(
    api: FakeStackExchange, tmp_path: Path
) -> None:
    api.backoff["search"] = 7
    rig = Rig(tmp_path, api, domains=("imgur.com", "stackoverflow.com"))
    assert rig.poll().status == "ok"
    assert len(rig.sleeps) == 1
    assert 5 < rig.sleeps[0] <= 7


def test_a_backoff_longer_than_the_cap_fails_the_pass(api: FakeStackExchange, tmp_path: Path) -> None:
    api.backoff["search"] = 3600
    rig = Rig(tmp_path, api, domains=("imgur.com", "stackoverflow.com"))
    result = rig.poll()
    assert result.status == "failed"
    assert "asked to wait 3600s before calling /search/excerpts again" in (result.error or "")


def test_a_throttle_violation_fails_the_pass_with_the_reason(api: FakeStackExchange, tmp_path: Path) -> None:
    api.script = [
        Reply(
            400,
            {
                "error_id": 502,
                "error_message": "too many requests from this IP, more requests available in 3600 seconds",
                "error_name": "throttle_violation",
            },
        )
    ]
    rig = Rig(tmp_path, api)
    result = rig.poll()
    assert result.error == (
        "Stack Exchange throttled the requests (too many requests from this IP, more requests available in "
        "3600 seconds); the next pass will try again"
    )


@pytest.mark.parametrize(
    ("script", "counted"),
    [
        ([Reply(503, "<html>down</html>")], {"retried_5xx": 1}),
        ([Reply(200, b'{"items": [')], {"retried_bad_json": 1}),
        ([1.5], {"retried_timeout": 1}),
    ],
    ids=["5xx", "malformed", "timeout"],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    api: FakeStackExchange, tmp_path: Path, script: list[Reply | float], counted: dict[str, int]
) -> None:
    api.script = list(script)
    rig = Rig(tmp_path, api, extra='timeout = "1s"')
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", IMGUR)
    counters = json.loads(rig.store.run(result.run_id)["counters"])  # type: ignore[arg-type]
    assert {k: v for k, v in counters.items() if k.startswith("retried")} == counted


def test_refresh_updates_metrics_keeps_titles_and_marks_deleted_posts(
    api: FakeStackExchange, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, api)
    rig.poll()
    api.questions[60389654]["score"] = 9
    api.answers[60441372]["score"] = 11
    del api.questions[60412242]
    result = rig.refresh(["stackoverflow:q60389654", "stackoverflow:q60412242", "stackoverflow:a60441372"])
    assert (result.status, result.deleted) == ("ok", 1)
    found = rig.mentions()
    assert found["stackoverflow:q60389654"].metrics.score == 9
    assert found["stackoverflow:a60441372"].metrics.score == 11
    assert found["stackoverflow:a60441372"].title == found["stackoverflow:q60410331"].title
    assert found["stackoverflow:q60412242"].deleted_at is not None


def test_a_backfill_searches_from_its_date(api: FakeStackExchange, tmp_path: Path) -> None:
    rig = Rig(tmp_path, api)
    since = datetime(2020, 2, 26, tzinfo=UTC)
    result = rig.poll(kind="backfill", since=since)
    assert result.status == "ok"
    assert api.searches()[0].param("fromdate") == str(int(since.timestamp()))
    # Since 2020-02-26 00:00 UTC: questions 60412242 (02-26 10:50) and 60410331 (02-26 09:12), and the
    # stand-in answer 60441372, dated by its question's last activity (02-29); not question 60389654 (02-25)
    # nor its answer 60392965 (02-25 12:27).
    assert set(rig.mentions()) == {
        "stackoverflow:q60412242",
        "stackoverflow:q60410331",
        "stackoverflow:a60441372",
    }
    assert set(rig.store.cursors("stackexchange")) == {"backfill:stackoverflow:imgur.com"}


def test_site_names_give_their_hosts() -> None:
    assert site_host("stackoverflow") == "stackoverflow.com"
    assert site_host("unix") == "unix.stackexchange.com"
    assert site_host("meta.unix") == "unix.meta.stackexchange.com"
    assert site_host("meta.stackoverflow") == "meta.stackoverflow.com"
    assert site_host("ru.stackoverflow") == "ru.stackoverflow.com"
    assert site_host("mathoverflow.net") == "mathoverflow.net"
    assert site_host("meta") == "meta.stackexchange.com"


def test_a_bad_site_name_is_a_config_error(api: FakeStackExchange, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        Rig(tmp_path, api, extra='sites = ["Stack Overflow"]')
    assert "connectors.stackexchange.sites" in str(raised.value)
    assert "is not a Stack Exchange site name" in str(raised.value)


def test_tracker_poll_stores_exactly_the_expected_mentions_and_a_second_poll_adds_none(
    api: FakeStackExchange, tmp_path: Path
) -> None:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f'[[domains]]\nname = "imgur.com"\n[connectors.stackexchange]\napi_base_url = "{api.url}"\n'
        'initial_lookback = "4000d"\n',
        encoding="utf-8",
    )
    for _ in range(2):
        with TrackerProcess(path, "poll") as process:
            assert process.wait(timeout=120) == 0, process.output()
        store = Store.open(f"sqlite:///{tmp_path / 'data' / 'tracker.db'}")
        try:
            assert {m.platform_id for m in store.iter_mentions(include_deleted=True)} == IMGUR
            assert store.count_mentions() == len(IMGUR)
        finally:
            store.close()
