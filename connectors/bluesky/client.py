"""An ``atproto.Client`` logged in once and kept logged in, made safe to run unattended.

Bluesky allows 30 logins (``createSession``) per 5 minutes and 300 a day per account, so the session is
kept in ``<data_dir>/bluesky-<name>.session.json`` (mode 0600, with the handle and ``api_base_url`` it
belongs to) and reused across passes and restarts. The client refreshes the access token itself before it
expires; a session the server no longer accepts is replaced once per call, by the session file when another
instance already renewed it, else by a new login. Requests go through the guarded transport (total deadline,
size cap, no redirect to another host: the login's password never follows a redirect). Faults are classified
here and retried by :class:`tracker.retry.Retrier`: rate limits wait for ``retry-after`` (within a bound);
network faults, cut-off answers, 5xx and malformed answers back off; every wait goes through
``context.sleep``.

Queries go through ``Client.invoke_query`` with the SDK's parameter models and come back as the server's
JSON, so one odd post fails alone instead of failing the model of the whole page.

Import this module lazily; atproto itself is imported only when the first call is made.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tracker.connector import ConnectorContext
from tracker.errors import AuthError, ConnectorError, ResponseLimitError, connection_problem, is_dns_failure
from tracker.retry import Retrier, RetryPolicy, TransientError
from tracker.transport import client_options

T = TypeVar("T")
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing", "AuthenticationRequired"})


class BlueskyRequestError(ConnectorError):
    """The server rejected a query as invalid (HTTP 400); ``error`` is its XRPC error name."""

    def __init__(self, message: str, error: str | None) -> None:
        super().__init__(message)
        self.error = error


class BlueskyClient:
    """XRPC queries as the configured account, through one logged-in ``atproto.Client``."""

    def __init__(
        self,
        *,
        name: str,
        handle: str,
        password: str,
        base_url: str,
        timeout: float,
        session_file: Path,
        context: ConnectorContext,
        log: logging.Logger,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name  # the config table, for hints
        self.handle = handle
        self._password = password
        self.base_url = base_url
        self.timeout = timeout
        self.session_file = session_file
        self.context = context
        self.log = log
        self.retrier = Retrier(context, retry, log=log)
        self.logins = 0
        self._client: Any = None
        self._session_in_use: str | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.request.close()
            self._client = None

    # Queries

    def query(self, nsid: str, params: Mapping[str, Any], params_model: type[Any]) -> dict[str, Any]:
        """Call the XRPC query ``nsid`` and return its JSON object.

        Raises BlueskyRequestError for a query the server rejects (400), AuthError for rejected credentials,
        ConnectorError once retries are spent.
        """
        from atproto_client.exceptions import BadRequestError, UnauthorizedError

        model = params_model(**params)
        renewed = False
        while True:
            client = self._logged_in()

            def call(client: Any = client) -> dict[str, Any]:
                return _json_object(client.invoke_query(nsid, params=model))

            try:
                return self._attempts(call, nsid)
            except (BadRequestError, UnauthorizedError) as exc:
                if _is_session_problem(exc) and not renewed:
                    renewed = True
                    self.log.info(
                        "Bluesky no longer accepts the saved session (%s); renewing it", _reason(exc)
                    )
                    self._renew(client)
                    continue
                if isinstance(exc, UnauthorizedError):
                    raise AuthError(f"Bluesky refused {nsid} for {self.handle}: {_reason(exc)}") from exc
                raise BlueskyRequestError(f"Bluesky rejected {nsid}: {_reason(exc)}", _error(exc)) from exc

    def _attempts(self, call: Callable[[], T], what: str) -> T:
        """Run one request through the retry policy; Bluesky's faults classified (rate limits, network
        faults and cut-off answers, 5xx, malformed or oversized answers are transient)."""
        from atproto_client.exceptions import (
            InvokeTimeoutError,
            ModelError,
            NetworkError,
            RateLimitExceededError,
            RequestException,
        )

        def attempt() -> T:
            try:
                return call()
            except RateLimitExceededError as exc:
                raise TransientError("rate limited (HTTP 429)", "retried_429", _rate_limit_wait(exc)) from exc
            except InvokeTimeoutError as exc:
                raise TransientError(f"no answer in time: {_reason(exc)}", "retried_timeout") from exc
            except NetworkError as exc:  # connection faults, and HTTP 502, 409 and 413
                status = exc.response.status_code if exc.response is not None else 0
                counter = "retried_5xx" if status >= 500 else "retried_connection"
                reason = (
                    connection_problem(exc, self.base_url)
                    if is_dns_failure(exc)
                    else f"network error: {_reason(exc)}"
                )
                raise TransientError(reason, counter) from exc
            except RequestException as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if status < 500:
                    raise ConnectorError(f"Bluesky {what} failed: HTTP {status} {_reason(exc)}") from exc
                raise TransientError(f"HTTP {status} from the server", "retried_5xx") from exc
            except ResponseLimitError as exc:
                raise TransientError(str(exc), exc.counter) from exc
            except (
                httpx.TransportError
            ) as exc:  # e.g. a cut-off body (RemoteProtocolError), which atproto passes on
                raise TransientError(
                    f"connection failed: {type(exc).__name__}: {_reason(exc)}", "retried_connection"
                ) from exc
            except (ValueError, ModelError) as exc:
                reason = f"malformed answer ({' '.join(str(exc).split())[:120]})"
                raise TransientError(reason, "retried_malformed") from exc

        return self.retrier.call(f"Bluesky {what}", attempt)

    # The session

    def _logged_in(self) -> Any:
        if self._client is not None:
            return self._client
        from atproto import Client
        from atproto_client.request import Request

        request = Request(**client_options(self.context, self.timeout))
        request.add_additional_header("User-Agent", self.context.user_agent)
        client = Client(base_url=self.base_url, request=request)
        client.on_session_change(self._session_changed)
        try:
            saved = self._read_saved()
            if saved is not None:
                client.login(
                    session_string=saved, fetch_bsky_profile=False
                )  # no request: the tokens are reused
                self._session_in_use = saved
            else:
                self._login(client)
        except BaseException:
            request.close()
            raise
        self._client = client
        return client

    def _renew(self, client: Any) -> None:
        """Replace a session the server refused: with the saved one if another instance renewed it, else log in."""
        saved = self._read_saved()
        if saved is not None and saved != self._session_in_use:
            client.login(session_string=saved, fetch_bsky_profile=False)
            self._session_in_use = saved
            return
        self._login(client)

    def _login(self, client: Any) -> None:
        from atproto_client.exceptions import BadRequestError, UnauthorizedError

        try:
            self._attempts(
                lambda: client.login(self.handle, self._password, fetch_bsky_profile=False), "createSession"
            )
        except (UnauthorizedError, BadRequestError) as exc:
            hint = (
                "use an app password (Settings > Privacy and security > App passwords)"
                if _error(exc) == "AuthFactorTokenRequired"
                else f"check connectors.{self.name}.handle and app_password"
            )
            raise AuthError(f"Bluesky rejected the login of {self.handle}: {_reason(exc)}; {hint}") from exc
        self.logins += 1
        self._session_in_use = client.export_session_string()

    def _read_saved(self) -> str | None:
        """The saved session string if it belongs to this handle and server and can still be refreshed."""
        try:
            saved = json.loads(self.session_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self.log.warning("ignoring the unreadable Bluesky session file %s: %s", self.session_file, exc)
            return None
        if not isinstance(saved, dict) or (saved.get("handle"), saved.get("api_base_url")) != (
            self.handle, self.base_url,
        ):  # fmt: skip
            return None
        session = saved.get("session")
        if not isinstance(session, str) or not _refreshable(session):
            return None
        return session

    def _session_changed(self, event: Any, session: Any) -> None:
        if event.value == "import":
            return  # read from the file just now
        self._save(session.export())

    def _save(self, session: str) -> None:
        self._session_in_use = session
        folder = self.session_file.parent
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{self.session_file.name}.{os.getpid()}.tmp"
        payload = {
            "handle": self.handle,
            "api_base_url": self.base_url,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "session": session,
        }
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds tokens
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(payload, file)
        temporary.replace(self.session_file)


def _refreshable(session_string: str) -> bool:
    """Whether a session string decodes and its refresh token has not expired."""
    from atproto_client.client.session import Session

    try:
        session = Session.decode(session_string)
        expires = session.refresh_jwt_payload.exp
        session.access_jwt_payload  # noqa: B018 - decodes it: the client needs it readable
    except Exception:  # any damage: log in afresh
        return False
    return expires is None or expires > time.time() + 60


def _json_object(response: Any) -> dict[str, Any]:
    content = response.content
    if not isinstance(content, dict):
        raise ValueError("the answer is not a JSON object")
    return content


def _error(exc: Any) -> str | None:
    content = getattr(getattr(exc, "response", None), "content", None)
    error = getattr(content, "error", None)
    return error if isinstance(error, str) else None


def _is_session_problem(exc: Any) -> bool:
    status = exc.response.status_code if getattr(exc, "response", None) is not None else 0
    return status == 401 or _error(exc) in _SESSION_ERRORS


def _reason(exc: Any) -> str:
    content = getattr(getattr(exc, "response", None), "content", None)
    message = getattr(content, "message", None) or getattr(content, "error", None)
    return " ".join(str(message or exc or type(exc).__name__).split())[:300]


def _rate_limit_wait(exc: Any) -> float | None:
    wait = exc.retry_after
    if wait is None and exc.reset_at is not None:
        wait = max(0.0, (exc.reset_at - datetime.now(UTC)).total_seconds())
    return float(wait) if wait is not None else None
