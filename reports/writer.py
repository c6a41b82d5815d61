"""Writing a week's report folder atomically, and the index of every week.

Reports never clobber what they did not write: an output folder is the tracker's when it is new or empty, or
holds its marker file (``.mention-tracker``), or only what the tracker writes; any other folder is refused. A
week is built in a private temporary folder (``mkdtemp``: created exclusively, mode 0700) beside the final
one and swapped in with renames, which replace a name (even a symlink) and never write through it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reports import columnar, csv_files, html, queries, rollups, share, slices
from reports.index import read_week, render_index_page
from reports.queries import Scope
from reports.standby import PARALLEL_FROM, Standby
from tracker.errors import ConfigError
from tracker.health import idle_after
from tracker.periods import IsoWeek, last_complete_week
from tracker.settings import Config
from tracker.store import Store

MARKER = ".mention-tracker"
MARKER_TEXT = (
    "This folder is written by mention-tracker: index.html and each YYYY-Www folder are replaced whenever a\n"
    "report is written. Keep your own files elsewhere.\n"
)
SO_FAR = ".so-far"  # in a week's folder written before the week ended
_OWN_NAMES = frozenset({MARKER, ".lock", "index.html", "feeds"})
_SCRATCH = re.compile(r"^\.(\d{4}-W\d{2}-|\d{4}-W\d{2}\.old$|retired-|index-)")  # temporary folders
_LEGACY_SCRATCH = ".index.html.tmp"  # what versions before the marker file staged the index in
_LEGACY_TITLE = b"<title>Social backlinks: weekly reports</title>"  # their index.html had no generator tag


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


def _intervals(config: Config) -> dict[str, timedelta]:
    """Polling intervals: downtime shorter than one lost nothing."""
    return {
        name: settings.interval
        for name, settings in config.connectors.items()
        if name in config.connector_info and not config.connector_info[name].streaming
    }


def write_report(
    config: Config,
    *,
    week: IsoWeek | None = None,
    out_dir: Path | None = None,
    now: datetime | None = None,
    parallel_from: int = PARALLEL_FROM,
    standby: Standby | None = None,
) -> Written:
    """Write one week's files (default: the last complete week) and refresh ``index.html``.

    The folder is built beside the final one and swapped in, so a half-written report never appears and
    re-running a week replaces it. Opens its own store (the daemon runs this in a child process, so pandas'
    memory goes back to the system afterwards). ``standby``, a second process
    started before the imports, shares a big week (and is stopped otherwise). ConfigError (exit 2) when the
    output folder holds files the tracker did not write.
    """
    now = now or datetime.now(UTC)
    timezone = config.tracker.timezone
    week = week or last_complete_week(now, timezone)
    output = Path(out_dir or config.reports.output_dir)
    claim_output(output)
    store = Store.open(config.database_url)
    try:
        with writer_lock(output):
            _remove_leftovers(output, week)
            final = output / str(week)
            _check_week_folder(final)
            staging = Path(tempfile.mkdtemp(prefix=f".{week}-", dir=output))
            try:
                report = _write_week(config, store, week, staging, now, parallel_from, standby)
                os.chmod(staging, 0o755)  # noqa: S103 - mkdtemp makes it 0700; a report is meant to be read
                _swap_in(staging, final)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            write_index(output, now, timezone)
    finally:
        store.close()
        columnar.close_sources()  # after the store (see reports.columnar.source)
    return Written(week, final, report.total)


def latest_week_with_mentions(config: Config, now: datetime) -> IsoWeek | None:
    """The week of the newest mention of an own domain (None without any)."""
    store = Store.open(config.database_url)
    try:
        with store.read() as conn:
            scope = Scope.of(conn, store.dialect, config.own_domains)
            latest = queries.latest_mention_at(conn, store.dialect, scope)
    finally:
        store.close()
    return None if latest is None else IsoWeek.containing(min(latest, now), config.tracker.timezone)


def claim_output(output: Path) -> None:
    """Make ``output`` the tracker's, creating it if need be; ConfigError if it holds what others wrote."""
    if output.is_symlink() and not output.exists():
        raise ConfigError(f"{output}: a broken symbolic link; point it at a folder or remove it")
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output}: not a folder; choose a folder for the reports")
    output.mkdir(parents=True, exist_ok=True)
    marker = output / MARKER
    if marker.is_file() and not marker.is_symlink():
        return
    strangers = sorted(entry.name for entry in output.iterdir() if not _written_by_tracker(entry))
    if strangers:
        shown = ", ".join(strangers[:5]) + (f" and {len(strangers) - 5} more" if len(strangers) > 5 else "")
        raise ConfigError(
            f"{output} holds files mention-tracker did not write ({shown}); reports replace what is in their "
            "folder, so choose an empty or new folder (--out, or [reports] output_dir)"
        )
    try:
        descriptor = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:  # another writer claimed it meanwhile
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(MARKER_TEXT)


def _written_by_tracker(entry: Path) -> bool:
    """Whether a folder entry is one the tracker writes (a folder of reports from before the marker)."""
    name = entry.name
    if entry.is_symlink():
        return False
    if name == "index.html":
        return entry.is_file() and _is_our_page(entry)
    if name in _OWN_NAMES:
        return True
    if _SCRATCH.match(name):  # a temporary folder a killed run left
        return entry.is_dir()
    if name == _LEGACY_SCRATCH:
        return entry.is_file()
    try:
        IsoWeek.parse(name)
    except ValueError:
        return False
    return entry.is_dir() and not _strangers_in_week(entry)


