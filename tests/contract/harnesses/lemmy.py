"""Contract harness for the Lemmy connector: a fake instance over Reddit's recorded items in Lemmy's views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.lemmy_api import FakeLemmy


class Harness(ConnectorHarness):
    type = "lemmy"
    domain = "medium.com"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.fake = FakeLemmy(self.server)
        self.clock_now = datetime(2015, 1, 5, tzinfo=UTC)
        self._published: set[str] = set()
        self._next = 0

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.fake.problems == []

    def settings(self) -> dict[str, Any]:
        return {"instances": [self.fake.url], "page_size": 2}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        # The four link posts of the recorded search for the Medium article (Reddit ids 2r539r, 2r8es6, 2r5o9n
        # and 2r5364; their numbers in base 36 are the posts' numbers).
        return {
            "https://lemmy.world/post/166519503",
            "https://lemmy.world/post/166674390",
            "https://lemmy.world/post/166546715",
            "https://lemmy.world/post/166519372",
        } | self._published

    def publish_more(self) -> set[str]:
        new = set()
        for minutes in (5, 30):
            self._next += 1
            moment = (self.clock_now + timedelta(minutes=minutes)).timestamp()
            new.add(
                self.fake.publish(
                    "t3_2r539r", f"zznew{self._next}", moment, f"https://medium.com/@x/{self._next}"
                )
            )
        self._published |= new
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True
