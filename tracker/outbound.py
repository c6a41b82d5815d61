"""Outbound HTTP to third-party sites (not platform APIs): shortener lookups, page checks.

A request here reads the status line and headers, and a body only when asked to and never more than the
``body_limit`` asked for (a page check reads at most 1 MB), within one total deadline (name lookup,
connection, TLS, headers and body together). The host's addresses are resolved here and every one is
checked before connecting to it, so a host that resolves (or rebinds) to a loopback, private, link-local or
otherwise non-public address is refused. ``[tracker] connect_to`` sends a host's requests to another address
instead (a staging server, a test server), keeping the path and the ``Host`` header; such an address is
trusted. Requests to one host are spaced out (a polite per-host rate), and every request names the tool in its
``User-Agent``.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import quote, urljoin, urlsplit

from tracker.urls import normalize_host

USER_AGENT = "mention-tracker/0.1 (+https://github.com/mention-tracker)"
MAX_HEADER_BYTES = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"

Resolver = Callable[[str, int], list[str]]
"""Host name and port to the IP addresses to try, in order (``socket.getaddrinfo`` by default)."""


class OutboundError(Exception):
    """A request to a third-party site failed (no answer in time, a broken answer, a refused address)."""


class RefusedError(OutboundError):
    """The request was not sent: not an http(s) URL, or the host is (or resolves to) a non-public address."""


@dataclass(frozen=True)
class Response:
    """The status and headers of an answer (names lower-case; repeated headers joined with ``", "``)."""

    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    """The first bytes of the body, when the request asked for them (``body_limit``)."""

    @property
    def location(self) -> str | None:
        """The absolute URL a redirect (3xx with ``Location``) points to, else None."""
        target = self.headers.get("location", "").strip()
        if not (300 <= self.status < 400) or not target:
            return None
        return urljoin(self.url, target)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``host``, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a public unicast address (not loopback, private, link-local, shared, reserved,
    multicast or unspecified); IPv4 addresses mapped into IPv6 are judged as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@cache
def _tls_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")


class Outbound:
    """Sends header-only requests to third-party sites; see the module documentation for the rules.

    ``sleep`` waits between two requests to one host (pass an interruptible one, e.g.
    ``ConnectorContext.sleep``); ``allow_private`` lifts the address check for every host.
    """

    def __init__(
        self,
        *,
        connect_to: Mapping[str, str] | None = None,
        user_agent: str = USER_AGENT,
        timeout: float = 10.0,
        per_host_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        resolver: Resolver = system_resolver,
        allow_private: bool = False,
    ) -> None:
        self.connect_to = {host: urlsplit(base) for host, base in (connect_to or {}).items()}
        self.user_agent = user_agent
        self.timeout = timeout
        self.per_host_interval = per_host_interval
        self.allow_private = allow_private
        self._sleep = sleep
        self._monotonic = monotonic
        self._resolver = resolver
        self._turns: dict[str, float] = {}
        self._lock = threading.Lock()

    def head(self, url: str) -> Response:
        return self.request("HEAD", url)

    def request(self, method: str, url: str, *, body_limit: int = 0) -> Response:
        """Send ``method`` to ``url`` and read the answer's status and headers, and up to ``body_limit`` bytes
        of its body (none by default); RefusedError or OutboundError when that cannot be done within the
        deadline."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise RefusedError(f"{url}: only http and https links are followed")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise RefusedError(f"{url}: the port is not a number from 1 to 65535") from None
        host = normalize_host(parts.hostname or "")
        if host is None:
            raise RefusedError(f"{url}: no valid host")
        host_header = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
        if ":" in host:
            host_header = f"[{host}]" if port == _DEFAULT_PORTS[scheme] else f"[{host}]:{port}"
        target = quote(parts.path or "/", safe=_PATH_SAFE) + (
            f"?{quote(parts.query, safe=_PATH_SAFE + '=&')}" if parts.query else ""
        )
        mapped = self.connect_to.get(host)
        if mapped is not None:
            connect_scheme, connect_host = mapped.scheme, mapped.hostname or ""
            connect_port = mapped.port or _DEFAULT_PORTS[connect_scheme]
        else:
            connect_scheme, connect_host, connect_port = scheme, host, port
        self._wait_turn(host)
        deadline = self._monotonic() + self.timeout
        addresses = self._addresses(connect_host, connect_port, deadline, trusted=mapped is not None)
        sock = self._connect(addresses, connect_port, deadline, url)
        # The deadline covers the whole exchange: a server that trickles bytes is cut off when it passes.
        held = [sock]  # TLS takes the socket over: the watchdog shuts whichever is current
        watchdog = threading.Timer(max(0.0, deadline - self._monotonic()), lambda: _shut(held[-1]))
        watchdog.daemon = True
        watchdog.start()
        try:
            if connect_scheme == "https":
                sock.settimeout(max(0.001, deadline - self._monotonic()))
                sock = _tls_context().wrap_socket(sock, server_hostname=host)
                held.append(sock)
            request = (
                f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {self.user_agent}\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n"
            )
            sock.settimeout(max(0.001, deadline - self._monotonic()))
            sock.sendall(request.encode("ascii"))
            head, rest = self._read_head(sock, deadline, url)
            answer = self._with_body(sock, method, _parse_head(head, url), rest, body_limit, deadline)
        except (OSError, ssl.SSLError) as exc:
            if self._monotonic() >= deadline:
                raise OutboundError(f"{url}: no answer within {self.timeout:g}s") from exc
            raise OutboundError(f"{url}: {_describe(exc)}") from exc
        finally:
            watchdog.cancel()
            sock.close()
        return answer

    def _wait_turn(self, host: str) -> None:
        with self._lock:
            now = self._monotonic()
            turn = max(now, self._turns.get(host, now))
            self._turns[host] = turn + self.per_host_interval
        if turn > now:
            self._sleep(turn - now)

    def _addresses(self, host: str, port: int, deadline: float, *, trusted: bool) -> list[str]:
        lookup = _LOOKUPS.submit(self._resolver, host, port)
        try:
            addresses = lookup.result(timeout=max(0.001, deadline - self._monotonic()))
        except FutureTimeout:
            raise OutboundError(f"{host}: the name lookup took longer than {self.timeout:g}s") from None
        except (OSError, UnicodeError) as exc:
            raise OutboundError(f"{host}: the name does not resolve ({_describe(exc)})") from exc
        if not addresses:
            raise OutboundError(f"{host}: the name does not resolve")
        if not (trusted or self.allow_private):
            for address in addresses:
                if not is_public_address(address):
                    raise RefusedError(
                        f"{host} resolves to {address}, not a public address; refused "
                        "(a host named in [tracker] connect_to may point at one)"
                    )
        return addresses

    def _connect(self, addresses: list[str], port: int, deadline: float, url: str) -> socket.socket:
        problem: OSError | None = None
        for address in addresses:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            try:
                return socket.create_connection((address, port), timeout=remaining)
            except OSError as exc:
                problem = exc
        if problem is None:
            raise OutboundError(f"{url}: no connection within {self.timeout:g}s")
        raise OutboundError(f"{url}: cannot connect ({_describe(problem)})")

    def _read_head(self, sock: socket.socket, deadline: float, url: str) -> tuple[bytes, bytes]:
        """The status line and headers, and what arrived after them."""
        received = bytearray()
        while True:
            end = received.find(b"\r\n\r\n")
            if end >= 0:
                return bytes(received[: end + 2]), bytes(received[end + 4 :])
            if len(received) > MAX_HEADER_BYTES:
                raise OutboundError(f"{url}: the answer's headers are longer than {MAX_HEADER_BYTES} bytes")
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise OutboundError(f"{url}: no answer within {self.timeout:g}s")
            sock.settimeout(remaining)
            chunk = sock.recv(8192)
            if not chunk:
                if self._monotonic() >= deadline:  # the watchdog shut it
                    raise OutboundError(f"{url}: no answer within {self.timeout:g}s")
                raise OutboundError(f"{url}: the connection closed before the headers ended")
            received += chunk

    def _with_body(
        self, sock: socket.socket, method: str, answer: Response, received: bytes, limit: int, deadline: float
    ) -> Response:
        """``answer`` with up to ``limit`` bytes of its body, when asked for and there is one."""
        if limit <= 0 or method == "HEAD" or answer.status in (204, 304):
            return answer
        body = self._read_body(sock, answer, received, limit, deadline, answer.url)
        return Response(answer.url, answer.status, answer.headers, body)

    def _read_body(
        self, sock: socket.socket, answer: Response, received: bytes, limit: int, deadline: float, url: str
    ) -> bytes:
        """Up to ``limit`` bytes of the body (of its decoded chunks, for a chunked one); what is beyond the
        limit is never read."""
        chunked = "chunked" in answer.headers.get("transfer-encoding", "").lower()
        length = answer.headers.get("content-length", "").strip()
        wanted = int(length) if length.isdigit() and not chunked else None
        # A chunked body carries its sizes in the stream: its raw bytes are read until the decoded ones reach
        # the limit, up to twice the limit for a body cut into tiny chunks.
        raw_limit = 2 * limit if chunked else (limit if wanted is None else min(limit, wanted))
        buffer = bytearray(received[:raw_limit])
        decoded_at = 0
        while len(buffer) < raw_limit:
            if chunked and len(buffer) - decoded_at >= 65536:
                decoded_at = len(buffer)
                parts, ended = _chunks(bytes(buffer))
                if ended or sum(len(part) for part in parts) >= limit:
                    break
            elif chunked and _chunks_ended(buffer):
                break
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise OutboundError(f"{url}: no answer within {self.timeout:g}s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(min(65536, raw_limit - len(buffer)))
            except TimeoutError:
                raise OutboundError(f"{url}: no answer within {self.timeout:g}s") from None
            if not chunk:
                if self._monotonic() >= deadline:  # the watchdog shut it
                    raise OutboundError(f"{url}: no answer within {self.timeout:g}s")
                break
            buffer += chunk
        body = _dechunk(bytes(buffer)) if chunked else bytes(buffer)
        return body[:limit]


def _chunks(data: bytes) -> tuple[list[bytes], bool]:
    """The chunks of a chunked body read so far (the last one possibly cut short) and whether it ended."""
    parts: list[bytes] = []
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return parts, False
        size_text = data[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return parts, True  # not chunked after all: keep what was decoded
        if size == 0:
            return parts, True
        start = line_end + 2
        parts.append(data[start : start + size])
        if start + size + 2 > len(data):
            return parts, False
        position = start + size + 2


def _chunks_ended(data: bytearray) -> bool:
    return data.endswith(b"0\r\n\r\n") and _chunks(bytes(data))[1]


def _dechunk(data: bytes) -> bytes:
    return b"".join(_chunks(data)[0])


def _parse_head(head: bytes, url: str) -> Response:
    status_line, _, rest = head.partition(b"\r\n")
    version, _, tail = status_line.partition(b" ")
    code = tail[:3]
    if not version.startswith(b"HTTP/") or not code.isdigit():
        raise OutboundError(f"{url}: the answer is not HTTP ({status_line[:60]!r})")
    try:
        message = http.client.parse_headers(io.BytesIO(rest + b"\r\n"))
    except http.client.HTTPException as exc:
        raise OutboundError(f"{url}: malformed headers ({_describe(exc)})") from exc
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(url, int(code), headers)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
