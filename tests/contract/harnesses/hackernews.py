"""Contract harness for the Hacker News connector: a fake Algolia over recorded hits."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.algolia import FakeAlgolia, recorded_hits
from tests.support.http_server import RecordingServer

# The recorded items that link to github.com, read off the recording by hand, with their `created_at`: three
# stories whose url is on github.com and a comment with a github.com link in its text.
RECORDED = {
    "7821972": datetime(2014, 5, 30, 14, 34, 9, tzinfo=UTC),  # story, github.com/nickjj/orats
    "7821450": datetime(2014, 5, 30, 12, 53, 25, tzinfo=UTC),  # story, github.com/denschub/lilly
    "7821181": datetime(2014, 5, 30, 11, 29, 12, tzinfo=UTC),  # story, github.com/felipernb/algorithms.js
    "7373927": datetime(2014, 3, 10, 16, 35, 58, tzinfo=UTC),  # comment linking to github.com
}


class Harness(ConnectorHarness):
    type = "hackernews"
    domain = "github.com"

    def __init__(self) -> None:
        hits = recorded_hits()  # before any socket is opened: this skips the test without the recordings
        self.server = RecordingServer()
        self.algolia = FakeAlgolia(self.server, hits)
        self.clock_now = datetime(2014, 5, 31, tzinfo=UTC)
        self._next_id = 90_000_000
        self._published: dict[str, datetime] = {}

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
        return set(RECORDED) | set(self._published)

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
            self._published[hit["objectID"]] = datetime.fromtimestamp(hit["created_at_i"], UTC)
            new.add(hit["objectID"])
        return new

    def backfill_since(self) -> datetime:
        return datetime(2014, 5, 30, 12, 0, tzinfo=UTC)  # between the recorded github.com stories

    def expected_since(self, since: datetime) -> set[str]:
        return {item for item, created in {**RECORDED, **self._published}.items() if created >= since}

    def break_server(self, fault: str) -> None:
        self.algolia.fault = fault

    def heal(self) -> None:
        self.algolia.fault = None

    def add_unknown_fields(self) -> None:
        self.algolia.extra_fields = True

    def add_engagement(self, platform_id: str) -> bool:
        hit = next(h for h in self.algolia.hits if h["objectID"] == platform_id)
        hit["points"] = (hit.get("points") or 0) + 10
        return True
