"""A store, a poller and the Wikimedia stand-ins, shared by the Wikipedia connector's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import Clock, Sleeps, make_config
from tests.support.http_server import RecordingServer
from tests.support.wikimedia import (
    USER_AGENT,
    FakeEventStreams,
    FakePageviews,
    FakeWikis,
    Scenario,
    link_event,
)
from tracker.poller import Poller, RunResult
from tracker.store import Store

NOW = datetime(2025, 7, 24, 12, 0, tzinfo=UTC)
APPLE = "en.wikipedia.org:18978754"
MALUS = "species.wikimedia.org:86997"
CELTUCE = "en.wikipedia.org:1868108"
STORM = "en.wikipedia.org:21196082"
KEW = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:{}"


def noise(count: int, start: datetime, first_offset: int = 1) -> list[dict[str, Any]]:
    """Link changes on Commons to other sites: what nearly all of the stream is."""
    return [
        link_event(
            first_offset + n, start + timedelta(seconds=n), "commons.wikimedia.org", 100 + n,
            f"File:Noise {n}.pdf", added=[f"https://archive.org/details/noise-{n}"], namespace=6,
        )
        for n in range(count)
    ]  # fmt: skip


@contextmanager
def scenario(events: list[dict[str, Any]] | None = None) -> Iterator[Scenario]:
    """The four recorded articles on two wikis, Apple's page views (40 a day), a link stream."""
    server = RecordingServer()
    wikis = FakeWikis(server)
    views = FakePageviews(server)
    views.daily[("en.wikipedia.org", "Apple")] = 40
    stream = FakeEventStreams(events if events is not None else noise(3, NOW - timedelta(minutes=5)))
    made = Scenario(server, wikis, views, stream)
    stream.on_emit = made.apply
    with server, stream:
        yield made
    assert wikis.problems == []
    assert views.problems == []


class Rig:
    def __init__(self, tmp_path: Path, world: Scenario, extra: str = "", domain: str = "kew.org") -> None:
        self.world = world
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        self.config = make_config(
            tmp_path,
            f"""
            [[domains]]
            name = "{domain}"
            [connectors.wikipedia]
            wikis = ["en.wikipedia.org", "species.wikimedia.org"]
            api_url = "{world.wikis.api_url}"
            pageviews_url = "{world.views.url}"
            stream_url = "{world.stream.url}"
            user_agent = "{USER_AGENT}"
            initial_lookback = "1h"
            max_failures = 3
            {extra}
            """,
        )
        self.store = Store.open(self.config.database_url)

    def poller(self) -> Poller:
        return Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)

    def poll(self, **options: Any) -> RunResult:
        poller = self.poller()
        try:
            return poller.poll("wikipedia", **options)
        finally:
            poller.close()

    def refresh(self, ids: list[str]) -> RunResult:
        poller = self.poller()
        try:
            return poller.refresh("wikipedia", ids)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions(include_deleted=True)}

    def live(self) -> set[str]:
        return {key for key, m in self.mentions().items() if m.deleted_at is None}
