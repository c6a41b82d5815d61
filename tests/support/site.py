"""A stand-in for the user's own web site: one server on 127.0.0.1 that the page checker reaches through
``[tracker] connect_to`` (example.com, www.example.com, ... all mapped to it), answering by ``Host`` and path.

``pages`` maps ``(host, path)`` to a :class:`Page`; anything else is a 404 page. It answers HEAD and GET, keeps
every request it received (method, host, path, headers), and counts the bytes of each body it managed to send.
A page may hang (never answer until the server stops), as a site that times out does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LoopbackServer, Seen


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    chunked: bool = False


def html_page(title: str, head: str = "", body: str = "<p>hello</p>") -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>".encode()
    )


class FakeSite(LoopbackServer):
    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], Page] = {}
        self.requests: list[Seen] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                host = (self.headers.get("Host") or "").split(":", 1)[0].lower()
                path = self.path.split("?", 1)[0]
                with site._lock:
                    site.requests.append(
                        Seen(
                            self.command,
                            host,
                            path,
                            {k.lower(): v for k, v in self.headers.items()},
                        )
                    )
                page = site.pages.get((host, path)) or Page(
                    404, b"<html><head><title>Not found</title></head></html>"
                )
                if page.hang:
                    site.released.wait(30)
                    return
                self.send_response(page.status)
                headers = {"Content-Type": "text/html; charset=utf-8", "Connection": "close", **page.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if page.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    if page.chunked:
                        for start in range(0, len(page.body), 1000):
                            piece = page.body[start : start + 1000]
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        for start in range(0, len(page.body), 65536):
                            self.wfile.write(page.body[start : start + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client read what it wanted and closed

            do_GET = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def seen(self, host: str, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.host == host and r.path == path]

    def stop(self) -> None:
        self.released.set()  # hanging pages end
        super().stop()
