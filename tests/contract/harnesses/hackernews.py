"""Contract harness for the Hacker News connector: a fake Algolia over recorded hits."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.algolia import FakeAlgolia, recorded_hits
from tests.support.http_server import RecordingServer
from tracker.urls import DomainMatcher


class Harness(ConnectorHarness):
    type = "hackernews"
    domain = "github.com"

    def __init__(self) -> None:
        hits = recorded_hits()  # before any socket is opened: this skips the test without the recordings
        self.server = RecordingServer()
        self.algolia = FakeAlgolia(self.server, hits)
        self.clock_now = datetime(2014, 5, 31, tzinfo=UTC)
        self._next_id = 90_000_000

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.algolia.problems == []

    def settings(self) -> dict[str, Any]:
        return {"api_base_url": self.algolia.base_url, "initial_lookback": "4000d", "page_size": 50}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        matcher = DomainMatcher([(self.domain, True)])
        ids = set()
        for hit in self.algolia.hits:
            if hit["created_at_i"] > self.clock_now.timestamp():
                continue
            from connectors.hackernews import normalize_hit

            if any(matcher.match_url(link.url) for link in normalize_hit(hit).links):
                ids.add(hit["objectID"])
        return ids

    def publish_more(self) -> set[str]:
        template = next(
            h for h in self.algolia.hits if "story" in h["_tags"] and "github.com" in (h["url"] or "")
        )
        new = set()
        for minutes in (5, 30):
            hit = copy.deepcopy(template)
            self._next_id += 1
            hit["objectID"] = str(self._next_id)
            hit["created_at_i"] = int(self.clock_now.timestamp()) + 60 * minutes
            hit["url"] = f"https://github.com/new/{self._next_id}"
            self.algolia.hits.append(hit)
            new.add(hit["objectID"])
        return new

    def break_server(self, fault: str) -> None:
        self.algolia.fault = fault

    def heal(self) -> None:
        self.algolia.fault = None

    def add_unknown_fields(self) -> None:
        self.algolia.extra_fields = True
