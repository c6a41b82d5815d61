"""One writer per database.

SQLite: an exclusive ``flock`` on ``<data_dir>/tracker.lock``, which names its holder. PostgreSQL: a
session-level advisory lock held on a dedicated connection; whoever holds it is the leader and does all the
work, other daemons stand by and take over when the leader's session ends.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from tracker.errors import TrackerError

log = logging.getLogger("tracker.locks")


class LockedError(TrackerError):
    """Another tracker process is writing to this database."""

    exit_code = 2


def holder_description(what: str) -> str:
    return f"{what} pid {os.getpid()} on {socket.gethostname()}"


class FileLock:
    """An exclusive lock on a file, released when the process ends (however it ends)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self, what: str) -> None:
        """Take the lock or raise LockedError naming who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LockedError(
                f"{holder} is already writing to this database (lock {self.path}); stop it first, "
                "or let it do the work"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(holder_description(what) + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


_LOCK_SQL = "hashtext(current_schema() || '/tracker-writer')"
# The server probes the leader's connection too, so a leader whose machine vanished (no FIN, no RST) loses
# the lock within about 15 s instead of the operating system's default of two hours; and the health check
# never hangs on a dead link.
_SESSION_SETTINGS = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET statement_timeout = '5s'",
)


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a connection of its own.

    The lock lives as long as that session: if this process dies or its connection is cut, PostgreSQL ends
    the session and another process can take the lock.
    """

    def __init__(self, url: str) -> None:
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 3,
                "tcp_user_timeout": 10_000,  # ms: a write unanswered this long means the network is gone
                "application_name": "mention-tracker leader",
            },
        )
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        """True if this process now holds the lock (it may already have held it)."""
        if self._conn is not None:
            return self.healthy()
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for setting in _SESSION_SETTINGS:
                conn.execute(text(setting))
            got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({_LOCK_SQL})")).scalar())
        except SQLAlchemyError as exc:
            log.warning("cannot reach PostgreSQL for the leader lock: %s", " ".join(str(exc).split())[:200])
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def healthy(self) -> bool:
        """Whether the session holding the lock is still alive (a lost session means a lost lock)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text(f"SELECT pg_advisory_unlock({_LOCK_SQL})"))
            except SQLAlchemyError:
                pass
            self._drop()
        self._engine.dispose()


class WriterLock:
    """The writer lock for a config's database: a file lock for SQLite, the advisory lock for PostgreSQL."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.database_url = database_url
        self.is_postgres = database_url.startswith("postgresql")
        self._file = FileLock(data_dir / "tracker.lock")
        self._advisory: AdvisoryLock | None = AdvisoryLock(database_url) if self.is_postgres else None

    def acquire(self, what: str, *, leader: Any = None) -> None:
        """Take the lock for a one-off command, or raise LockedError naming the holder."""
        if self._advisory is None:
            self._file.acquire(what)
            return
        if not self._advisory.try_acquire():
            holder = f" ({leader})" if leader else ""
            raise LockedError(
                f"a tracker daemon{holder} leads on this database and does the work; stop it first or let it run"
            )

    def try_lead(self) -> bool:
        assert self._advisory is not None
        return self._advisory.try_acquire()

    def still_leading(self) -> bool:
        assert self._advisory is not None
        return self._advisory.healthy()

    def release(self) -> None:
        if self._advisory is not None:
            self._advisory.release()
        else:
            self._file.release()
