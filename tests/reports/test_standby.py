"""The second report process started before the report's imports: only for a store that may hold a big week,
it shares a big week's files exactly as one started later would, and it is stopped at once when not needed."""

from __future__ import annotations

import os
from pathlib import Path

from reports import write_report
from reports.standby import WORTH_FROM_BYTES, Standby, worth_starting
from tests.reports.fixtures import fill
from tests.reports.test_rollups import NOW, W47, config_for
from tracker.store import Store


def test_only_a_sqlite_file_big_enough_for_a_big_week_starts_one_early(tmp_path: Path) -> None:
    small, big = tmp_path / "small.db", tmp_path / "big.db"
    small.write_bytes(b"\0" * 4096)
    big.touch()
    os.truncate(big, WORTH_FROM_BYTES)  # sparse: no disk used
    assert worth_starting(f"sqlite:///{big}")
    assert worth_starting(f"sqlite:///{big}?timeout=5")
    assert not worth_starting(f"sqlite:///{small}")
    assert not worth_starting(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not worth_starting("sqlite:///:memory:")
    assert not worth_starting("postgresql+psycopg://127.0.0.1/test")


def test_a_big_week_shared_with_a_process_started_early_writes_the_same_files(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    alone = write_report(config, week=W47, now=NOW, out_dir=tmp_path / "alone", parallel_from=10**12)
    standby = Standby()
    try:
        early = write_report(
            config, week=W47, now=NOW, out_dir=tmp_path / "early", parallel_from=0, standby=standby
        )
        assert standby.taken.value > 0  # it was given the week and took slices of it
    finally:
        standby.close()
    for name in ("mentions.csv", "links.csv", "summary.csv", "top_posts.csv", "report.html"):
        assert (early.folder / name).read_bytes() == (alone.folder / name).read_bytes(), name


def test_a_process_started_early_for_a_small_week_is_stopped_before_the_report_is_written(
    tmp_path: Path,
) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    standby = Standby()
    written = write_report(config, week=W47, now=NOW, standby=standby)
    assert not standby.running
    standby.close()  # closing twice is harmless
    assert written.mentions
