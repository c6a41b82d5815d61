"""A loopback receiver of alert webhooks (and of Apprise's ``json://`` posts): verifies each webhook's
signature, counts the X-Tracker-Delivery ids it accepted, and can answer 500 or hang on demand."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import Counter
from typing import Any

from tests.support.http_server import RecordingServer, Reply, Request


class WebhookReceiver(RecordingServer):
    """``POST /hook`` is the webhook, ``POST /apprise`` Apprise's json:// channel. ``mode`` is ``accept``,
    ``fail`` (HTTP 500) or ``hang`` (no answer until :meth:`release`)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.mode = "accept"
        self.accepted: Counter[str] = Counter()  # X-Tracker-Delivery -> times accepted
        self.bodies: dict[str, Any] = {}
        self.bad_signatures: list[Request] = []
        self.apprise: list[Any] = []
        self.hung = 0  # requests that arrived while hanging
        self.arrived = threading.Condition()
        self._released = threading.Event()
        self.route("POST", "/hook", self._hook)
        self.route("POST", "/apprise", self._apprise)

    def release(self) -> None:
        self._released.set()

    def _hook(self, request: Request) -> Reply:
        expected = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-tracker-signature", "")):
            self.bad_signatures.append(request)
            return Reply(401, {"error": "bad signature"})
        with self.arrived:
            self.hung += self.mode == "hang"
            self.arrived.notify_all()
        if self.mode == "hang":  # its sender may be gone when it is released: never counted as accepted
            self._released.wait(60)
            return Reply(503, {"error": "was hanging"})
        if self.mode == "fail":
            return Reply(500, {"error": "down for maintenance"})
        delivery = request.headers["x-tracker-delivery"]
        with self.arrived:
            self.accepted[delivery] += 1
            self.bodies[delivery] = request.json()
            self.arrived.notify_all()
        return Reply(204)

    def _apprise(self, request: Request) -> Reply:
        with self.arrived:
            self.apprise.append(request.json())
            self.arrived.notify_all()
        return Reply(200, {"ok": True})

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        """Wait until ``predicate()`` holds (checked whenever something arrives)."""
        with self.arrived:
            return self.arrived.wait_for(predicate, timeout)
