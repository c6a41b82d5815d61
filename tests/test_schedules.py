"""Schedules, checked with an injected clock instead of waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import make_config
from tracker.daemon import failure_backoff, report_trigger


@pytest.mark.parametrize(("failures", "seconds"), [(0, 600), (1, 1200), (2, 2400), (3, 3600), (10, 3600)])
def test_a_failing_connector_waits_exponentially_longer_up_to_an_hour(failures: int, seconds: float) -> None:
    assert failure_backoff(600, failures) == seconds


def test_short_intervals_back_off_from_one_second() -> None:
    assert [failure_backoff(1, n) for n in (1, 2, 3)] == [2, 4, 8]


def test_the_weekly_report_runs_at_the_configured_local_time_across_dst(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        '[tracker]\ntimezone = "Europe/Berlin"\n[reports]\nschedule = "mon 06:00"\n[[domains]]\nname = "example.com"\n',
    )
    trigger = report_trigger(config)
    berlin = ZoneInfo("Europe/Berlin")
    before_dst_end = trigger.get_next_fire_time(None, datetime(2026, 10, 20, tzinfo=UTC))
    after_dst_end = trigger.get_next_fire_time(None, datetime(2026, 10, 27, tzinfo=UTC))
    assert before_dst_end.astimezone(berlin).replace(tzinfo=None) == datetime(2026, 10, 26, 6, 0)
    assert before_dst_end.astimezone(UTC) == datetime(2026, 10, 26, 5, 0, tzinfo=UTC)  # CET
    assert after_dst_end.astimezone(UTC) == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    summer = trigger.get_next_fire_time(None, datetime(2026, 7, 1, tzinfo=UTC))
    assert summer.astimezone(UTC) == datetime(2026, 7, 6, 4, 0, tzinfo=UTC)  # CEST
