"""The daemon's heartbeat: every `tracker run` process says it is alive in the store, and `tracker status`
reads who is.

Each daemon keeps one ``daemon_state`` row, ``daemon:<host>:<pid>``, holding its pid, host, role (``leader``
or ``standby``; a daemon on SQLite is always the leader once it holds the writer lock) and state, rewritten
every :data:`BEAT_EVERY`. A daemon that stops cleanly marks its row ``stopped``; one that is killed stops
beating, and counts as gone after :data:`STALE_AFTER` (at once when `tracker status` runs beside it and sees
that its process has ended).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tracker.record import format_utc, parse_iso
from tracker.store import Store

log = logging.getLogger("tracker.heartbeat")

BEAT_EVERY = timedelta(seconds=15)
STALE_AFTER = 3 * BEAT_EVERY  # three beats missed: `tracker status` says down well within a minute
_PREFIX = "daemon:"


def _pid_namespace() -> int | None:
    """Which pid namespace this process is in (Linux), so a pid is only checked where it means something."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


@dataclass(frozen=True)
class DaemonBeat:
    """One daemon as its last heartbeat describes it."""

    pid: int
    host: str
    role: str  # starting | leader | standby
    state: str  # running | stopped
    started_at: datetime
    seen_at: datetime
    pid_namespace: int | None = None

    def alive(self, now: datetime) -> bool:
        """Running, beating, and (when its process can be seen from here) not gone."""
        if self.state != "running" or now - self.seen_at > STALE_AFTER:
            return False
        here = _pid_namespace()
        if self.host == socket.gethostname() and here is not None and self.pid_namespace == here:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:  # another user's process: it exists
                pass
        return True

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "role": self.role,
            "state": self.state,
            "started_at": format_utc(self.started_at),
            "last_seen": format_utc(self.seen_at),
        }


class Heartbeat:
    """Writes this process's heartbeat until stopped; ``role`` may change as it leads or stands by."""

    def __init__(self, store: Store, clock: Callable[[], datetime], *, every: timedelta = BEAT_EVERY) -> None:
        self.store = store
        self.clock = clock
        self.every = every
        self.role = "starting"
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.key = f"{_PREFIX}{self.host}:{self.pid}"
        self.started_at = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, state: str = "running") -> None:
        value = {
            "pid": self.pid,
            "host": self.host,
            "role": self.role,
            "state": state,
            "started_at": format_utc(self.started_at),
            "pid_namespace": _pid_namespace(),
        }
        self.store.set_state({self.key: json.dumps(value)}, self.clock())

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, on_beat: Callable[[], None] | None = None) -> None:
        """Beat now (so a failing database stops the start), then every ``every`` in a thread."""
        self.beat()
        self._forget_the_departed()
        self._thread = threading.Thread(target=self._run, args=(on_beat,), name="heartbeat", daemon=True)
        self._thread.start()

    def set_role(self, role: str) -> None:
        """Say at once that this daemon now leads or stands by."""
        self.role = role
        self._safely(self.beat)

    def stop(self) -> None:
        """Stop beating and mark this daemon stopped, so `tracker status` says down at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._safely(lambda: self.beat("stopped"))

    def _run(self, on_beat: Callable[[], None] | None) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            self._safely(self.beat)
            if on_beat is not None:
                on_beat()

    def _safely(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # the database may be away for a while; the daemon carries on
            log.warning("could not write the heartbeat: %s", " ".join(str(exc).split())[:300])

    def _forget_the_departed(self) -> None:
        """Drop the rows of daemons gone for a day (each start adds a row; the last one seen stays)."""
        now = self.clock()
        beats = read_beats(self.store)
        gone = [
            f"{_PREFIX}{b.host}:{b.pid}"
            for b in beats
            if not b.alive(now) and now - b.seen_at > timedelta(days=1)
        ]
        if gone:
            self.store.delete_state(gone)


def read_beats(store: Store) -> list[DaemonBeat]:
    """Every daemon's last heartbeat, the latest first."""
    beats = []
    for key, (value, seen_at) in store.state(_PREFIX).items():
        try:
            data = json.loads(value)
            beats.append(
                DaemonBeat(
                    pid=int(data["pid"]),
                    host=str(data["host"]),
                    role=str(data["role"]),
                    state=str(data["state"]),
                    started_at=parse_iso(data["started_at"]),
                    seen_at=seen_at,
                    pid_namespace=data.get("pid_namespace"),
                )
            )
        except (ValueError, KeyError, TypeError):
            log.debug("ignoring the unreadable heartbeat %s", key)
    return sorted(beats, key=lambda b: b.seen_at, reverse=True)


@dataclass(frozen=True)
class DaemonStatus:
    """Who runs: the leader and standbys alive now, else the daemon seen last (None: never ran here)."""

    leader: DaemonBeat | None
    standbys: tuple[DaemonBeat, ...]
    last_seen: DaemonBeat | None

    @property
    def running(self) -> bool:
        return self.leader is not None or bool(self.standbys)

    @property
    def ever_ran(self) -> bool:
        return self.last_seen is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "leader": self.leader.to_json() if self.leader else None,
            "standbys": [b.to_json() for b in self.standbys],
            "last_seen": self.last_seen.to_json() if self.last_seen else None,
        }


def daemon_status(store: Store, now: datetime) -> DaemonStatus:
    """Which daemons are alive at ``now``, from their heartbeats."""
    beats = read_beats(store)
    alive = [b for b in beats if b.alive(now)]
    leader = next((b for b in alive if b.role == "leader"), None)
    standbys = tuple(b for b in alive if b is not leader)
    return DaemonStatus(leader, standbys, beats[0] if beats else None)
