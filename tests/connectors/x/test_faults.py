"""The X connector under rate limits, server faults, timeouts, rejected credentials and bad configuration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.x_api import SEARCH, XRig, recorded_page, synthetic_posts
from tracker.config import parse_config
from tracker.connector import Cursor
from tracker.errors import ConfigError
from tracker.status import collect

ITALY = datetime(2022, 9, 26, 0, 5, tzinfo=UTC)
TELODOGRATIS = {"1574185191349829632", "1574184942736646150", "1574184714101039104"}


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def italy(server: RecordingServer, tmp_path: Path, **options: str) -> XRig:
    return XRig(
        server, tmp_path, pages=[recorded_page("twarc-csv__entities_test.jsonl")], now=ITALY, **options
    )


def with_volume(rig: XRig, count: int = 250) -> None:
    rig.api.add(
        synthetic_posts(rig.api.tweets["1574184167478378496"], count, start=ITALY - timedelta(hours=5))
    )


def test_a_rate_limit_with_a_reset_time_is_waited_out_then_the_pass_goes_on(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path)
    rig.api.script.append(rig.api.rate_limited(reset_in=60))
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", TELODOGRATIS)
    assert rig.sleeps == [61.0]  # until the reset, plus a second; through the interruptible sleep


def test_a_rate_limit_without_a_reset_header_backs_off_instead_of_retrying_at_once(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path)
    rig.api.script.extend([rig.api.rate_limited(reset_in=None), rig.api.rate_limited(reset_in=None)])
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", TELODOGRATIS)
    assert len(rig.sleeps) == 2
    assert 15 <= rig.sleeps[0] <= 18.75 and 30 <= rig.sleeps[1] <= 37.5


def test_a_rate_limit_resetting_later_than_the_cap_fails_fast_and_the_next_pass_resumes(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, domains=("example.com",))
    with_volume(rig)

    def limit_after_first_page(result: object) -> None:
        rig.api.script.append(rig.api.rate_limited(reset_in=3600))

    poller = rig.poller(on_page=limit_after_first_page)
    first = poller.poll("x")
    poller.close()
    assert (first.status, first.new) == ("failed", 100)
    assert first.error is not None and "rate limit used up until 01:05:00Z" in first.error
    assert rig.sleeps == []
    rig.clock.advance(minutes=5)
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 150)
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250


def test_a_used_up_rate_limit_is_waited_for_before_the_next_page(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, domains=("example.com",))
    with_volume(rig)
    rig.api.rate_limit_remaining = 0  # every answer says the window is used up, resetting in 15 minutes
    result = rig.poll()
    assert (result.status, result.pages, result.new) == ("ok", 3, 250)
    assert rig.sleeps == [901.0, 901.0]  # before page 2 and page 3, never a 429
    assert all(r.param("query") for r in rig.api.searches())


def test_server_errors_are_retried_with_backoff_and_nothing_is_lost(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path)
    rig.api.script.extend([Reply(503, "<html>Service Unavailable</html>"), Reply(502, "")])
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", TELODOGRATIS)
    assert len(rig.sleeps) == 2 and 1 <= rig.sleeps[0] <= 1.25 and 2 <= rig.sleeps[1] <= 2.5
    assert rig.store.run(result.run_id)["requests"] == 3  # type: ignore[arg-type]


def test_a_persistent_server_error_fails_the_run_after_bounded_retries(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path)
    rig.api.fault = "server_error"
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == "X recent search: HTTP 503 from X; gave up after 5 attempts"
    assert len(rig.sleeps) == 4
    assert rig.store.run(result.run_id)["requests"] == 5  # type: ignore[arg-type]
    assert rig.cursors() == {}
    rig.api.fault = None
    rig.clock.advance(minutes=15)
    assert rig.poll().new == 3


def test_a_pass_that_fails_mid_paging_resumes_from_its_stored_page_token(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, domains=("example.com",))
    with_volume(rig)

    def break_after_first_page(result: object) -> None:
        rig.api.fault = "server_error"

    poller = rig.poller(on_page=break_after_first_page)
    failed = poller.poll("x")
    poller.close()
    assert (failed.status, failed.new) == ("failed", 100)
    rig.api.fault = None
    rig.clock.advance(minutes=5)
    resumed = rig.poll()
    assert (resumed.status, resumed.new) == ("ok", 150)
    tokens = [r.param("next_token") for r in rig.api.searches() if r.param("next_token")]
    assert tokens[0] == tokens[-2]  # the failed request's token was sent again after the restart
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b'{"data": [{"id": "1", "text": "cut sh'),
        Reply(200, b"[1, 2, 3]"),
        Reply(200, {"data": {"id": "1"}, "meta": {"result_count": 1}}),
    ],
    ids=["truncated-json", "not-an-object", "data-not-a-list"],
)
def test_a_malformed_response_is_retried(server: RecordingServer, tmp_path: Path, reply: Reply) -> None:
    rig = italy(server, tmp_path)
    rig.api.script.append(reply)
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", TELODOGRATIS)
    assert len(rig.sleeps) == 1


def test_a_slow_answer_times_out_and_is_retried(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path, extra='timeout = "1s"\n')
    answer = server.routes[("GET", SEARCH)]
    calls: list[int] = []

    def slow_once(request: Request) -> Reply:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)
        return answer(request)

    server.route("GET", SEARCH, slow_once)
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", TELODOGRATIS)
    assert len(rig.sleeps) == 1 and len(calls) == 2


def test_rejected_credentials_fail_the_run_and_show_in_status(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, token="revoked-token")
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "credentials rejected: X answered HTTP 401 to the recent search: Unauthorized; check bearer_token "
        "(the Bearer Token of an X app in a project with API access)"
    )
    assert (len(rig.api.searches()), rig.sleeps) == (1, [])  # not retried
    (status,) = collect(rig.config, rig.store, rig.clock.now)
    assert (status.health, status.last_error) == ("degraded", result.error)
    assert "revoked-token" not in (result.error or "")


def test_an_app_without_access_is_a_configuration_error(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path)
    rig.api.script.append(
        Reply(
            403,
            {
                "client_id": "123",
                "detail": "When authenticating requests to the Twitter API v2 endpoints, you "
                "must use keys and tokens from a Twitter developer App that is attached to a Project.",
                "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
                "title": "Client Forbidden",
                "required_enrollment": "Appropriate Level of API Access",
                "reason": "client-not-enrolled",
                "type": "https://api.twitter.com/2/problems/client-forbidden",
            },
        )
    )
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("credentials rejected: X answered HTTP 403")
    assert "attached to a Project" in result.error


def test_an_invalid_query_fails_with_x_s_own_message(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path)
    rig.api.script.append(
        Reply(
            400,
            {
                "errors": [
                    {"parameters": {"query": ["x"]}, "message": "There were errors processing your request"}
                ],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
        )
    )
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == "X rejected the recent search: There were errors processing your request"
    assert rig.sleeps == []


def test_a_usage_cap_fails_without_retrying(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path)
    capped = {
        "title": "UsageCapExceeded", "detail": "Usage cap exceeded: Monthly product cap", "period": "Monthly",
        "scope": "Product", "type": "https://api.twitter.com/2/problems/usage-capped",
    }  # fmt: skip
    rig.api.script.append(Reply(429, capped, {"x-rate-limit-remaining": "0"}))
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "X refused the recent search: Usage cap exceeded: Monthly product cap; the app's usage cap is reached"
    )
    assert rig.sleeps == []


def test_a_malformed_post_is_skipped_and_counted(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path)
    rig.api.tweets["1574184942736646150"]["created_at"] = "yesterday"
    result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 2, 1)
    assert result.problems == [
        "X post '1574184942736646150': RecordError: not an ISO 8601 timestamp: 'yesterday'"
    ]


@pytest.mark.parametrize(
    "state",
    [
        {"domains": ["telodogratis.it"], "pass": {"next_token": 7}, "since_id": "x1"},
        {
            "domains": ["telodogratis.it"],
            "query": 'url:"telodogratis.it" -is:retweet',
            "pass": {
                "query": 'url:"telodogratis.it" -is:retweet', "next_token": "t", "upper_id": "9",
                "newest_id": None, "oldest_id": None, "bounds": {"start_time": "soon", "end_time": "later"},
            },
        },
        {"domains": "telodogratis.it", "since_id": 12},
    ],
    ids=["wrong-types", "unreadable-bounds", "domains-not-a-list"],
)  # fmt: skip
def test_an_unreadable_cursor_is_ignored_not_fatal(
    server: RecordingServer, tmp_path: Path, state: dict[str, object]
) -> None:
    from tracker.connector import Page

    rig = italy(server, tmp_path)
    rig.store.write_page(
        connector="x",
        platform="x",
        run_id=None,
        page=Page("search:telodogratis.it", cursor=Cursor(1, state)),
        mentions_to_store=[],
        now=ITALY,
    )
    result = rig.poll()
    assert (result.status, set(rig.mentions())) == ("ok", TELODOGRATIS)


def test_the_api_base_url_may_carry_a_path(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path, prefix="/x-proxy")
    assert rig.poll().new == 3
    assert rig.api.searches()[0].path == "/x-proxy/2/tweets/search/recent"
    assert server.unexpected == []


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            'bearer_token = ""',
            "connectors.x.bearer_token: is empty; set it to your X app's Bearer Token, e.g. "
            'bearer_token = "${X_BEARER_TOKEN}"',
        ),
        (
            'bearer_token = "t"\ninitial_lookback = "30d"',
            "connectors.x.initial_lookback: X's recent search reaches back 7 days; use at most \"7d\", got '30d'",
        ),
        (
            'bearer_token = "t"\nsettle_time = "5s"',
            'connectors.x.settle_time: X only searches up to 10 seconds ago; use between "10s" and "1h", got \'5s\'',
        ),
        (
            'bearer_token = "t"\nmonthly_budget_usd = -5',
            "connectors.x.monthly_budget_usd: input should be greater than or equal to 0, got -5",
        ),
        (
            'bearer_token = "t"\nmonthly_budget = 5',
            "connectors.x.monthly_budget: unknown key 'monthly_budget'; did you mean 'monthly_budget_usd'?",
        ),
        (
            'bearer_token = "${X_BEARER_TOKEN}"',
            "connectors.x.bearer_token: environment variable X_BEARER_TOKEN is not set; export "
            "X_BEARER_TOKEN=... or write the value in the config",
        ),
        ("", "connectors.x.bearer_token: required setting is missing; add bearer_token = ... to this table"),
    ],
    ids=["empty-token", "lookback", "settle", "budget", "typo", "unset-variable", "missing-token"],
)
def test_bad_settings_are_one_line_errors_naming_the_key(tmp_path: Path, setting: str, problem: str) -> None:
    import tomllib

    data = tomllib.loads(f'[[domains]]\nname = "example.com"\n[connectors.x]\n{setting}\n')
    with pytest.raises(ConfigError) as caught:
        parse_config(data, tmp_path / "tracker.toml", {})
    assert caught.value.problems == [problem]


def test_a_disabled_connector_may_name_an_unset_token_variable(tmp_path: Path) -> None:
    data = {
        "domains": [{"name": "example.com"}],
        "connectors": {"x": {"enabled": False, "bearer_token": "${X_BEARER_TOKEN}"}},
    }
    config = parse_config(data, tmp_path / "tracker.toml", {})
    assert config.enabled_connectors == {}


def test_a_since_id_x_finds_too_old_moves_to_the_window_edge_with_a_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from tests.support.x_api import time_of
    from tracker.schema import coverage_gaps

    rig = italy(server, tmp_path)
    rig.poll()
    since_id = rig.cursors()["search:telodogratis.it"]["since_id"]
    rig.clock.now = time_of(since_id) + timedelta(days=7) - timedelta(minutes=3)  # just inside our window...
    rig.api.clock = lambda: rig.clock.now + timedelta(minutes=5)  # ...but X's clock runs ahead
    result = rig.poll()
    assert result.status == "ok"
    rejected, retried = rig.api.searches()[1:]
    assert rejected.param("since_id") == since_id
    assert int(retried.param("since_id") or 0) > int(since_id)
    with rig.store.read() as conn:
        (gap,) = conn.execute(select(coverage_gaps)).mappings().all()
    assert abs(gap["gap_start"].replace(tzinfo=UTC) - time_of(since_id)) < timedelta(seconds=1)


def test_a_shutdown_during_a_rate_limit_wait_stops_the_pass_cleanly(
    server: RecordingServer, tmp_path: Path
) -> None:
    from tracker.poller import Poller

    rig = italy(server, tmp_path)
    rig.api.script.append(rig.api.rate_limited(reset_in=600))
    waits: list[float] = []

    def shutdown_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        poller.stop.set()

    poller = Poller(rig.config, rig.store, clock=rig.clock, sleeper=shutdown_while_waiting)
    result = poller.poll("x")
    poller.close()
    assert (result.status, result.error, waits) == ("interrupted", None, [601.0])
    assert len(rig.api.searches()) == 1 and rig.cursors() == {}
    assert rig.poll().new == 3  # the next start reads it all
