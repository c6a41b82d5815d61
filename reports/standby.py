"""The second process of a big week's report, started early: it loads the report's libraries (pandas and
SQLAlchemy take seconds to import on a small machine) while the first process loads its own, then waits to be
given the week's slices, or told to go. Imports nothing heavy itself, so ``tracker report`` can start it first.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable
from typing import Any

PARALLEL_FROM = (
    100_000  # mentions in a week from which the per-mention files are shared with a second process
)
# A SQLite file that may hold such a week (a stored mention takes about 600 bytes). A smaller store never starts
# one early; a bigger one whose weeks are all small starts one that is stopped once the week is counted (it
# loses a process start on the other core).
WORTH_FROM_BYTES = PARALLEL_FROM * 600


def worth_starting(database_url: str) -> bool:
    """Whether a report of this store might share its week with a second process (a SQLite file that big)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return False
    path = database_url[len(prefix) :].split("?", 1)[0]
    try:
        return os.path.getsize(path) >= WORTH_FROM_BYTES
    except OSError:
        return False


def _wait(jobs: Any, taken: Any, warm: str) -> None:
    """The second process: import ``warm`` (the job's module, with its libraries), then run the one job it is
    given: a function called with the pipe, the shared counter and the job's arguments."""
    importlib.import_module(warm)
    try:
        function, arguments = jobs.recv()
    except EOFError:  # the first process ended or gave up on it
        return
    function(jobs, taken, *arguments)


class Standby:
    """A second process waiting for a job. :meth:`give` hands it one (it answers through :meth:`answer`);
    :meth:`close` stops it if it is not needed, or no longer."""

    def __init__(self, warm: str = "reports.slices") -> None:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited connections
        self.taken = context.Value("i", 0)  # the next slice to take, shared by both processes
        self._jobs, theirs = context.Pipe()
        self._process = context.Process(
            target=_wait, args=(theirs, self.taken, warm), name="report-files", daemon=True
        )
        self._process.start()
        theirs.close()
        self._answered = False

    def give(self, function: Callable[..., None], *arguments: Any) -> None:
        """Run ``function(pipe, counter, *arguments)`` there (a module-level function: sent by name)."""
        self._jobs.send((function, arguments))

    def answer(self) -> Any:
        """What the job gave back (its figures, or its error as one line)."""
        try:
            found = self._jobs.recv()
        except EOFError:  # it died without a word (killed, out of memory)
            return "the process writing them ended early"
        self._answered = True
        return found

    @property
    def running(self) -> bool:
        return self._process.is_alive()

    def close(self) -> None:
        """Stop it unless it has answered (it may still be importing, or working on a job no longer wanted),
        and wait for it to end."""
        if not self._answered and self._process.is_alive():
            self._process.terminate()
        self._jobs.close()
        self._process.join()
