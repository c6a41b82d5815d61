"""Writing a week's report folder atomically, and the index of every week."""

from __future__ import annotations

import csv
import fcntl
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reports import csv_files, html, queries, rollups
from tracker.errors import TrackerError
from tracker.health import idle_after
from tracker.periods import IsoWeek, last_complete_week
from tracker.record import format_utc
from tracker.settings import Config
from tracker.store import Store

PARALLEL_FROM = 100_000  # mentions in a week from which the per-mention files are written by a second process


@dataclass(frozen=True)
class Written:
    week: IsoWeek
    folder: Path
    mentions: int

    @property
    def html(self) -> Path:
        return self.folder / "report.html"


def _platforms(config: Config) -> dict[str, str]:
    return {name: info.platform for name, info in config.connector_info.items()}


def _partial(config: Config) -> dict[str, str]:
    """The enabled connectors whose platform shows only part of what is posted, and why."""
    return {
        name: info.partial_coverage
        for name, info in config.connector_info.items()
        if info.partial_coverage and name in config.enabled_connectors
    }


def _idle_after(config: Config) -> dict[str, timedelta]:
    """How long each enabled connector may go without a run before the report calls it not running."""
    return {
        name: idle_after(settings.interval, streaming=config.connector_info[name].streaming)
        for name, settings in config.enabled_connectors.items()
        if name in config.connector_info
    }


def write_report(
    config: Config,
    *,
    week: IsoWeek | None = None,
    out_dir: Path | None = None,
    now: datetime | None = None,
    store: Store | None = None,
    parallel_from: int = PARALLEL_FROM,
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
                report = _write_week(config, store, week, staging, now, parallel_from)
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
    config: Config, store: Store, week: IsoWeek, folder: Path, now: datetime, parallel_from: int
) -> rollups.WeekReport:
    """Compute the roll-ups and stream the per-mention files (side by side in a second process for a big
    week), then write the small files and the page."""
    timezone = config.tracker.timezone
    start, end = week.bounds(timezone)
    formats = set(config.reports.formats)

    beside: _FilesInChild | None = None
    if "csv" in formats and _separate_process_allowed(store):
        with store.read() as conn:
            if queries.count_in_week(conn, store.dialect, start, end) >= parallel_from:
                beside = _FilesInChild(_url(store), folder, start, end)
    try:
        report = rollups.build(
            store, week, timezone=timezone, domains=[d.name for d in config.domains],
            platforms=_platforms(config), now=now, idle_after=_idle_after(config), partial=_partial(config),
        )  # fmt: skip
    except BaseException:
        if beside is not None:
            beside.cancel()
        raise
    if beside is not None:
        beside.wait()
    elif "csv" in formats:
        with store.read() as conn:
            csv_files.write_per_mention_files(conn, folder, start, end)
    csv_files.write_rollups(report, folder)  # the index reads each week's totals from summary.csv
    if "csv" in formats:
        with store.read() as conn:
            csv_files.write_top_posts(conn, folder / "top_posts.csv", report.top_posts.attrs.get("ids", []))
    if "html" in formats:
        (folder / "report.html").write_text(html.render_report(report), encoding="utf-8")
    return report


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _separate_process_allowed(store: Store) -> bool:
    """Another process can open the same database (not an in-memory SQLite one)."""
    url = store.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def _stream_in_child(database_url: str, folder: str, start: datetime, end: datetime, answer: Any) -> None:
    """The second process: write mentions.csv and links.csv, then send None, or the error as one line."""
    try:
        store = Store.open(database_url, migrate=False)
        try:
            with store.read() as conn:
                csv_files.write_per_mention_files(conn, Path(folder), start, end)
        finally:
            store.close()
    except BaseException as exc:  # reported by the parent, as its own failure
        answer.send(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    else:
        answer.send(None)
    finally:
        answer.close()


class _FilesInChild:
    """mentions.csv and links.csv written by a second process (spawned: a clean interpreter, its own database
    connection) while this one computes the roll-ups; on a two-core machine that halves a big week's time.
    Each side reads in its own transaction, as the two steps always did."""

    def __init__(self, database_url: str, folder: Path, start: datetime, end: datetime) -> None:
        context = multiprocessing.get_context("spawn")
        self._answer, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_stream_in_child, args=(database_url, str(folder), start, end, send), name="report-files",
            daemon=True,
        )  # fmt: skip
        self._process.start()
        send.close()

    def wait(self) -> None:
        """Wait for the files; TrackerError naming the cause if they could not be written."""
        try:
            outcome = self._answer.recv()
        except EOFError:  # it died without a word (killed, out of memory)
            outcome = "the process writing them ended early"
        self._process.join()
        if outcome is not None:
            raise TrackerError(f"writing mentions.csv and links.csv failed: {outcome}")

    def cancel(self) -> None:
        self._process.terminate()
        self._process.join()


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
