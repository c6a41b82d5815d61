"""What each connector's contract-test harness provides.

Every registered connector type ``T`` has a module ``tests/contract/harnesses/T.py`` defining ``Harness``, a
subclass of :class:`ConnectorHarness` that runs local servers replaying the platform's recorded responses.
The contract suite (``test_contract.py``) then checks what every connector must do.

Read the recordings (``tests.support.recordings.recording``) before opening any socket in ``__init__``:
without them the test is skipped right there. Write :meth:`ConnectorHarness.expected` from the recordings by
rule or by hand, never with the connector's own code (its normalizer, the URL matcher): an expectation
computed by the code under test moves with the bug it should catch. The methods below the abstract ones have
defaults; override them to check more (a backfill bound, refreshed engagement, deletions).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any, ClassVar

FAULTS = ("server_error", "rate_limit", "malformed")


class ConnectorHarness(ABC):
    type: ClassVar[str]
    """The connector type under test."""
    domain: ClassVar[str]
    """A monitored domain that posts in the recordings link to."""

    @abstractmethod
    def start(self) -> None:
        """Start the local servers."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The connector's config table (``type`` is added by the suite), pointing at the local servers."""

    def env(self) -> dict[str, str]:
        """Environment variables the settings refer to."""
        return {}

    @abstractmethod
    def now(self) -> datetime:
        """When the first pass runs; the recorded posts must be new to the connector then."""

    @abstractmethod
    def expected(self) -> set[str]:
        """The platform ids of the mentions of ``domain`` the servers offer right now."""

    @abstractmethod
    def publish_more(self) -> set[str]:
        """Make newer posts linking to ``domain`` appear, stamped after :meth:`now` (each call new ones, never
        published before); return their platform ids."""

    @abstractmethod
    def break_server(self, fault: str) -> None:
        """Make every request fail with ``fault`` (one of FAULTS) until :meth:`heal`."""

    @abstractmethod
    def heal(self) -> None: ...

    @abstractmethod
    def add_unknown_fields(self) -> None:
        """From now on, payloads carry fields and nested objects no recording has."""

    # Optional: the defaults skip a check or use the widest case.

    def backfill_since(self) -> datetime:
        """The date the suite's backfill reads back to; by default ten years before :meth:`now`, before every
        recording. Override with a date among the recordings to check that a backfill stops there."""
        return self.now() - timedelta(days=3650)

    def expected_since(self, since: datetime) -> set[str]:
        """The platform ids of the mentions of ``domain`` created at ``since`` or later (what a backfill back
        to :meth:`backfill_since` finds); by default :meth:`expected`, right for the default date."""
        return self.expected()

    def add_engagement(self, platform_id: str) -> bool:
        """Make the platform show more engagement on this post (a like or points more) from now on; return
        False when the harness cannot (the suite then skips that part of the refresh check)."""
        return False

    def delete(self, platform_id: str) -> bool:
        """Make the platform report this post deleted from now on; return False when the connector never marks
        posts deleted or the harness cannot (the suite then skips that part of the refresh check)."""
        return False
