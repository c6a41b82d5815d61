"""Hostile HTTP servers on loopback addresses: a server that drips its answer a byte at a time, sends a gzip
bomb or an oversized body, redirects elsewhere, or cuts its answer off; each route misbehaves for its first
requests and then answers normally, so a test sees a client retry cleanly (or fail) within its deadline.

``HostileServer(host="127.0.0.2")`` is "another host" for redirect tests (all of 127/8 is loopback on
Linux): it records every request, so a test asserts that it received nothing.
"""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Behaviour = Callable[[socket.socket], None]


def _complete(behave: Behaviour) -> Behaviour:
    """Marks a behaviour that sends a whole HTTP/1.1 answer: the connection stays open for the next request.

    Closing it instead would race a client that reuses it at once (as when following a redirect): the
    request would meet "server disconnected without sending a response".
    """
    behave.complete = True  # type: ignore[attr-defined]
    return behave


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status < 300 else 'Hostile'}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reply(body: Any, status: int = 200, content_type: str = "application/json") -> Behaviour:
    """An ordinary answer (``body`` as JSON unless bytes or text)."""
    data = (
        body
        if isinstance(body, bytes)
        else body.encode()
        if isinstance(body, str)
        else json.dumps(body).encode()
    )

    def behave(sock: socket.socket) -> None:
        sock.sendall(_head(status, {"Content-Type": content_type, "Content-Length": str(len(data))}) + data)

    return _complete(behave)


def drip(interval: float = 0.05, seconds: float = 30.0) -> Behaviour:
    """The answer a byte at a time, every ``interval`` seconds, status line first (for ``seconds`` at most)."""

    def behave(sock: socket.socket) -> None:
        data = _head(200, {"Content-Type": "application/json", "Content-Length": "100000"}) + b" " * 100000
        until = time.monotonic() + seconds
        for byte in data:
            if time.monotonic() > until:
                return
            sock.sendall(bytes([byte]))
            time.sleep(interval)

    return behave


def gzip_bomb(gigabytes: int = 2) -> Behaviour:
    """A gzip body of about 1 MB that inflates to ``gigabytes`` GB of zeros (JSON whitespace)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    megabyte = b" " * (1 << 20)
    head = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the state is reset, so each further megabyte compresses to the same bytes.
    block = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()  # its CRC covers two megabytes only: a client that inflates it all fails late
    count = gigabytes * 1024 - 2

    def behave(sock: socket.socket) -> None:
        length = len(head) + len(block) * count + len(tail)
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Content-Length": str(length),
        }
        sock.sendall(_head(200, headers) + head)
        for _ in range(count):
            sock.sendall(block)
        sock.sendall(tail)

    return behave


def oversized(megabytes: int = 50) -> Behaviour:
    """A valid JSON answer (``{}`` after ``megabytes`` MB of spaces), far larger than any API sends."""

    def behave(sock: socket.socket) -> None:
        chunk = b" " * (1 << 20)
        length = len(chunk) * megabytes + 2
        sock.sendall(_head(200, {"Content-Type": "application/json", "Content-Length": str(length)}))
        for _ in range(megabytes):
            sock.sendall(chunk)
        sock.sendall(b"{}")

    return behave


def redirect(location: str, status: int = 307) -> Behaviour:
    def behave(sock: socket.socket) -> None:
        sock.sendall(_head(status, {"Location": location, "Content-Length": "0"}))

    return _complete(behave)


def cut_off() -> Behaviour:
    """Promises 1000 bytes of JSON, sends a few and closes the connection."""

    def behave(sock: socket.socket) -> None:
        sock.sendall(
            _head(200, {"Content-Type": "application/json", "Content-Length": "1000"}) + b'{"posts": ['
        )

    return behave


class HostileServer:
    """Routes a path to behaviours, one per request in turn (the last one repeats); other paths get 404."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, list[Behaviour]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                reader = sock.makefile("rb")
                try:
                    while server._serve_one(sock, reader):
                        pass
                except OSError:
                    pass  # the client gave up (a deadline, a size cap): that is the point

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def route(self, path: str, *behaviours: Behaviour) -> None:
        self.routes[path] = list(behaviours)

    def paths(self) -> list[str]:
        return [request.path for request in self.received]

    def _serve_one(self, sock: socket.socket, reader: Any) -> bool:
        line = reader.readline()
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers.get("content-length") or 0))
        path = target.split("?", 1)[0]
        with self._lock:
            self.received.append(Received(method, path, headers, body))
            queue = self.routes.get(path)
            behaviour = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else None
        if behaviour is None:
            behaviour = reply({"error": f"no route for {path}"}, 404)
        behaviour(sock)
        return getattr(behaviour, "complete", False)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def serving(host: str = "127.0.0.1") -> Iterator[HostileServer]:
    """For a fixture: a running server, stopped afterwards."""
    with HostileServer(host) as server:
        yield server


_RUNNER = """
import json, sys
from datetime import UTC, datetime
from pathlib import Path
from tests.conftest import Clock, Sleeps
from tracker.config import load_config
from tracker.poller import Poller
from tracker.store import Store

config = load_config(Path(sys.argv[1]), env={})
store = Store.open(config.database_url)
poller = Poller(config, store, clock=Clock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)), sleeper=Sleeps())
result = poller.poll(sys.argv[2])
poller.close()
counters = json.loads(str(store.run(result.run_id)["counters"]))
# VmHWM: this process image's peak RSS (ru_maxrss would include the forked pytest's pages from before exec)
status = Path("/proc/self/status").read_text()
peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) // 1024
print(json.dumps({"status": result.status, "error": result.error, "counters": counters, "peak_mb": peak}))
"""


def poll_in_subprocess(config: Path, connector: str) -> dict[str, Any]:
    """One pass of ``connector`` in a fresh Python process: its status, error, counters and peak RSS (MB)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(config), connector],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{connector}: peak RSS {outcome['peak_mb']} MB")  # shown with -s
    return outcome
