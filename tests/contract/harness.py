"""What each connector's contract-test harness provides.

Every registered connector type ``T`` has a module ``tests/contract/harnesses/T.py`` defining ``Harness``, a
subclass of :class:`ConnectorHarness` that runs local servers replaying the platform's recorded responses.
The contract suite (``test_contract.py``) then checks what every connector must do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
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
        """Make newer posts linking to ``domain`` appear; return their platform ids."""

    @abstractmethod
    def break_server(self, fault: str) -> None:
        """Make every request fail with ``fault`` (one of FAULTS) until :meth:`heal`."""

    @abstractmethod
    def heal(self) -> None: ...

    @abstractmethod
    def add_unknown_fields(self) -> None:
        """From now on, payloads carry fields and nested objects no recording has."""
