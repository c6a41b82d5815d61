"""Writing a week's report folder atomically, and the index of every week."""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reports import csv_files, html, rollups
from reports.weeks import IsoWeek, last_complete_week
from tracker import registry
from tracker.config import Config
from tracker.record import format_utc
from tracker.store import Store

STREAM_IDLE = timedelta(minutes=15)  # a stream's run lasts as long as the daemon; a restart takes seconds


@dataclass(frozen=True)
class Written:
    week: IsoWeek
    folder: Path
    mentions: int

    @property
    def html(self) -> Path:
        return self.folder / "report.html"


def _platforms(config: Config) -> dict[str, str]:
    found = {}
    for name, settings in config.connectors.items():
        try:
            found[name] = registry.load(settings.type).platform
        except registry.UnknownConnectorError:
            continue
    return found


def _idle_after(config: Config) -> dict[str, timedelta]:
    """How long each enabled connector may go without a run before the report calls it not running."""
    limits = {}
    for name, settings in config.enabled_connectors.items():
        try:
            streaming = registry.load(settings.type).streaming
        except registry.UnknownConnectorError:
            continue
        limits[name] = STREAM_IDLE if streaming else max(3 * settings.interval, timedelta(hours=1))
    return limits


def write_report(
    config: Config,
    *,
    week: IsoWeek | None = None,
    out_dir: Path | None = None,
    now: datetime | None = None,
    store: Store | None = None,
) -> Written:
    """Write one week's files (default: the last complete week) and refresh ``index.html``.

    The folder is built beside the final one and swapped in, so a half-written report never appears and
    re-running a week replaces it. Opens its own store unless one is given (the daemon runs this in a
    child process, so pandas' memory goes back to the system afterwards).
    """
    now = now or datetime.now(UTC)
    timezone = config.tracker.timezone
    week = week or last_complete_week(now, timezone)
    output = Path(out_dir or config.reports.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    own_store = store is None
    store = store or Store.open(config.database_url)
    try:
        with writer_lock(output):
            for leftover in output.glob(f".{week}-*"):  # a run that was killed while writing
                shutil.rmtree(leftover, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{week}-", dir=output))
            try:
                report = _write_week(config, store, week, staging, now)
                os.chmod(staging, 0o755)  # noqa: S103 - mkdtemp makes it 0700; a report is meant to be read
                _swap_in(staging, output / str(week))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            write_index(output, now)
    finally:
        if own_store:
            store.close()
    return Written(week, output / str(week), report.total)


@contextmanager
def writer_lock(output: Path) -> Iterator[None]:
    """One report writer at a time per output folder: the daemon's weekly run and a `tracker report` queue
    instead of clearing each other's half-written folders or swapping the same week at once. The lock
    (``<output>/.lock``) goes with the process, however it ends."""
    with (output / ".lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_week(
    config: Config, store: Store, week: IsoWeek, folder: Path, now: datetime
) -> rollups.WeekReport:
    """Compute the roll-ups, stream the per-mention files, then write the small files and the page."""
    timezone = config.tracker.timezone
    start, end = week.bounds(timezone)
    formats = set(config.reports.formats)

    report = rollups.build(
        store, week, timezone=timezone, domains=[d.name for d in config.domains], platforms=_platforms(config),
        now=now, idle_after=_idle_after(config),
    )  # fmt: skip
    if "csv" in formats:
        with store.read() as conn:
            csv_files.write_mentions(conn, folder / "mentions.csv", start, end)
            csv_files.write_links(conn, folder / "links.csv", start, end)
    csv_files.write_rollups(report, folder)  # the index reads each week's totals from summary.csv
    if "csv" in formats:
        with store.read() as conn:
            csv_files.write_top_posts(conn, folder / "top_posts.csv", report.top_posts.attrs.get("ids", []))
    if "html" in formats:
        (folder / "report.html").write_text(html.render_report(report), encoding="utf-8")
    return report


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` with ``staging``: two renames, so readers see the old or the new folder, whole."""
    retired = final.with_name(f".{final.name}.old")
    if retired.exists():
        shutil.rmtree(retired)
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)


def _totals(folder: Path) -> dict[str, str]:
    with (folder / "summary.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["metric"]: row for row in csv.DictReader(handle)}
    mentions = rows.get("mentions", {})
    percent = mentions.get("change_pct") or ""
    return {
        "name": folder.name,
        "mentions": mentions.get("this_week", ""),
        "change": f"{percent}%" if percent else mentions.get("change", ""),
        "pages": rows.get("pages_linked", {}).get("this_week", ""),
        "engagement": rows.get("engagement", {}).get("this_week", ""),
    }


def write_index(output: Path, now: datetime) -> Path:
    """``<output>/index.html`` listing every written week, newest first."""
    weeks = []
    for folder in sorted(output.iterdir(), reverse=True):
        try:
            IsoWeek.parse(folder.name)
        except ValueError:
            continue
        if (folder / "summary.csv").is_file():
            weeks.append(_totals(folder))
    path = output / "index.html"
    staging = output / ".index.html.tmp"
    staging.write_text(html.render_index(weeks, format_utc(now)), encoding="utf-8")
    staging.replace(path)
    return path
