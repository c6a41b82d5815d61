"""A connector that yields pages a test scripted in advance (or raises), for poller tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

from tracker.connector import Connector, ConnectorContext, FetchRequest, Page
from tracker.record import KINDS
from tracker.settings import ConnectorSettings


class ScriptedSettings(ConnectorSettings):
    script: str = "default"
    budget: float | None = None


class ScriptedConnector(Connector):
    """Yields ``SCRIPTS[settings.script](request)``; items that are exceptions are raised."""

    type = "scripted"
    platform = "hackernews"
    Settings = ScriptedSettings
    max_page_cost_usd = 1.0
    SCRIPTS: ClassVar[dict[str, Callable[[FetchRequest], list[Page | BaseException]]]] = {}
    REFRESH: ClassVar[dict[str, Callable[[Sequence[str]], list[Page]]]] = {}
    requests: ClassVar[list[FetchRequest]] = []

    settings: ScriptedSettings

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        type(self).requests.append(request)
        for item in self.SCRIPTS[self.settings.script](request):
            if isinstance(item, BaseException):
                raise item
            yield item

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        if self.settings.script in self.REFRESH:
            self.refresh_kinds = KINDS

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        yield from self.REFRESH[self.settings.script](platform_ids)

    def monthly_budget_usd(self) -> float | None:
        return self.settings.budget
