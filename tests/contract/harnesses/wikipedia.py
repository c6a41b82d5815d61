"""Contract harness for the Wikipedia connector: fake wikis over recorded articles, page views and a link
stream built from the recorded EventStreams event."""

from __future__ import annotations

import copy
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
    bare_page,
    link_event,
)

NOW = datetime(2025, 7, 24, 12, 0, tzinfo=UTC)
# By hand from the recordings: the two recorded articles with links to powo.science.kew.org.
RECORDED = {"en.wikipedia.org:18978754", "species.wikimedia.org:86997"}
KEW = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:{}"
# A Kew link each of them has (by hand from the recordings), and the stream's history of when it was added:
# Apple's three days before the first pass, Malus domestica's one day before.
APPLE_KEW = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:726282-1"
MALUS_KEW = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:60476301-2"
BACKFILL_SINCE = NOW - timedelta(days=2)
# The recorded articles without a Kew link (page ids): publish_more cites Kew from them, then from copies.
UNCITED = (1868108, 21196082)


class Harness(ConnectorHarness):
    type = "wikipedia"
    domain = "kew.org"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.wikis = FakeWikis(self.server)
        self.views = FakePageviews(self.server)
        self.views.daily[("en.wikipedia.org", "Apple")] = 40
        history = [
            link_event(1, NOW - timedelta(days=3), "en.wikipedia.org", 18978754, "Apple", added=[APPLE_KEW]),
            link_event(2, NOW - timedelta(days=1), "species.wikimedia.org", 86997, "Malus domestica",
                       added=[MALUS_KEW]),
        ]  # fmt: skip
        noise = [
            link_event(10 + n, NOW - timedelta(minutes=30 - n), "commons.wikimedia.org", 100 + n,
                       f"File:Noise {n}.pdf", added=[f"https://archive.org/details/noise-{n}"], namespace=6)
            for n in range(1, 6)
        ]  # fmt: skip
        self.stream = FakeEventStreams(history + noise)
        self.scenario = Scenario(self.server, self.wikis, self.views, self.stream)
        self.stream.on_emit = self.scenario.apply
        self.uncited = [copy.deepcopy(self.wikis.page("en.wikipedia.org", page_id)) for page_id in UNCITED]
        self.published: set[str] = set()
        self.calls = 0  # publish_more calls so far: each call cites Kew from articles of its own

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
        """Links to kew.org added to two more articles, seen through the stream: the two recorded articles
        without one the first time, copies of them under new page ids after that."""
        self.calls += 1
        new = set()
        for n, (recorded, minutes) in enumerate(zip(self.uncited, (5, 30), strict=True)):
            page = recorded
            if self.calls > 1:  # a copy as recorded (without the link an earlier call added to the original)
                page_id = 900_000_000 + 10 * self.calls + n
                page = bare_page(
                    "en.wikipedia.org", page_id, f"{recorded.title} ({self.calls})", recorded.links
                )
                self.wikis.add_page(page)
            offset = 100 + 10 * self.calls + n  # later than every event before, as EventStreams numbers them
            self.stream.add(
                link_event(
                    offset, NOW + timedelta(minutes=minutes), "en.wikipedia.org", page.page_id, page.title,
                    added=[KEW.format(offset)],
                )
            )  # fmt: skip
            new.add(f"en.wikipedia.org:{page.page_id}")
        self.published |= new
        return new

    def backfill_since(self) -> datetime:
        return BACKFILL_SINCE

    def expected_since(self, since: datetime) -> set[str]:
        """A backfill replays the stream's history (the scan has none): from two days back, it sees Kew
        cited by Malus domestica (a day back), not by Apple (three days back)."""
        assert since == BACKFILL_SINCE
        return {"species.wikimedia.org:86997"}

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
