"""One read of the week: mentions.csv and links.csv written, and the figures gathered, from the same rows.

The week is cut into time slices, each read in its own transaction (as the two files always were), into Arrow
columns (:mod:`reports.columnar`) from which the lines are made and the figures gathered. In a big
week a second process (:mod:`reports.standby`: a clean interpreter, its own database connection) takes slices
one after another while the report's process, once it has counted the previous week's figures for the summary,
takes them too, whichever is free taking the next, so on two cores both stay busy to the end. Each slice's rows
go into part files of its own; the parts are joined in order, newest first, and the slices' figures merged.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from reports import columnar, partials, queries
from reports.partials import Gatherer, Partials
from reports.queries import Scope
from reports.rows import LINK_COLUMNS, MentionRows, start_file
from reports.standby import Standby
from tracker.csv_format import MENTION_COLUMNS
from tracker.errors import TrackerError
from tracker.store import Store

SLICES = 28  # six hours of a week each: small enough that neither process waits long for the other


def slice_bounds(start: datetime, end: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into ``count`` equal spans, newest first (the files' order)."""
    step = (end - start) / count
    edges = [start + step * index for index in range(count)] + [end]
    return [(edges[index], edges[index + 1]) for index in reversed(range(count))]


def _part(folder: Path, kind: str, index: int) -> Path:
    return folder / f".part-{kind}-{index:03d}.csv"


def read_slice(
    store: Store, bounds: tuple[datetime, datetime], scope: Scope, gatherer: Gatherer,
    files: tuple[IO[bytes], IO[bytes]] | None,
) -> None:  # fmt: skip
    """Gather a slice's figures, and write its rows of mentions.csv and links.csv to ``files`` (when given)."""
    with store.read() as conn:
        table = queries.mention_link_table(conn, store.dialect, *bounds, scope)
    rows = MentionRows(table)
    if files is not None:
        columnar.write_lines(files[0], rows.mention_cells())
        columnar.write_lines(files[1], rows.link_cells())
    gatherer.add(rows)


class Pass:
    """The slices of one week, read by one or two processes."""

    def __init__(
        self, start: datetime, end: datetime, scope: Scope, timezone: str, folder: Path | None, count: int = SLICES
    ) -> None:  # fmt: skip
        self.bounds = slice_bounds(start, end, count)
        self.scope, self.timezone, self.folder = scope, timezone, folder

    def read(self, store: Store, index: int, gatherer: Gatherer) -> None:
        if self.folder is None:
            read_slice(store, self.bounds[index], self.scope, gatherer, None)
            return
        with (
            _part(self.folder, "mentions", index).open("wb") as mentions_out,
            _part(self.folder, "links", index).open("wb") as links_out,
        ):
            read_slice(store, self.bounds[index], self.scope, gatherer, (mentions_out, links_out))

    def read_all(self, store: Store, slices: Slices | None = None) -> Partials:
        """Every slice not taken yet (all of them without a shared ``slices``), and their figures."""
        gatherer = Gatherer(self.timezone)
        if slices is None:
            for index in range(len(self.bounds)):
                self.read(store, index, gatherer)
        else:
            while (taken := slices.take()) is not None:
                self.read(store, taken, gatherer)
        return gatherer.figures()

    def join(self) -> None:
        """mentions.csv and links.csv from the parts, in slice order; the parts are removed."""
        if self.folder is None:
            return
        for kind, columns in (("mentions", MENTION_COLUMNS), ("links", LINK_COLUMNS)):
            with (self.folder / f"{kind}.csv").open("w", encoding="utf-8", newline="") as out:
                start_file(out, columns)
            with (self.folder / f"{kind}.csv").open("ab") as out:
                for index in range(len(self.bounds)):
                    part = _part(self.folder, kind, index)
                    with part.open("rb") as source:
                        shutil.copyfileobj(source, out, 1 << 22)
                    part.unlink()


class Slices:
    """The slices still to read, shared by the processes (a counter in shared memory)."""

    def __init__(self, taken: Any, count: int) -> None:
        self.next, self.count = taken, count

    def take(self) -> int | None:
        with self.next.get_lock():
            index = int(self.next.value)
            if index >= self.count:
                return None
            self.next.value = index + 1
            return index


def read_alone(store: Store, week_pass: Pass) -> Partials:
    """The whole pass by this process (a small week)."""
    found = week_pass.read_all(store)
    week_pass.join()
    return found


def serve(answer: Any, taken: Any, database_url: str, week_pass: Pass) -> None:
    """The second process's job: slices until none are left; then their figures, or the error as one line."""
    try:
        store = Store.open(database_url, migrate=False)
        try:
            with store.read() as conn:  # a database it cannot read fails now, not when a slice is left for it
                conn.exec_driver_sql("SELECT 1 FROM mentions LIMIT 1").all()
            found = week_pass.read_all(store, Slices(taken, len(week_pass.bounds)))
        finally:
            store.close()
            columnar.close_sources()
    except BaseException as exc:  # reported by the parent, as its own failure
        answer.send(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    else:
        answer.send(found)
    finally:
        answer.close()


class Helper:
    """The second process (a :class:`~reports.standby.Standby`, started now unless one was started earlier),
    sharing a week's pass. While it gets ready, this process counts the week before, then both take slices."""

    def __init__(
        self, store: Store, week_pass: Pass, previous: tuple[datetime, datetime] | None, *,
        database_url: str | None = None, standby: Standby | None = None,
    ) -> None:  # fmt: skip
        self.store, self.week_pass, self.previous = store, week_pass, previous
        self.standby = standby or Standby()
        self.slices = Slices(self.standby.taken, len(week_pass.bounds))
        url = database_url or store.engine.url.render_as_string(hide_password=False)
        self.standby.give(serve, url, week_pass)
        self._counts: dict[str, int] | None = None

    def previous_counts(self) -> dict[str, int]:
        """The previous week's figures (counted by :meth:`run`)."""
        return self._counts or {}

    def run(self) -> Partials:
        """Count the week before, read slices alongside the second process until none are left, join the
        files; the week's figures."""
        if self.previous is not None:
            with self.store.read() as conn:
                self._counts = queries.week_counts(
                    conn, self.store.dialect, *self.previous, self.week_pass.scope
                )
        found = self.week_pass.read_all(self.store, self.slices)
        theirs = self.standby.answer()
        self.standby.close()
        if not isinstance(theirs, Partials):
            raise TrackerError(f"writing mentions.csv and links.csv failed: {theirs}")
        self.week_pass.join()
        return partials.merge([found, theirs])

    def cancel(self) -> None:
        self.standby.close()
