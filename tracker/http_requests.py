"""The guarded transport for SDKs built on requests (tweepy, praw): a ``requests.Session`` whose adapter sends
through :class:`tracker.transport.GuardedTransport`, so their requests get the same total deadline, size cap
and request count as every other client, and whose redirects never go to another host.

The SDKs take a session through their documented hooks (tweepy's ``Client.session``, prawcore's
``requestor_kwargs``); nothing of theirs is patched. Only import this module lazily: it imports requests.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urljoin

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from tracker.connector import ConnectorContext
from tracker.errors import RedirectRefusedError
from tracker.transport import CONNECT_TIMEOUT, check_redirect, client_options


class GuardedAdapter(BaseAdapter):
    """A requests transport adapter that sends through a guarded httpx client (redirects not followed:
    the session decides)."""

    def __init__(self, context: ConnectorContext, timeout: float) -> None:
        super().__init__()
        self.client = httpx.Client(
            follow_redirects=False, **client_options(context, timeout, follow_redirects=False)
        )

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            reply = self.client.request(
                str(request.method),
                str(request.url),
                headers={name: _text(value) for name, value in request.headers.items()},
                content=_content(request.body),
                timeout=_timeout(timeout, self.client.timeout),
            )
        except httpx.ConnectTimeout as exc:
            raise requests.ConnectTimeout(str(exc), request=request) from exc
        except httpx.TimeoutException as exc:
            raise requests.ReadTimeout(str(exc), request=request) from exc
        except httpx.TransportError as exc:
            raise requests.ConnectionError(f"{type(exc).__name__}: {exc}", request=request) from exc
        response = requests.Response()
        response.status_code = reply.status_code
        response.headers = CaseInsensitiveDict(reply.headers.items())
        response.raw = io.BytesIO(reply.content)
        response.reason = reply.reason_phrase
        response.url = str(request.url)
        response.encoding = get_encoding_from_headers(response.headers)
        response.request = request
        return response

    def close(self) -> None:
        self.client.close()


class GuardedSession(requests.Session):
    """A requests session with the guarded adapter for http and https; it follows same-host redirects only."""

    def __init__(self, context: ConnectorContext, timeout: float) -> None:
        super().__init__()
        adapter = GuardedAdapter(context, timeout)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            check_redirect(str(resp.url), urljoin(str(resp.url), target))
        return target

    def resolve_redirects(
        self, resp: requests.Response, req: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> Generator[Any, None, None]:
        if not kwargs.get("yield_requests"):
            yield from super().resolve_redirects(resp, req, *args, **kwargs)
            return
        # Not following (allow_redirects=False): requests only describes the next request; a foreign one
        # is simply not described. The caller sees the redirect response itself (prawcore reads Location).
        try:
            yield from super().resolve_redirects(resp, req, *args, **kwargs)
        except RedirectRefusedError:
            return


def _timeout(timeout: Any, default: httpx.Timeout) -> httpx.Timeout:
    """requests' ``timeout`` (seconds, or (connect, read)) as httpx's."""
    if timeout is None:
        return default
    if isinstance(timeout, tuple):
        connect, read = timeout
        return httpx.Timeout(read, connect=connect if connect is not None else CONNECT_TIMEOUT)
    return httpx.Timeout(float(timeout))


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _content(body: Any) -> Any:
    """A prepared body as httpx takes it (requests may hold text)."""
    return body.encode("utf-8") if isinstance(body, str) else body
