"""A real HTTP server on 127.0.0.1 for connector tests: serves recorded (or synthetic) responses and keeps
every request it received, so tests check the queries a client builds, not only how it parses answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Reply]


@dataclass
class Seen:
    """A request to a server that answers by ``Host`` (the own site, the shorteners)."""

    method: str
    host: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) for a request handler class; started and stopped as a
    context manager or with :meth:`start` and :meth:`stop`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.02) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(poll_interval,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect_to(self, *hosts: str) -> dict[str, str]:
        """A ``[tracker] connect_to`` table sending these hosts here."""
        return dict.fromkeys(hosts, self.url)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __del__(self) -> None:
        # A server built but never started (its test skipped first, as without the recordings) closes its
        # socket when it is collected, instead of leaving a ResourceWarning to whichever test runs then.
        if not self._thread.is_alive():
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RecordingServer(LoopbackServer):
    """Routes (method, path) to handlers; unknown routes get 404 and are listed in ``unexpected``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        self.unexpected: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with server._lock:
                    server.requests.append(request)
                    handler = server.routes.get((self.command, parts.path))
                if handler is None:
                    with server._lock:
                        server.unexpected.append(request)
                    reply = Reply(404, {"error": f"no route for {self.command} {parts.path}"})
                else:
                    try:
                        reply = handler(request)
                    except Exception as exc:  # a failing check in a handler shows up in the test
                        with server._lock:
                            server.unexpected.append(request)
                        reply = Reply(599, {"error": f"handler failed: {exc!r}"})
                        server.errors.append(exc)
                body = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                if request.headers.get("connection", "").lower() == "close":
                    headers.setdefault("Connection", "close")  # as real servers do, so clients don't reuse it
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test, or a killed process)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.errors: list[Exception] = []
        super().__init__(_Handler)

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]
