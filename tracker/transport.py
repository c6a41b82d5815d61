"""The guarded HTTP transport under every client (httpx; the requests-based SDKs reach it through
:mod:`tracker.http_requests`).

httpx's timeouts bound each socket operation, so a server dripping a byte a second never trips them, and it
decompresses whatever a server sends, so a gzip bomb inflates to gigabytes. :class:`GuardedTransport` gives
each request a total deadline (every read, write and connect gets at most the time left, the headers
included), reads the body itself and decompresses it with a running count that stops at the connector's
``max_response_size``, and counts the request in the connector's usage. :func:`refuse_foreign_redirect`
(an httpx response hook) stops a redirect to another host before it is followed: credentials and request
bodies never go there.
"""

from __future__ import annotations

import time
import urllib.request
import zlib
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from tracker.connector import ConnectorContext, UsageMeter
from tracker.errors import (
    DeadlineExceededError,
    RedirectRefusedError,
    ResponseLimitError,
    ResponseTooLargeError,
)

CONNECT_TIMEOUT = 10.0
ACCEPT_ENCODING = "gzip, deflate"  # what _Body can decompress within bounds
_deadline: ContextVar[float | None] = ContextVar("tracker_request_deadline", default=None)


class UndecodableResponseError(ResponseLimitError):
    """The body used a content encoding the client did not ask for, or did not decompress."""

    counter = "retried_bad_encoding"


def client_options(
    context: ConnectorContext, timeout: float, *, follow_redirects: bool = True
) -> dict[str, Any]:
    """Keyword arguments for an ``httpx.Client`` (or an SDK that passes them on) that make its requests
    guarded: total deadline ``timeout``, the context's size cap, counted in ``context.usage``, and (when
    it follows redirects) no redirect to another host."""
    return {
        "transport": GuardedTransport(
            meter=context.usage, deadline=timeout, max_bytes=context.max_response_size
        ),
        "timeout": httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        "event_hooks": {"response": [refuse_foreign_redirect]} if follow_redirects else {},
    }


