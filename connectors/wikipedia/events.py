"""Server-sent events, the wire format of Wikimedia EventStreams: an incremental parser with a size cap, and a
reader thread, so the consumer can wait with a timeout (to flush its page and notice a shutdown) while the
connection blocks."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import httpx

_WAIT = 0.5  # seconds between checks of a reader that is closing


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event: the last event id seen so far, its type and its data lines joined."""

    id: str | None
    type: str
    data: str


class EventTooLargeError(ValueError):
    """A line or an event passed the size cap: a broken or hostile server."""


class SseParser:
    """Turns the bytes of a ``text/event-stream`` into events (WHATWG server-sent events); ``last_id``
    carries over from event to event as the specification says."""

    def __init__(self, max_event_bytes: int, last_id: str | None = None) -> None:
        self.max_event_bytes = max_event_bytes
        self.last_id = last_id
        self.retry_ms: int | None = None
        self._buffer = bytearray()
        self._data: list[str] = []
        self._size = 0
        self._type = ""

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by ``chunk``; raises EventTooLargeError past the cap."""
        self._buffer += chunk
        events: list[Event] = []
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._buffer[start:end]).rstrip(b"\r").decode("utf-8", errors="replace")
            start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        del self._buffer[:start]
        if len(self._buffer) > self.max_event_bytes:
            raise EventTooLargeError(f"a line of the stream is longer than {self.max_event_bytes} bytes")
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._type = ""
                return None
            event = Event(self.last_id, self._type or "message", "\n".join(self._data))
            self._data, self._size, self._type = [], 0, ""
            return event
        if line.startswith(":"):
            return None  # a comment, e.g. a keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._size += len(value) + 1
            if self._size > self.max_event_bytes:
                raise EventTooLargeError(
                    f"an event of the stream is larger than {self.max_event_bytes} bytes"
                )
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


END = object()
"""What the reader hands over when the server closed the stream."""


class EventReader:
    """Reads a streaming response in a thread and hands events over through a bounded queue (the thread waits
    while it is full, so a slow consumer never makes memory grow)."""

    def __init__(self, response: httpx.Response, parser: SseParser, *, queue_size: int = 2000) -> None:
        self.response = response
        self.parser = parser
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="eventstreams-reader", daemon=True)

    def start(self) -> EventReader:
        self._thread.start()
        return self

    def get(self, timeout: float) -> Any:
        """The next event, :data:`END`, or the exception that ended the stream; raises queue.Empty after
        ``timeout`` seconds without any."""
        return self.queue.get(timeout=timeout)

    def close(self) -> None:
        """Stop reading: wake the thread out of a blocked read and wait briefly for it."""
        self._closed.set()
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2.0)

    def _pump(self) -> None:
        try:
            for chunk in self.response.iter_bytes():
                for event in self.parser.feed(chunk):
                    if not self._put(event):
                        return
                if self._closed.is_set():
                    return
            self._put(END)
        except Exception as exc:  # handed to the consumer, which decides (reconnect or fail)
            if not self._closed.is_set():
                self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self._closed.is_set():
            try:
                self.queue.put(item, timeout=_WAIT)
                return True
            except queue.Full:
                continue
        return False
