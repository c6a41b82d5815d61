"""A Jetstream stand-in: a real websocket server on 127.0.0.1 that serves ``/subscribe`` like Jetstream v1.

It replays its events from the ``cursor`` (``time_us`` >= cursor, in ``time_us`` order), keeps only the
commits of the ``wantedCollections`` (identity and account events always pass, as on the real service), then
stays open like the live stream, sending events added later. It records the query of every connection so
tests check what the client asked for, and can fail in the ways the real service does.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve


def _stamp(line: str) -> int:
    found = re.search(r'"time_us":\s*(\d+)', line)  # tests also serve lines that are not valid JSON
    return int(found.group(1)) if found else 0


def _collection(line: str) -> str | None:
    found = re.search(r'"collection":\s*"([^"]+)"', line)
    return found.group(1) if found else None


class JetstreamServer:
    """``events`` are raw JSON lines.

    ``live``, when given, returns the time_us of "now": after the backlog the server then sends an account
    event stamped just after it, as the real network always has events newer than any pass's start.
    ``drop_after`` ends the next connection after that many events (``drop_every``: every connection;
    ``drop_how``: ``close`` sends a close
    frame with code 1011, ``reset`` cuts the TCP connection). ``refuse`` answers the handshake with that HTTP
    status (with ``Retry-After: 2`` for 429); ``malformed`` answers it with a plain JSON document.
    """

    def __init__(self, events: list[str] | None = None, *, live: Callable[[], int] | None = None) -> None:
        self.events: list[str] = []
        self.queries: list[dict[str, list[str]]] = []
        self.sent: list[int] = []  # events sent on each connection
        self.live = live
        self.drop_after: int | None = None
        self.drop_every: int | None = None  # like drop_after, for every connection
        self.drop_how = "close"
        self.refuse: int | None = None
        self.malformed = False
        self._lock = threading.Lock()
        self.add(events or [])
        self._server: Server = serve(self._handle, "127.0.0.1", 0, process_request=self._check)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/subscribe"

    def add(self, events: list[str]) -> None:
        with self._lock:
            self.events = sorted([*self.events, *events], key=_stamp)

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/subscribe":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if self.refuse is not None:
            self.queries.append(parse_qs(urlsplit(request.path).query))
            response = connection.respond(HTTPStatus(self.refuse), "try again later\n")
            if self.refuse == 429:
                response.headers["Retry-After"] = "2"
            return response
        if self.malformed:
            self.queries.append(parse_qs(urlsplit(request.path).query))
            body = b'{"error": "this is not a websocket"}'
            headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return Response(200, "OK", headers, body)
        return None

    def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        query = parse_qs(urlsplit(connection.request.path).query)
        self.queries.append(query)
        self.sent.append(0)
        wanted = set(query.get("wantedCollections", []))
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        drop, self.drop_after = self.drop_after, None
        if self.drop_every is not None:
            drop = self.drop_every
        sent = position = 0
        live_sent = False
        try:
            while True:
                with self._lock:
                    pending = self.events[position:]
                    position = len(self.events)
                for event in pending:
                    if cursor is not None and _stamp(event) < cursor:
                        continue
                    if wanted and (collection := _collection(event)) is not None and collection not in wanted:
                        continue
                    if drop is not None and sent >= drop:
                        self._drop(connection)
                        return
                    connection.send(event)
                    sent += 1
                    self.sent[-1] = sent
                if self.live is not None and not live_sent:
                    live_sent = True
                    now = self.live() + 1
                    connection.send(json.dumps({"did": "did:plc:live", "time_us": now, "kind": "account",
                                                "account": {"active": True, "did": "did:plc:live", "seq": 1}}))  # fmt: skip
                try:
                    connection.recv(timeout=0.02)  # also notices the client closing
                except TimeoutError:
                    pass
        except ConnectionClosed:
            return

    def _drop(self, connection: ServerConnection) -> None:
        if self.drop_how == "reset":
            connection.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            connection.socket.close()
        else:
            connection.close(1011, "going away")

    def __enter__(self) -> JetstreamServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
