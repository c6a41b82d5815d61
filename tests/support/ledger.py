"""A connector that pays for what it reads, once per post, and keeps what it paid for in its state (as X's
read ledger does), for tests of connector state and its crash safety.

Loaded by import path: ``type = "tests.support.ledger:LedgerConnector"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from tests.support.synthetic import SyntheticConnector, SyntheticSettings
from tracker.connector import FetchRequest, Page, Usage
from tracker.errors import ConnectorError

PRICE = 1.0  # per post, so a run's cost_usd counts the posts it paid for


class LedgerSettings(SyntheticSettings):
    fail_after: int | None = None
    """Raise after this many pages, once the next page is read and paid for (but before it is yielded)."""


class LedgerConnector(SyntheticConnector):
    """The synthetic file's posts; each post costs :data:`PRICE` the first time it is read, ever."""

    type = "ledger"
    Settings = LedgerSettings
    settings: LedgerSettings

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        for number, page in enumerate(super().fetch(request)):
            usage = self.charge([mention.platform_id for mention in page.mentions])
            if number == self.settings.fail_after:
                self.context.usage.add(usage)  # reported with the failed pass's run
                raise ConnectorError("the connection dropped after a paid read")
            yield replace(page, usage=usage)

    def charge(self, post_ids: Sequence[str]) -> Usage:
        keys = [f"paid:{post_id}" for post_id in dict.fromkeys(post_ids)]
        paid = self.context.state.get_many(keys)
        new = [key for key in keys if key not in paid]
        for key in new:
            self.context.state.set(key, True)
        return Usage(requests=1, items_read=len(post_ids), cost_usd=PRICE * len(new))
