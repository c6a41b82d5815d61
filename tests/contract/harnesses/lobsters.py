"""Contract harness for the Lobsters connector: a fake lobste.rs over the recorded stories and comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.lobsters_api import FakeLobsters, later

NOW = datetime(2024, 9, 5, 12, 0, tzinfo=UTC)
# Written by hand from the recordings: the stories whose URL is on github.com, and the one comment linking
# there (qy0l9k, on story tdfoqh).
RECORDED = {
    "czkgxc", "w4yr9y", "10z34j", "tnvk82", "70sorb", "aqnjd5", "jexsmk", "bdl64p", "qd7sq1", "fmilri",
    "fkhdwk", "c_qy0l9k",
}  # fmt: skip


class Harness(ConnectorHarness):
    type = "lobsters"
    domain = "github.com"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.fake = FakeLobsters(self.server)
        self.published: set[str] = set()
        self.calls = 0  # publish_more calls so far: each call's posts get ids of their own

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.fake.problems == []

    def settings(self) -> dict[str, Any]:
        return {"api_base_url": self.fake.url, "initial_lookback": "2000d"}

    def now(self) -> datetime:
        return NOW

    def expected(self) -> set[str]:
        return RECORDED | self.published

    def publish_more(self) -> set[str]:
        self.calls += 1
        call = self.calls
        template = self.fake.stories["czkgxc"]
        new = set()
        for n, minutes in enumerate((5, 30), start=1):
            short_id = f"new{call:02d}{n}"
            story = later(
                NOW + timedelta(minutes=minutes), template, short_id, url=f"https://github.com/new/{call}/{n}"
            )
            self.fake.add_story(story)
            new.add(short_id)
        comment_id = f"newc{call:02d}"
        comment = later(NOW + timedelta(minutes=20), self.fake.comments["qy0l9k"], comment_id)
        self.fake.add_comment(comment)
        new.add(f"c_{comment_id}")
        self.published |= new
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True
