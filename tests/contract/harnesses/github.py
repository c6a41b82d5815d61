"""Contract harness for the GitHub connector: a fake GitHub API over recorded issue-search items."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.github_api import TOKEN, FakeGitHub
from tests.support.http_server import RecordingServer


class Harness(ConnectorHarness):
    type = "github"
    domain = "bountysource.com"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.clock_now = datetime(2017, 12, 21, tzinfo=UTC)
        self.fake = FakeGitHub(self.server, now=lambda: self.clock_now)
        self._next = 9000
        self._published: set[str] = set()

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.fake.problems == []

    def settings(self) -> dict[str, Any]:
        return {"token": "${GITHUB_TOKEN}", "api_base_url": self.fake.base_url, "initial_lookback": "4000d"}

    def env(self) -> dict[str, str]:
        return {"GITHUB_TOKEN": TOKEN}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        # The recorded github3.py issues whose Bountysource footer links to bountysource.com (read from the
        # recording by hand); the other items mention other sites.
        found = {"sigmavirus24/github3.py#410", "sigmavirus24/github3.py#318", "sigmavirus24/github3.py#406"}
        return found | self._published

    def publish_more(self) -> set[str]:
        template = next(
            item for item in self.fake.items if item["html_url"].endswith("github3.py/issues/410")
        )
        new = set()
        for minutes in (5, 30):
            self._next += 1
            item = copy.deepcopy(template)
            moment = (self.clock_now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
            item.update(number=self._next, created_at=moment, updated_at=moment, comments=0,
                        html_url=f"https://github.com/sigmavirus24/github3.py/issues/{self._next}")  # fmt: skip
            self.fake.add(item)
            new.add(f"sigmavirus24/github3.py#{self._next}")
        self._published |= new
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True
