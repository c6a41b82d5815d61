"""Contract harness for the X connector: a fake X API v2 over a recorded recent-search page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.x_api import TOKEN, FakeXApi, id_at, recorded_page

# The recorded posts (not retweets) with a URL entity on telodogratis.it, read off the page by hand, with
# their `created_at`.
RECORDED = {
    "1574185191349829632": datetime(2022, 9, 25, 23, 52, 51, tzinfo=UTC),
    "1574184942736646150": datetime(2022, 9, 25, 23, 51, 51, tzinfo=UTC),
    "1574184714101039104": datetime(2022, 9, 25, 23, 50, 57, tzinfo=UTC),
}


class Harness(ConnectorHarness):
    type = "x"
    domain = "telodogratis.it"

    def __init__(self) -> None:
        page = recorded_page("twarc-csv__entities_test.jsonl")  # without the recordings the test skips here
        self.server = RecordingServer()
        self.clock_now = datetime(2022, 9, 26, 0, 5, tzinfo=UTC)
        # The suite moves its own clock; the server keeps this one for rate-limit headers only.
        self.api = FakeXApi(
            self.server,
            [page],
            clock=lambda: self.clock_now,
            enforce_window=False,
        )
        self._published: dict[str, datetime] = {}

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.api.problems == []

    def settings(self) -> dict[str, Any]:
        return {"api_base_url": self.api.base_url, "bearer_token": "${X_BEARER_TOKEN}", "refresh": True}

    def env(self) -> dict[str, str]:
        return {"X_BEARER_TOKEN": TOKEN}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        return set(RECORDED) | set(self._published)

    def publish_more(self) -> set[str]:
        template = self.api.tweets["1574185191349829632"]  # a telodogratis.it post with a card title
        new = set()
        for minutes in (5, 30):
            moment = self.clock_now + timedelta(minutes=minutes)
            tweet = copy.deepcopy(template)
            tweet["id"] = str(id_at(moment) + len(self._published) + 1)
            tweet["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            tweet["entities"]["urls"][0]["unwound_url"] = f"https://www.telodogratis.it/new/{tweet['id']}"
            self.api.add([tweet])
            self._published[tweet["id"]] = moment
            new.add(tweet["id"])
        return new

    def backfill_since(self) -> datetime:
        return datetime(2022, 9, 25, 23, 51, 30, tzinfo=UTC)  # between the recorded posts

    def expected_since(self, since: datetime) -> set[str]:
        return {item for item, created in {**RECORDED, **self._published}.items() if created >= since}

    def break_server(self, fault: str) -> None:
        self.api.fault = fault

    def heal(self) -> None:
        self.api.fault = None

    def add_unknown_fields(self) -> None:
        self.api.extra_fields = True

    def add_engagement(self, platform_id: str) -> bool:
        self.api.tweets[platform_id]["public_metrics"]["like_count"] += 10
        return True

    def delete(self, platform_id: str) -> bool:
        self.api.deleted.add(platform_id)
        return True
