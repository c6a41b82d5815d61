"""The one retry policy: backoff with jitter, the server's wait honoured and capped, every wait through the
context's interruptible sleep, each retried fault counted in the connector's usage; and the usage meter."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Sleeps
from tracker.connector import ConnectorContext, Usage, UsageMeter
from tracker.errors import ConnectorError, Interrupted
from tracker.retry import Retrier, RetryPolicy, TransientError, until

log = logging.getLogger("tests.retry")


def make_retrier(tmp_path: Path, sleeps: Sleeps, **policy: float) -> Retrier:
    context = ConnectorContext(data_dir=tmp_path, sleeper=sleeps)
    return Retrier(context, RetryPolicy(**policy), log=log, max_wait_name="max_rate_limit_wait")


def failing(*faults: Exception, result: str = "done") -> Callable[[], str]:
    pending = list(faults)

    def attempt() -> str:
        if pending:
            raise pending.pop(0)
        return result

    return attempt


def test_backoff_doubles_from_base_up_to_the_cap_with_at_most_a_quarter_of_jitter() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    for attempt, floor in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)):
        for _ in range(50):
            assert floor <= policy.delay(attempt) <= floor * 1.25


def test_transient_faults_are_retried_counted_and_waited_through_the_context(tmp_path: Path) -> None:
    sleeps = Sleeps()
    retrier = make_retrier(tmp_path, sleeps, base=1.0)
    attempt = failing(
        TransientError("HTTP 503", "retried_5xx"), TransientError("rate limited", "retried_429", 7.0)
    )
    assert retrier.call("GET /x", attempt) == "done"
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] <= 1.25 and sleeps[1] == 7.0  # the server's wait, exactly
    assert retrier.context.usage.take() == Usage(counters={"retried_5xx": 1, "retried_429": 1})


def test_attempts_are_bounded_and_the_last_reason_is_given(tmp_path: Path) -> None:
    sleeps = Sleeps()
    retrier = make_retrier(tmp_path, sleeps, attempts=3)
    faults = [TransientError("HTTP 502", "retried_5xx") for _ in range(5)]
    with pytest.raises(ConnectorError, match=r"^GET /x: HTTP 502; gave up after 3 attempts$"):
        retrier.call("GET /x", failing(*faults))
    assert len(sleeps) == 2
    assert retrier.context.usage.take().counters == {"retried_5xx": 2}  # the retries made


def test_a_wait_beyond_max_wait_fails_at_once_instead_of_stalling(tmp_path: Path) -> None:
    sleeps = Sleeps()
    retrier = make_retrier(tmp_path, sleeps, max_wait=600.0)
    fault = TransientError("rate limited (HTTP 429)", "retried_429", 3600.0)
    with pytest.raises(ConnectorError) as raised:
        retrier.call("GET /x", failing(fault))
    assert str(raised.value) == (
        "GET /x: rate limited (HTTP 429); the server asks to retry in 3600s, later than max_rate_limit_wait "
        "(600s); the next pass resumes from the cursor"
    )
    assert sleeps == []


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    sleeps = Sleeps()
    retrier = make_retrier(tmp_path, sleeps)
    with pytest.raises(ConnectorError, match="bad request"):
        retrier.call("GET /x", failing(ConnectorError("bad request")))
    assert sleeps == []


def test_a_shutdown_interrupts_a_retry_wait(tmp_path: Path) -> None:
    stop = threading.Event()
    context = ConnectorContext(data_dir=tmp_path, stop=stop)  # the real, interruptible sleep
    retrier = Retrier(context, RetryPolicy(base=30.0), log=log)
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(Interrupted):
        retrier.call("GET /x", failing(*[TransientError("HTTP 503", "retried_5xx")] * 3))


def test_until_a_reset_adds_a_second_of_slack_and_never_goes_negative() -> None:
    from datetime import UTC, datetime

    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert until(now.timestamp() + 60, now) == 61.0
    assert until(now.timestamp() - 60, now) == 1.0


def test_the_usage_meter_drains_what_was_counted_and_keeps_threads_apart() -> None:
    meter = UsageMeter()
    meter.request()
    meter.count("retried_429")
    meter.add(Usage(cost_usd=0.5, counters={"posts_read": 3}))
    elsewhere: list[Usage] = []
    thread = threading.Thread(target=lambda: (meter.request(), elsewhere.append(meter.take())))
    thread.start()
    thread.join()
    assert elsewhere == [Usage(requests=1)]
    assert meter.take(items_read=3) == Usage(
        requests=1, items_read=3, cost_usd=0.5, counters={"retried_429": 1, "posts_read": 3}
    )
    assert meter.take() == Usage()
