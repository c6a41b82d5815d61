"""Running `tracker` as a real process in tests, and waiting for what it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class TrackerProcess:
    """``python -m tracker.cli --config CONFIG ARGS...`` with its output in files.

    Use it as a context manager (or call :meth:`stop`): leaving kills the process if it still runs and closes
    its log, whichever way the test went."""

    def __init__(self, config: Path, *args: str, log_name: str = "tracker") -> None:
        self.log = config.parent / f"{log_name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "--config", str(config), *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def __enter__(self) -> TrackerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._out.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text()


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
