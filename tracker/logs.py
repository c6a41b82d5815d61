"""Logging set-up: readable text or JSON lines on stderr, with secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
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


def setup_logging(log_format: str = "text", *, debug: bool = False) -> None:
    """Send the tracker's logs to stderr in ``text`` or ``json`` format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    handler.addFilter(_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("apscheduler.scheduler").setLevel(
        logging.DEBUG if debug else logging.ERROR
    )  # skipped runs are normal
    for noisy in ("httpx", "httpcore", "urllib3", "prawcore", "websockets", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def redact_secrets(secrets: Iterable[str]) -> None:
    """Register secret values (from the config) that must never appear in logs."""
    _filter.secrets = sorted(
        set(_filter.secrets) | {s for s in secrets if len(s) >= 4}, key=len, reverse=True
    )
