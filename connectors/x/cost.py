"""What reading X costs: pay-per-use prices per post and per user, each billed once per UTC day.

X charges for every resource a read returns (posts in ``data``, users in ``includes.users``), but a resource
read again on the same UTC day is not charged again. :class:`ReadLedger` remembers what was charged today, so
the estimate follows the bill instead of counting a prolific author once per page, or a post once more when
the engagement refresh re-reads it an hour after the search found it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracker.connector import ConnectorState, Usage

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
    """The ids of the posts and users already charged on the current UTC day, kept in the connector's state.

    One state key per resource read (``reads:<day>:post:<id>``, ``reads:<day>:user:<id>``), so every instance
    of the connector (its poll and refresh jobs, a backfill in another process, a standby that takes over)
    adds to the same ledger without overwriting another's additions. The additions are stored in the
    transaction of the page whose usage charged them (see :class:`~tracker.connector.ConnectorState`), so a
    kill never separates the two: a paid read is neither forgotten (and charged again when the page is read
    again) nor remembered without its cost. The first charge of a day drops the earlier days' keys.
    """

    def __init__(self, state: ConnectorState, old_file: Path | None = None) -> None:
        self.state = state
        self.old_file = old_file
        """The JSON file older versions kept the ledger in: imported once, then removed."""
        self.day = ""

    def charge(self, posts: Iterable[str], users: Iterable[str], prices: Prices, now: datetime) -> Usage:
        """Usage of one response: everything read, and the cost of what is new to today's ledger."""
        post_ids, user_ids = list(dict.fromkeys(posts)), list(dict.fromkeys(users))
        day = now.astimezone(UTC).date().isoformat()
        if day != self.day:
            self._start_day(day)
        post_keys = {_key(day, "post", post_id): post_id for post_id in post_ids}
        user_keys = {_key(day, "user", user_id): user_id for user_id in user_ids}
        known = self.state.get_many([*post_keys, *user_keys])
        new_posts = [key for key in post_keys if key not in known]
        new_users = [key for key in user_keys if key not in known]
        for key in (*new_posts, *new_users):
            self.state.set(key, True)
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

    def _start_day(self, day: str) -> None:
        self.day = day
        if self.old_file is not None:
            self._import(self.old_file, day)
            self.old_file = None
        for key in self.state.keys(_PREFIX):
            if not key.startswith(f"{_PREFIX}{day}:"):
                self.state.delete(key)

    def _import(self, path: Path, day: str) -> None:
        """Today's reads from the file an older version kept; the file is removed (its reads are stored
        with the next page; one lost to a kill before that only makes today's estimate err high)."""
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("cannot read the old X read ledger %s (%s); starting today's afresh", path, exc)
            stored = None
        imported = 0
        if isinstance(stored, dict) and stored.get("day") == day:
            for kind, field in (("post", "posts"), ("user", "users")):
                ids = stored.get(field)
                for item in ids if isinstance(ids, list) else ():
                    self.state.set(_key(day, kind, str(item)), True)
                    imported += 1
        for leftover in (path, path.with_name(path.name + ".lock")):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove the old X read ledger %s (%s); remove it by hand", leftover, exc)
        log.info("moved the X read ledger from %s into the database (%d reads of today)", path, imported)


_PREFIX = "reads:"


def _key(day: str, kind: str, resource_id: str) -> str:
    return f"{_PREFIX}{day}:{kind}:{resource_id}"
