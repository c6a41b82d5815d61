"""Contract harness for the Wikipedia connector: fake wikis over recorded articles, page views and a link
stream built from the recorded EventStreams event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.wikimedia import (
    USER_AGENT,
    FakeEventStreams,
    FakePageviews,
    FakeWikis,
    Scenario,
    link_event,
)

NOW = datetime(2025, 7, 24, 12, 0, tzinfo=UTC)
# By hand from the recordings: the two recorded articles with links to powo.science.kew.org.
RECORDED = {"en.wikipedia.org:18978754", "species.wikimedia.org:86997"}
KEW = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:{}"


class Harness(ConnectorHarness):
    type = "wikipedia"
    domain = "kew.org"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.wikis = FakeWikis(self.server)
        self.views = FakePageviews(self.server)
        self.views.daily[("en.wikipedia.org", "Apple")] = 40
        noise = [
            link_event(n, NOW - timedelta(minutes=30 - n), "commons.wikimedia.org", 100 + n, f"File:Noise {n}.pdf",
                       added=[f"https://archive.org/details/noise-{n}"], namespace=6)
            for n in range(1, 6)
        ]  # fmt: skip
        self.stream = FakeEventStreams(noise)
        self.scenario = Scenario(self.server, self.wikis, self.views, self.stream)
        self.stream.on_emit = self.scenario.apply
        self.published: set[str] = set()

    def start(self) -> None:
        self.server.start()
        self.stream.__enter__()

    def stop(self) -> None:
        self.stream.__exit__()
        self.server.stop()
        assert self.wikis.problems == []
        assert self.views.problems == []

    def settings(self) -> dict[str, Any]:
        return {
            "wikis": ["en.wikipedia.org", "species.wikimedia.org"],
            "api_url": self.wikis.api_url,
            "pageviews_url": self.views.url,
            "stream_url": self.stream.url,
            "user_agent": USER_AGENT,
            "initial_lookback": "1h",
            "max_failures": 2,
        }

    def now(self) -> datetime:
        return NOW

    def expected(self) -> set[str]:
        return RECORDED | self.published

    def publish_more(self) -> set[str]:
        """Links to kew.org added to two more articles, seen through the stream."""
        new = set()
        for offset, (page_id, title, minutes) in enumerate(
            [(1868108, "Celtuce", 5), (21196082, "Tropical Depression Ten (2005)", 30)], start=100
        ):
            url = KEW.format(offset)
            self.stream.add(
                link_event(
                    offset, NOW + timedelta(minutes=minutes), "en.wikipedia.org", page_id, title, added=[url]
                )
            )
            new.add(f"en.wikipedia.org:{page_id}")
        self.published |= new
        return new

    def break_server(self, fault: str) -> None:
        self.wikis.fault = fault
        if fault == "malformed":
            self.stream.malformed = True
        else:
            self.stream.refuse = 429 if fault == "rate_limit" else 503

    def heal(self) -> None:
        self.wikis.fault = None
        self.stream.malformed, self.stream.refuse = False, None

    def add_unknown_fields(self) -> None:
        self.wikis.extra_fields = True
        with self.stream._lock:
            for event in self.stream.events:
                event["future_field"] = {"nested": [1, {"x": None}]}
                event["meta"]["schema_v2"] = "yes"
