"""What reading X costs: pay-per-use prices per post and per user, each billed once per UTC day.

X charges for every resource a read returns (posts in ``data``, users in ``includes.users``), but a resource
read again on the same UTC day is not charged again. :class:`ReadLedger` remembers what was charged today, so
the estimate follows the bill instead of counting a prolific author once per page, or a post once more when
the engagement refresh re-reads it an hour after the search found it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from tracker.connector import Usage

log = logging.getLogger("tracker.connectors.x")
MAX_RESULTS = 100  # posts per search page and ids per lookup: X's maximum


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per resource read."""

    post_usd: float
    user_usd: float

    def page_ceiling(self) -> float:
        """The most one page can cost: a full page of posts, each by a different author."""
        return MAX_RESULTS * (self.post_usd + self.user_usd)


class ReadLedger:
    """The ids of the posts and users already charged on the current UTC day.

    It is kept in a small JSON file in the data folder, shared (under a file lock) by every instance of the
    connector: its poll and refresh jobs, a backfill in another process, the next start. Without the file (it
    cannot be written, or was lost) the ledger lives in memory; that only makes the estimate err high.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.day = ""
        self.posts: set[str] = set()
        self.users: set[str] = set()
        self._warned = False

    def charge(self, posts: Iterable[str], users: Iterable[str], prices: Prices, now: datetime) -> Usage:
        """Usage of one response: everything read, and the cost of what is new to today's ledger."""
        post_ids, user_ids = list(dict.fromkeys(posts)), list(dict.fromkeys(users))
        with self._shared(now.date().isoformat()):
            new_posts = [post_id for post_id in post_ids if post_id not in self.posts]
            new_users = [user_id for user_id in user_ids if user_id not in self.users]
            self.posts.update(new_posts)
            self.users.update(new_users)
        return Usage(
            items_read=len(post_ids) + len(user_ids),
            cost_usd=len(new_posts) * prices.post_usd + len(new_users) * prices.user_usd,
            counters={
                "posts_read": len(post_ids),
                "users_read": len(user_ids),
                "posts_billable": len(new_posts),
                "users_billable": len(new_users),
            },
        )

    @contextlib.contextmanager
    def _shared(self, day: str) -> Iterator[None]:
        """Today's ledger, merged with the file's before and written back after (under its lock)."""
        if day != self.day:
            self.day, self.posts, self.users = day, set(), set()
        lock: IO[str] | None = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lock = self.path.with_name(self.path.name + ".lock").open("a", encoding="utf-8")
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                self._load()
            except OSError as exc:
                self._warn(exc)
        try:
            yield
            if lock is not None:
                self._save()
        except OSError as exc:
            self._warn(exc)
        finally:
            if lock is not None:
                lock.close()

    def _warn(self, exc: OSError) -> None:
        if not self._warned:
            log.warning("cannot keep the X read ledger in %s (%s); keeping it in memory", self.path, exc)
            self._warned = True

    def _load(self) -> None:
        assert self.path is not None
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except ValueError:
            return  # a damaged ledger is rebuilt from today's reads
        if isinstance(stored, dict) and stored.get("day") == self.day:
            for name, ids in (("posts", self.posts), ("users", self.users)):
                if isinstance(stored.get(name), list):
                    ids.update(str(item) for item in stored[name])

    def _save(self) -> None:
        assert self.path is not None
        state = {"day": self.day, "posts": sorted(self.posts), "users": sorted(self.users)}
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, self.path)
