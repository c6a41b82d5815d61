"""Logs: like warnings collapse to one line with a count per window; a failed name lookup reads plainly."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
import requests
import urllib3.exceptions

from tracker.errors import connection_problem
from tracker.logs import JsonFormatter, RedactingFilter, RepeatFilter


class Ticks:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def logged(ticks: Ticks) -> Iterator[tuple[logging.Logger, RepeatFilter, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    repeats = RepeatFilter(window=300.0, clock=ticks)
    repeats.handler = handler
    handler.addFilter(repeats)
    handler.addFilter(RedactingFilter(["s3cret-token"]))
    logger = logging.getLogger("tests.logs.collapse")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, repeats, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_an_endpoint_failing_all_window_long_is_one_line_then_one_count(
    logged: tuple[logging.Logger, RepeatFilter, io.StringIO], ticks: Ticks
) -> None:
    logger, repeats, out = logged
    for attempt in range(128):  # offline for five minutes: an attempt every couple of seconds
        logger.warning("Jetstream endpoint %s: %s", "wss://a.example/subscribe", f"[Errno -3] try {attempt}")
        ticks.now += 2.3
    assert lines(out) == ["WARNING Jetstream endpoint wss://a.example/subscribe: [Errno -3] try 0"]
    repeats.flush()  # the daemon flushes every few seconds; the window is over only after 300 s
    assert len(lines(out)) == 1
    ticks.now += 10
    repeats.flush()
    assert lines(out)[1:] == [
        "WARNING Jetstream endpoint wss://a.example/subscribe: [Errno -3] try 127 "
        "(127 more like this in the last 5 min)"
    ]
    repeats.flush()
    assert len(lines(out)) == 2  # counted once


def test_the_next_window_starts_with_the_count_of_the_last_when_no_flush_came(
    logged: tuple[logging.Logger, RepeatFilter, io.StringIO], ticks: Ticks
) -> None:
    logger, _, out = logged
    for _ in range(3):
        logger.warning("%s: rate limited (HTTP 429); retry in %.1fs", "https://api.example/search", 2.0)
    ticks.now += 301
    logger.warning("%s: rate limited (HTTP 429); retry in %.1fs", "https://api.example/search", 4.0)
    assert lines(out) == [
        "WARNING https://api.example/search: rate limited (HTTP 429); retry in 2.0s",
        "WARNING https://api.example/search: rate limited (HTTP 429); retry in 4.0s (2 more like this in the last 5 min)",
    ]


def test_warnings_about_different_things_and_info_lines_are_never_held_back(
    logged: tuple[logging.Logger, RepeatFilter, io.StringIO],
) -> None:
    logger, _, out = logged
    logger.warning("%s failed %d time(s) in a row", "hackernews", 1)
    logger.warning("%s failed %d time(s) in a row", "reddit", 1)
    logger.warning("something else entirely")
    for _ in range(3):
        logger.info("poll %s: ok", "hackernews")
    assert len(lines(out)) == 6


def test_the_count_line_is_redacted_and_carries_the_count_in_json(ticks: Ticks) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    repeats = RepeatFilter(window=60.0, clock=ticks)
    repeats.handler = handler
    handler.addFilter(repeats)
    handler.addFilter(RedactingFilter(["s3cret-token"]))
    logger = logging.getLogger("tests.logs.json")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for _ in range(5):
            logger.error("login with %s refused", "s3cret-token")
        ticks.now += 61
        repeats.flush()
    finally:
        logger.removeHandler(handler)
    first, summary = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "login with *** refused"
    assert summary["message"] == "login with *** refused (4 more like this in the last 1 min)"
    assert summary["repeated"] == 4
    assert "s3cret-token" not in out.getvalue()


def _gaierror() -> socket.gaierror:
    return socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        raise outer from inner
    except BaseException as exc:
        return exc


def test_a_failed_name_lookup_says_which_host_and_suggests_the_network() -> None:
    # How each client library reports one: httpx wraps the socket error, requests wraps urllib3's
    # NameResolutionError in a MaxRetryError, websockets lets the socket error through.
    from_httpx = _raised_from(
        httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), _gaierror()
    )
    resolution = urllib3.exceptions.NameResolutionError("api.twitter.com", None, _gaierror())
    retries = urllib3.exceptions.MaxRetryError(None, "/2/tweets/search/recent", resolution)
    from_requests = requests.ConnectionError(retries)
    for exc, url in [
        (from_httpx, "https://hn.algolia.com/api/v1/search_by_date"),
        (from_requests, "https://api.twitter.com"),
        (_gaierror(), "wss://jetstream2.us-east.bsky.network/subscribe"),
    ]:
        host = url.split("/")[2]
        assert connection_problem(exc, url) == f"cannot resolve {host} (no network?)"


def test_other_connection_failures_keep_their_reason() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert (
        connection_problem(refused, "http://127.0.0.1:9")
        == "connection failed: [Errno 111] Connection refused"
    )