def _is_our_page(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    return html.GENERATOR.encode() in head or _LEGACY_TITLE in head


def _strangers_in_week(folder: Path) -> list[str]:
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.is_symlink() or entry.name not in (*csv_files.WRITTEN, SO_FAR)
    )


def _check_week_folder(final: Path) -> None:
    """Refuse to replace a week's folder holding files the tracker did not write."""
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise ConfigError(
            f"{final} is not a folder the tracker wrote; move it away and write the report again"
        )
    if final.is_dir():
        strangers = _strangers_in_week(final)
        if strangers:
            raise ConfigError(
                f"{final} holds files mention-tracker did not write ({', '.join(strangers[:5])}); "
                "move them away, then write the report again"
            )


def _remove_leftovers(output: Path, week: IsoWeek) -> None:
    """Staging and retired folders of runs that were killed while writing (real folders only)."""
    for leftover in (
        *output.glob(f".{week}-*"),
        *output.glob(f".{week}.old"),
        *output.glob(".retired-*"),
        *output.glob(".index-*"),
    ):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def writer_lock(output: Path) -> Iterator[None]:
    """One report writer at a time per output folder: the daemon's weekly run and a `tracker report` queue
    instead of clearing each other's half-written folders or swapping the same week at once. The lock
    (``<output>/.lock``, never followed if it is a symbolic link) goes with the process, however it ends."""
    descriptor = os.open(output / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _write_week(
    config: Config, store: Store, week: IsoWeek, folder: Path, now: datetime, parallel_from: int,
    standby: Standby | None,
) -> rollups.WeekReport:  # fmt: skip
    """Read the week once, writing the per-mention files and gathering the figures (shared with a second
    process for a big week), then write the small files and the page."""
    timezone = config.tracker.timezone
    start, end = week.bounds(timezone)
    previous = week.previous().bounds(timezone)
    formats = set(config.reports.formats)
    domains = list(config.own_domains)
    with store.read() as conn:
        scope = Scope.of(conn, store.dialect, domains)
        big = _separate_process_allowed(store)
        big = big and queries.count_in_week(conn, store.dialect, start, end) >= parallel_from
    week_pass = slices.Pass(
        start, end, scope, timezone, folder if "csv" in formats else None, count=slices.SLICES if big else 1
    )
    if standby is not None and not big:
        standby.close()  # not needed: its core is free again
    helper = slices.Helper(store, week_pass, previous, standby=standby) if big else None
    try:
        figures = helper.run() if helper is not None else slices.read_alone(store, week_pass)
        report = rollups.build(
            store, week, timezone=timezone, domains=domains, platforms=_platforms(config), now=now,
            idle_after=_idle_after(config), intervals=_intervals(config), scope=scope, figures=figures,
            previous_counts=helper.previous_counts if helper is not None else None,
            partial_coverage=_partial(config),
        )  # fmt: skip
    except BaseException:
        if helper is not None:
            helper.cancel()
        raise
    report.share_of_voice = share.build(
        store, week, timezone=timezone, own=domains, competitors=share.competitor_domains(config)
    )
    csv_files.write_rollups(report, folder)  # the index reads each week's totals from summary.csv
    if "csv" in formats and report.share_of_voice is not None:
        share.write_files(report.share_of_voice, folder)
    if "csv" in formats:
        with store.read() as conn:
            csv_files.write_top_posts(
                conn, folder / "top_posts.csv", report.top_posts.attrs.get("ids", []), scope
            )
    if "html" in formats:
        (folder / "report.html").write_text(html.render_report(report), encoding="utf-8")
    if report.so_far:
        (folder / SO_FAR).write_text(report.generated_at.isoformat() + "\n", encoding="utf-8")
    return report


def _separate_process_allowed(store: Store) -> bool:
    """Another process can open the same database (not an in-memory SQLite one)."""
    url = store.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` with ``staging``: two renames, so readers see the old or the new folder, whole. The
    old one is moved into a private folder first and removed from there."""
    retired = Path(tempfile.mkdtemp(prefix=".retired-", dir=final.parent))
    try:
        if final.exists():
            final.rename(retired / final.name)
        staging.rename(final)
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def write_index(output: Path, now: datetime, timezone: str = "UTC") -> Path:
    """``<output>/index.html`` listing every written week, newest first; written in a private temporary folder
    and renamed into place."""
    weeks = []
    for folder in sorted(output.iterdir(), reverse=True):
        try:
            IsoWeek.parse(folder.name)
        except ValueError:
            continue
        if folder.is_dir() and not folder.is_symlink() and (folder / "summary.csv").is_file():
            weeks.append(read_week(folder, SO_FAR))
    path = output / "index.html"
    if path.is_symlink() or (path.exists() and not (path.is_file() and _is_our_page(path))):
        raise ConfigError(
            f"{path} was not written by mention-tracker; move it away and write the report again"
        )
    private = Path(tempfile.mkdtemp(prefix=".index-", dir=output))
    try:
        staged = private / "index.html"
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(render_index_page(weeks, now, timezone))
        staged.replace(path)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return path
