"""Exceptions shared across the tracker. Each carries a one-line message meant for the user."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class TrackerError(Exception):
    """Base of every error the CLI reports as one line; ``exit_code`` is what the process exits with."""

    exit_code = 1


class ConfigError(TrackerError):
    """The configuration (file, environment or command line) is wrong; every problem is listed."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ConnectorError(TrackerError):
    """A connector could not finish its pass (after retries); the run is recorded as failed."""


class AuthError(ConnectorError):
    """The platform rejected the credentials (401/403): a configuration problem, not retried."""


class ResponseLimitError(ConnectorError):
    """A response broke a limit of the guarded clients: too large, or not complete within the deadline.

    Classified like a malformed response (retried); ``counter`` names the retried-fault counter.
    """

    counter = "retried_limit"


class ResponseTooLargeError(ResponseLimitError):
    """The decompressed body grew past the connector's ``max_response_size``."""

    counter = "retried_too_large"


class DeadlineExceededError(ResponseLimitError):
    """The response was not complete within the request's total deadline (counted with the timeouts: the
    deadline is the connector's ``timeout``)."""

    counter = "retried_timeout"


class RedirectRefusedError(ConnectorError):
    """An API call was redirected to another host; never followed (credentials must not go there)."""


class Interrupted(TrackerError):
    """A shutdown was requested while waiting; the current pass stops cleanly."""


class StoreError(TrackerError):
    """The database cannot be opened or written."""

    exit_code = 2


_DNS_TEXT = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname provided",
    "no address associated with hostname",
    "getaddrinfo failed",
    "failed to resolve",
    "name resolution",
)


def connection_problem(exc: BaseException, url: str) -> str:
    """One line for a request that never got an answer from ``url`` (a URL or a host name).

    A failed name lookup, however deeply the client library wrapped it, says ``cannot resolve <host> (no
    network?)`` instead of errno text; anything else is ``connection failed: <reason>``.
    """
    host = urlsplit(url).hostname if "://" in url else url
    if is_dns_failure(exc):
        return f"cannot resolve {host or url} (no network?)"
    text = " ".join(str(exc).split())[:200]
    return f"connection failed: {text or type(exc).__name__}"


def is_dns_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) is a failed host name lookup."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return True
        if any(text in str(current).lower() for text in _DNS_TEXT):
            return True
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return False