def guarded_client(context: ConnectorContext, timeout: float, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` that follows same-host redirects only, with :func:`client_options`."""
    return httpx.Client(follow_redirects=True, **client_options(context, timeout), **kwargs)


def refuse_foreign_redirect(response: httpx.Response) -> None:
    """Raise RedirectRefusedError when ``response`` redirects to another host (or from https to http)."""
    if not response.has_redirect_location:
        return
    source = response.request.url
    target = source.join(response.headers["Location"])
    check_redirect(str(source), str(target))


def check_redirect(source: str, target: str) -> None:
    """RedirectRefusedError unless ``target`` is on the host (and port) of ``source``, without a downgrade
    from https to http."""
    old, new = httpx.URL(source), httpx.URL(target)
    if (old.host.lower(), _port(old)) != (new.host.lower(), _port(new)):
        raise RedirectRefusedError(
            f"{_netloc(old)} redirected the request to another host, {_netloc(new)}; not followed "
            "(credentials never leave the configured host); check the connector's base URL"
        )
    if old.scheme == "https" and new.scheme != "https":
        raise RedirectRefusedError(
            f"{_netloc(old)} redirected the request from https to {new.scheme}; not followed"
        )


class GuardedTransport(httpx.BaseTransport):
    """httpx's transport with a total deadline per request, a decompressed size cap and a request count.

    The body is read here, within the deadline, and handed on decompressed (without Content-Encoding).
    A proxy named by the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) is used
    as httpx would use it; its connections are under the same deadline.
    """

    def __init__(self, *, meter: UsageMeter, deadline: float, max_bytes: int) -> None:
        self.meter = meter
        self.deadline = deadline
        self.max_bytes = max_bytes
        self._direct = _DeadlineHTTPTransport()
        self._proxies = urllib.request.getproxies_environment()
        self._proxied: dict[str, _DeadlineHTTPTransport] = {}

    def _transport(self, url: httpx.URL) -> httpx.HTTPTransport:
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return self._direct
        if proxy not in self._proxied:
            self._proxied[proxy] = _DeadlineHTTPTransport(proxy=proxy)
        return self._proxied[proxy]

    def close(self) -> None:
        for transport in (self._direct, *self._proxied.values()):
            transport.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.meter.request()
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        host = _netloc(request.url)
        deadline = time.monotonic() + self.deadline
        token = _deadline.set(deadline)
        try:
            response = self._transport(request.url).handle_request(request)
            try:
                body = _Body(self.max_bytes, response.headers.get("Content-Encoding"), host)
                for chunk in response.iter_raw():
                    body.feed(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the deadline passed", request=request)
                content = body.finish()
            finally:
                response.close()
        except httpx.TimeoutException:
            if time.monotonic() < deadline - 0.01:  # an ordinary timeout, before the deadline
                raise
            raise DeadlineExceededError(
                f"no complete answer from {host} within {self.deadline:g}s (the request's deadline)"
            ) from None
        finally:
            _deadline.reset(token)
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        kept: dict[str, Any] = {
            key: response.extensions[key]
            for key in ("http_version", "reason_phrase")
            if key in response.extensions
        }
        return httpx.Response(
            response.status_code, headers=headers, content=content, extensions=kept, request=request
        )


class _DeadlineHTTPTransport(httpx.HTTPTransport):
    """httpx's transport with every socket operation bounded by the current request's deadline."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpcore's pool takes a network backend (its documented extension point); httpx builds the pool
        # itself, so the deadline backend is put under the one it built.
        pool = self._pool
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError(
                "this httpx/httpcore version keeps no network backend; pin the locked versions"
            )
        pool._network_backend = _DeadlineBackend(backend)


class _Body:
    """A response body decompressed as it arrives, failing as soon as it outgrows ``limit`` bytes."""

    def __init__(self, limit: int, encoding: str | None, host: str) -> None:
        self.limit = limit
        self.host = host
        self.parts: list[bytes] = []
        self.size = 0
        codings = [
            c.strip().lower()
            for c in (encoding or "").split(",")
            if c.strip().lower() not in ("", "identity")
        ]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise UndecodableResponseError(
                f"the answer from {host} is encoded as {encoding!r}, which was not asked for"
            )
        self.coding = codings[0] if codings else None
        self.inflater: Any = self._inflater(raw=False) if self.coding else None
        self.started = False

    def _inflater(self, raw: bool) -> Any:
        if raw:
            return zlib.decompressobj(-zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header, detected

    def feed(self, data: bytes) -> None:
        if self.inflater is None:
            self._add(data)
            return
        pending = data
        while pending:
            try:
                out = self.inflater.decompress(pending, self.limit - self.size + 1)
            except zlib.error as exc:
                if self.coding == "deflate" and not self.started:
                    # some servers send raw deflate under "deflate"
                    self.inflater, self.started = self._inflater(raw=True), True
                    continue
                raise UndecodableResponseError(
                    f"the answer from {self.host} did not decompress ({exc})"
                ) from None
            self.started = True
            self._add(out)
            pending = self.inflater.unconsumed_tail
            if self.inflater.eof and self.inflater.unused_data:  # another gzip member follows
                pending, self.inflater = self.inflater.unused_data, self._inflater(raw=False)

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.parts.clear()
            raise ResponseTooLargeError(
                f"the answer from {self.host} is larger than {_size(self.limit)} (max_response_size)"
            )
        if data:
            self.parts.append(data)

    def finish(self) -> bytes:
        if self.inflater is not None:
            self._add(self.inflater.flush(self.limit - self.size + 1))
        return b"".join(self.parts)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation gets at most the time left before the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self.stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self.backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the time left before the current request's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(url.scheme)


def _netloc(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _size(count: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit}"
    return f"{count} bytes"
