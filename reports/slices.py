"""mentions.csv and links.csv of a big week, written by two processes at once.

The week is cut into time slices; a second process (spawned: a clean interpreter, its own database connection)
first counts the previous week's figures for the summary, then writes slices one after another, each into part
files of its own. The report's process joins in once its roll-ups are done, taking whichever slice is next, so
on two cores both stay busy to the end. The parts are then joined in order, newest first. Each slice is read in
its own transaction, as the two files always were.
"""

from __future__ import annotations

import multiprocessing
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from reports import csv_files, queries
from reports.queries import Scope
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


def write_slice(
    store: Store, folder: Path, index: int, bounds: tuple[datetime, datetime], scope: Scope
) -> None:
    """Slice ``index``'s rows of both files, into its part files."""
    with (
        store.read() as conn,
        _part(folder, "mentions", index).open("w", encoding="utf-8", newline="") as mentions_out,
        _part(folder, "links", index).open("w", encoding="utf-8", newline="") as links_out,
    ):
        csv_files.write_mention_files(conn, mentions_out, links_out, *bounds, scope)


def join_parts(folder: Path, count: int) -> None:
    """mentions.csv and links.csv from the parts, in slice order; the parts are removed."""
    for kind, columns in (("mentions", MENTION_COLUMNS), ("links", csv_files.LINK_COLUMNS)):
        with (folder / f"{kind}.csv").open("w", encoding="utf-8", newline="") as out:
            csv_files.start_file(out, columns)
        with (folder / f"{kind}.csv").open("ab") as out:
            for index in range(count):
                part = _part(folder, kind, index)
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 22)
                part.unlink()


class Slices:
    """The slices still to write, shared by the processes (a counter in shared memory)."""

    def __init__(self, context: Any, count: int) -> None:
        self.count = count
        self.next = context.Value("i", 0)

    def take(self) -> int | None:
        with self.next.get_lock():
            index = int(self.next.value)
            if index >= self.count:
                return None
            self.next.value = index + 1
            return index


def write_all(
    store: Store, folder: Path, bounds: list[tuple[datetime, datetime]], scope: Scope, slices: Slices | None
) -> None:
    """Write every slice not taken yet (all of them without a shared ``slices``)."""
    if slices is None:
        for index, span in enumerate(bounds):
            write_slice(store, folder, index, span, scope)
        return
    while (taken := slices.take()) is not None:
        write_slice(store, folder, taken, bounds[taken], scope)


def _in_child(
    database_url: str, folder: str, bounds: list[tuple[datetime, datetime]], scope: Scope, slices: Slices,
    previous: tuple[datetime, datetime] | None, answer: Any,
) -> None:  # fmt: skip
    """The second process: the previous week's counts (sent at once), then slices until none are left; then
    None, or the error as one line."""
    try:
        store = Store.open(database_url, migrate=False)
        try:
            if previous is not None:
                with store.read() as conn:
                    answer.send(queries.week_counts(conn, store.dialect, *previous, scope))
            write_all(store, Path(folder), bounds, scope, slices)
        finally:
            store.close()
    except BaseException as exc:  # reported by the parent, as its own failure
        answer.send(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    else:
        answer.send(None)
    finally:
        answer.close()


class Helper:
    """The second process and the slices both take from."""

    def __init__(
        self, store: Store, folder: Path, start: datetime, end: datetime, scope: Scope,
        previous: tuple[datetime, datetime] | None, *, database_url: str | None = None,
    ) -> None:  # fmt: skip
        context = multiprocessing.get_context("spawn")
        self.store, self.folder, self.scope = store, folder, scope
        self.bounds = slice_bounds(start, end, SLICES)
        self.slices = Slices(context, SLICES)
        self._answer, send = context.Pipe(duplex=False)
        url = database_url or store.engine.url.render_as_string(hide_password=False)
        self._process = context.Process(
            target=_in_child, args=(url, str(folder), self.bounds, scope, self.slices, previous, send),
            name="report-files", daemon=True,
        )  # fmt: skip
        self._process.start()
        send.close()
        self._counts: dict[str, int] | None = None
        self._previous = previous is not None

    def _receive(self) -> Any:
        try:
            return self._answer.recv()
        except EOFError:  # it died without a word (killed, out of memory)
            return "the process writing them ended early"

    def previous_counts(self) -> dict[str, int]:
        """The previous week's figures, counted by the second process."""
        if self._counts is None:
            answer = self._receive()
            if not isinstance(answer, dict):
                self._fail(answer)
            self._counts = answer
        return self._counts

    def finish(self) -> None:
        """Write the slices left, wait for the second process, and join the parts."""
        write_all(self.store, self.folder, self.bounds, self.scope, self.slices)
        if self._previous and self._counts is None:
            self.previous_counts()
        outcome = self._receive()
        self._process.join()
        if outcome is not None:
            self._fail(outcome)
        join_parts(self.folder, SLICES)

    def _fail(self, outcome: Any) -> None:
        self.cancel()
        raise TrackerError(f"writing mentions.csv and links.csv failed: {outcome}")

    def cancel(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def write_alone(store: Store, folder: Path, start: datetime, end: datetime, scope: Scope) -> None:
    """Both files by this process alone (a small week)."""
    write_all(store, folder, [(start, end)], scope, None)
    join_parts(folder, 1)
