"""A stand-in for the public link shorteners: one server on 127.0.0.1 that the tracker reaches through
``[tracker] connect_to`` (bit.ly, buff.ly, ... all mapped to it), answering by the ``Host`` header.

``links`` maps ``(host, path)`` to ``(status, Location)``; anything else is a 404. It keeps every request it
received, so tests check which hosts were contacted (never a target), the method, path and headers. It can
refuse HEAD (405, for the GET fallback), answer a GET with a body that never ends (a client that reads it
hangs), or trickle its headers a byte at a time.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LoopbackServer, Seen


class FakeShortener(LoopbackServer):
    def __init__(self) -> None:
        self.links: dict[tuple[str, str], tuple[int, str | None]] = {}
        self.requests: list[Seen] = []
        self.no_head: set[str] = set()  # hosts that answer HEAD with 405
        self.endless_body = False
        self.trickle = False
        self.huge_headers = False
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                with fake._lock:
                    fake.requests.append(
                        Seen(self.command, host, self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                if fake.trickle:  # never finishes its headers: only the client's deadline ends this
                    try:
                        for byte in b"HTTP/1.1 301 Moved\r\nX-Slow: " + b"x" * 10_000:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.02)
                    except OSError:
                        pass
                    return
                if self.command == "HEAD" and host in fake.no_head:
                    status, location = 405, None
                else:
                    status, location = fake.links.get((host, self.path), (404, None))
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                if fake.huge_headers:
                    for n in range(200):
                        self.send_header(f"X-Filler-{n}", "x" * 1000)
                if fake.endless_body and self.command == "GET":
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"<p>" + b"x" * 65536)
                    except OSError:
                        return
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def redirect(self, short: str, location: str, status: int = 301) -> None:
        """``short`` (``host/path``) answers ``status`` with ``Location: location``."""
        host, _, path = short.partition("/")
        self.links[(host, "/" + path)] = (status, location)

    def hosts_contacted(self) -> list[str]:
        return [seen.host for seen in self.requests]


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
