"""Logging set-up: readable text or JSON lines on stderr, with secrets redacted and repeated warnings
collapsed."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Replaces every configured secret value in log messages with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the message, the traceback (formatted here, so formatters reuse the clean text) and any
        text ``extra`` fields."""
        if self.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = _TRACEBACKS.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
            for key, value in vars(record).items():
                if key not in _STANDARD and isinstance(value, str):
                    setattr(record, key, self.redact(value))
        return True


_TRACEBACKS = logging.Formatter()

REPEAT_WINDOW = 300.0  # seconds


@dataclass
class _Repeats:
    started: float
    count: int = 0
    last: logging.LogRecord | None = None


class RepeatFilter(logging.Filter):
    """Lets the first of a run of like warnings through and counts the rest for ``window`` seconds.

    Warnings (and errors) are alike when the same logger logs them with the same message template and first
    argument (which names the connector, URL or endpoint), whatever the rest: offline, every attempt on a
    Jetstream endpoint or an API says the same thing with a different errno or retry number. When the
    window is over, :meth:`flush` (the daemon calls it every few seconds) or the next like warning says how
    many were held back, as one line with a ``repeated`` count.
    """

    def __init__(self, window: float = REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self.enabled = True
        self.handler: logging.Handler | None = None
        self._runs: dict[tuple[str, int, str], _Repeats] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.enabled or record.levelno < logging.WARNING or hasattr(record, "repeated"):
            return True
        first = record.args[0] if isinstance(record.args, tuple) and record.args else ""
        key = (record.name, record.levelno, f"{record.msg}\0{first}")
        now = self.clock()
        with self._lock:
            run = self._runs.get(key)
            if run is not None and now - run.started < self.window:
                run.count += 1
                run.last = record
                return False
            self._runs[key] = _Repeats(now)
        if run is not None and run.count:
            record.msg = f"{record.getMessage()} ({_held_back(run.count, now - run.started)})"
            record.args = None
            record.repeated = run.count
        return True

    def reset(self) -> None:
        """Forget the runs counted so far (a new handler starts counting afresh)."""
        with self._lock:
            self._runs.clear()

    def flush(self, *, everything: bool = False) -> None:
        """Write one summary line for each run of like warnings whose window is over (``everything``: for
        every run, as the process ends)."""
        now = self.clock()
        due = []
        with self._lock:
            for key, run in list(self._runs.items()):
                if everything or now - run.started >= self.window:
                    del self._runs[key]
                    if run.count and run.last is not None:
                        due.append(run)
        for run in due:
            assert run.last is not None
            summary = logging.makeLogRecord(vars(run.last))
            summary.created = time.time()  # written now, about the last one held back
            summary.msecs = summary.created % 1 * 1000
            summary.msg = f"{run.last.getMessage()} ({_held_back(run.count, now - run.started)})"
            summary.args = None
            summary.repeated = run.count
            if self.handler is not None:
                self.handler.handle(summary)


def _held_back(count: int, span: float) -> str:
    minutes = max(1, round(span / 60))
    return f"{count} more like this in the last {minutes} min"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, default=str)


_filter = RedactingFilter()
_repeats = RepeatFilter()


def setup_logging(log_format: str = "text", *, debug: bool = False) -> None:
    """Send the tracker's logs to stderr in ``text`` or ``json`` format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    handler.addFilter(_repeats)  # before redaction, so the summary line is redacted too
    handler.addFilter(_filter)
    _repeats.enabled = not debug  # --debug shows everything
    _repeats.reset()  # warnings held back for an earlier handler are not this one's to report
    _repeats.handler = handler
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("apscheduler.scheduler").setLevel(
        logging.DEBUG if debug else logging.ERROR
    )  # skipped runs are normal
    for noisy in (
        "httpx",
        "httpcore",
        "urllib3",
        "prawcore",
        "websockets",
        "apscheduler",
        "alembic",
        "apprise",
    ):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def redact_secrets(secrets: Iterable[str]) -> None:
    """Register secret values (from the config) that must never appear in logs."""
    _filter.secrets = sorted(
        set(_filter.secrets) | {s for s in secrets if len(s) >= 4}, key=len, reverse=True
    )


def flush_repeats(*, everything: bool = False) -> None:
    """Log how many like warnings were held back in each window that is over (see :class:`RepeatFilter`)."""
    _repeats.flush(everything=everything)
