"""Contract harness for the Mastodon connector: a fake instance over recorded public-timeline statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.mastodon_api import FakeMastodon, published


class Harness(ConnectorHarness):
    type = "mastodon"
    domain = "theindiebeat.fm"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.clock_now = datetime(2025, 7, 17, 20, 10, tzinfo=UTC)
        self.fake = FakeMastodon(self.server, now=lambda: self.clock_now)
        self._published: set[str] = set()

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.fake.problems == []

    def settings(self) -> dict[str, Any]:
        return {"instances": [self.fake.url], "public_timeline": "federated", "page_size": 10}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        # The two "Now playing" statuses of tibrnowplayingbot in fosstodon.org's recorded federated timeline
        # link to theindiebeat.fm (read from the recording by hand).
        return {
            "https://mastodon.social/users/tibrnowplayingbot/statuses/114868870384991099",
            "https://mastodon.social/users/tibrnowplayingbot/statuses/114868870143504692",
        } | self._published

    def publish_more(self) -> set[str]:
        template = next(s for s in self.fake.statuses if s["account"]["acct"].startswith("tibrnowplayingbot"))
        new = set()
        calls = len(self._published) // 2  # each call publishes two new statuses, a little later each time
        for minutes in (5 + calls, 30 + calls):
            status = published(template, self.clock_now + timedelta(minutes=minutes), minutes,
                               "https://theindiebeat.fm/jazz/")  # fmt: skip
            self.fake.statuses.append(status)
            new.add(status["uri"])
        self._published |= new
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True
