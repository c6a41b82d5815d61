"""Contract harness for the Stack Exchange connector: a fake API 2.3 over the recorded questions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.stackexchange_api import FakeStackExchange

NOW = datetime(2020, 3, 4, tzinfo=UTC)
# By hand from the recording: the three questions whose body links to i.stack.imgur.com, and the stand-in
# accepted answers of two of them (60389654 -> 60392965, 60410331 -> 60441372), which carry the same body.
RECORDED = {
    "stackoverflow:q60412242", "stackoverflow:q60389654", "stackoverflow:q60410331",
    "stackoverflow:a60392965", "stackoverflow:a60441372",
}  # fmt: skip


class Harness(ConnectorHarness):
    type = "stackexchange"
    domain = "imgur.com"

    def __init__(self) -> None:
        self.server = RecordingServer()
        self.fake = FakeStackExchange(self.server)
        self.published: set[str] = set()
        self.calls = 0  # publish_more calls so far: each call's questions get ids of their own

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.fake.problems == []

    def settings(self) -> dict[str, Any]:
        return {"api_base_url": self.fake.url, "initial_lookback": "30d"}

    def now(self) -> datetime:
        return NOW

    def expected(self) -> set[str]:
        return RECORDED | self.published

    def publish_more(self) -> set[str]:
        self.calls += 1
        template = self.fake.questions[60412242]
        new = set()
        for n, minutes in enumerate((5, 30), start=1):
            question = copy.deepcopy(template)
            question["question_id"] = 70_000_000 + 10 * self.calls + n
            question["creation_date"] = int(NOW.timestamp()) + 60 * minutes
            question["link"] = f"https://stackoverflow.com/questions/{question['question_id']}/new"
            self.fake.questions[question["question_id"]] = question
            new.add(f"stackoverflow:q{question['question_id']}")
        self.published |= new
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True
