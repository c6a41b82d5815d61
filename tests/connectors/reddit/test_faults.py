"""The Reddit connector under faults: rate limits, server errors, malformed answers, refused credentials and
sources, Reddit's anti-bot wall, shutdowns during a wait. Every wait goes through the context's sleep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.http_server import RecordingServer, Reply
from tests.support.reddit_api import ALL_COMMENTS, DOMAIN_NEW, RedditRig, recorded

NOW = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)
HTML_503 = Reply(503, "<html><body>upstream down</body></html>", {"Content-Type": "text/html"})


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def rig(server: RecordingServer, tmp_path: Path) -> Iterator[RedditRig]:
    made = RedditRig(server, tmp_path, recorded(DOMAIN_NEW), now=NOW, extra="search = false\n")
    yield made
    made.close()
    assert made.fake.problems == []


def test_a_429_is_waited_out_as_retry_after_asks_then_the_pass_completes(rig: RedditRig) -> None:
    rig.fake.script = [Reply(429, {"message": "Too Many Requests", "error": 429}, {"Retry-After": "7"})]
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 100)
    assert rig.sleeps == [7.0]


def test_server_errors_are_retried_a_bounded_number_of_times_then_fail_the_pass(rig: RedditRig) -> None:
    rig.fake.fault = "server_error"
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == "Reddit access token request: HTTP 503 from Reddit; gave up after 5 attempts"
    assert len(rig.fake.token_requests()) == 5
    assert rig.store.run(result.run_id)["requests"] == 5  # a failed pass's requests are counted too
    assert len(rig.sleeps) == 4 and all(1 <= wait <= 10 for wait in rig.sleeps)  # growing backoff
    rig.fake.fault = None
    rig.clock.advance(minutes=10)
    assert (rig.poll().status, len(rig.mentions())) == ("ok", 100)


def test_a_malformed_answer_is_retried(rig: RedditRig) -> None:
    rig.fake.fail_when = lambda request: (
        Reply(200, b'{"kind": "Listing", "data": {"children": [{"kind"', {})
        if request.path.endswith("/new") and len(rig.fake.api_requests()) == 1
        else None
    )
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 100)
    assert len(rig.sleeps) == 1


def test_an_answer_that_is_not_a_listing_is_retried_then_fails_the_pass(rig: RedditRig) -> None:
    rig.fake.fail_when = lambda request: (
        Reply(200, {"kind": "t3", "data": {"oops": True}}) if request.path.endswith("/new") else None
    )
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "Reddit GET /oauth/domain/youtube.com/new: the response was not a Reddit listing; gave up after 5 attempts"
    )


def test_a_used_up_rate_limit_window_is_waited_out_before_the_next_request(rig: RedditRig) -> None:
    rig.fake.ratelimit_remaining, rig.fake.ratelimit_reset = 0.0, 120
    result = rig.poll()  # prawcore would sleep 120 s on its own here; the connector waits through the context
    assert (result.status, result.new) == ("ok", 100)
    assert rig.sleeps == [121.0]  # before the listing's second page (the first one used the window up)
    assert len(rig.fake.api_requests()) == 2
    assert rig.store.run(result.run_id)["counters"] == '{"rate_limit_waits": 1}'  # tracker status shows it


def test_one_budget_of_requests_a_minute_spans_every_source(server: RecordingServer, tmp_path: Path) -> None:
    rig = RedditRig(
        server, tmp_path, recorded(DOMAIN_NEW) + recorded(ALL_COMMENTS), now=NOW, watch=("videos",),
        extra="requests_per_minute = 2\n",
    )  # fmt: skip
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        rig.clock.advance(seconds=seconds)

    poller = rig.poller(sleeper=wait)
    result = poller.poll("reddit")
    poller.close()
    assert result.status == "ok"
    # a token, two pages of the listing, two of the search, the comments, their subreddits' sizes: two
    # requests a minute
    assert len(server.requests) == 7
    assert waits == [60.0, 60.0, 60.0]
    rig.close()


def test_a_rate_limit_beyond_max_rate_limit_wait_fails_the_pass_instead_of_stalling(rig: RedditRig) -> None:
    rig.fake.script = [Reply(429, {"message": "Too Many Requests"}, {"Retry-After": "3600"})]
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None and "later than max_rate_limit_wait (600s)" in result.error
    assert rig.sleeps == []
    rig.clock.advance(hours=1)
    assert rig.poll().status == "ok"


def test_a_shutdown_during_a_rate_limit_wait_stops_the_pass_cleanly(rig: RedditRig) -> None:
    rig.fake.ratelimit_remaining = 0.0
    poller = rig.poller(sleeper=lambda seconds: poller.stop.set())
    result = poller.poll("reddit")
    poller.close()
    assert result.status == "interrupted"
    assert len(rig.mentions()) == 100  # the page read before the wait is kept; the source's cursor is not
    assert rig.cursors() == {}
    rig.fake.ratelimit_remaining = 500.0
    again = rig.poll()
    assert (again.status, again.new) == ("ok", 0)


def test_rejected_credentials_are_reported_in_one_line_without_retrying(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = RedditRig(server, tmp_path, recorded(DOMAIN_NEW), now=NOW, secret="not-the-secret")
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith(
        "credentials rejected: Reddit rejected client_id/client_secret (HTTP 401 from "
    )
    assert len(rig.fake.token_requests()) == 1
    rig.close()


def test_a_refusal_in_the_token_answer_is_a_credentials_error(rig: RedditRig) -> None:
    rig.fake.script = [Reply(200, {"error": "unauthorized_client"})]
    result = rig.poll()
    assert result.error == (
        "credentials rejected: Reddit refused an access token (unauthorized_client); check client_id and "
        'client_secret, and that the app is a "script" or "web" app'
    )


def test_a_token_the_api_rejects_is_replaced_once(server: RecordingServer, tmp_path: Path) -> None:
    rig = RedditRig(server, tmp_path, recorded(DOMAIN_NEW), now=NOW, extra="search = false\n")
    poller = rig.poller()  # the daemon keeps its connectors, and so their access token, between passes
    assert poller.poll("reddit").status == "ok"
    rig.fake.token = "rotated-token"  # Reddit revoked the old token early
    rig.clock.advance(minutes=10)
    result = poller.poll("reddit")
    poller.close()
    assert (result.status, rig.fake.tokens_issued) == ("ok", 2)
    rig.close()


def test_a_refused_subreddit_fails_its_source_and_the_others_are_still_read(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = RedditRig(server, tmp_path, recorded(DOMAIN_NEW), now=NOW, watch=("secret_club",))
    rig.fake.fail_when = lambda request: (
        Reply(403, {"message": "Forbidden", "error": 403, "reason": "private"})
        if "/r/secret_club/" in request.path
        else None
    )
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "1 Reddit source(s) failed, the others were read: Reddit new comments in r/secret_club: refused "
        "(HTTP 403; a private, quarantined or banned subreddit?)"
    )
    assert len(rig.mentions()) == 100
    assert set(rig.cursors()) == {"domain:youtube.com", "search:youtube.com"}
    rig.close()


def test_reddits_anti_bot_wall_is_reported_as_what_it_is(rig: RedditRig) -> None:
    rig.fake.script = [Reply(403, "<html><body>You've been blocked by network security.</body></html>",
                             {"Content-Type": "text/html; charset=utf-8"})]  # fmt: skip
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None
    assert "refused with an HTML page (HTTP 403), Reddit's anti-bot wall" in result.error
    assert len(rig.fake.token_requests()) == 1  # not retried: that would only prolong the block


def test_a_wrong_api_base_url_is_named_in_the_error(server: RecordingServer, tmp_path: Path) -> None:
    rig = RedditRig(server, tmp_path, recorded(DOMAIN_NEW), now=NOW, extra="search = false\n")
    rig.fake.fail_when = lambda request: (
        Reply(404, {"message": "Not Found", "error": 404}) if request.path.endswith("/new") else None
    )
    result = rig.poll()
    assert result.error == (
        "1 Reddit source(s) failed, the others were read: Reddit new link posts to youtube.com: not found "
        "(HTTP 404; a banned subreddit, or a wrong api_base_url?)"
    )
    rig.close()
