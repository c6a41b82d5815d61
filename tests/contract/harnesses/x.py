"""Contract harness for the X connector: a fake X API v2 over a recorded recent-search page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.x.posts import is_retweet, normalize_tweet
from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.x_api import TOKEN, FakeXApi, id_at, recorded_page
from tracker.urls import DomainMatcher


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
        self._published = 0

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.api.problems == []

    def settings(self) -> dict[str, Any]:
        return {"api_base_url": self.api.base_url, "bearer_token": "${X_BEARER_TOKEN}"}

    def env(self) -> dict[str, str]:
        return {"X_BEARER_TOKEN": TOKEN}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        matcher = DomainMatcher([(self.domain, True)])
        users = self.api.users
        return {
            post_id
            for post_id, tweet in self.api.tweets.items()
            if not is_retweet(tweet)
            and any(matcher.match_url(link.url) for link in normalize_tweet(tweet, users).links)
        }

    def publish_more(self) -> set[str]:
        template = self.api.tweets["1574185191349829632"]  # a telodogratis.it post with a card title
        new = set()
        for minutes in (5, 30):
            self._published += 1
            moment = self.clock_now + timedelta(minutes=minutes)
            tweet = copy.deepcopy(template)
            tweet["id"] = str(id_at(moment) + self._published)
            tweet["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            tweet["entities"]["urls"][0]["unwound_url"] = f"https://www.telodogratis.it/new/{self._published}"
            self.api.add([tweet])
            new.add(tweet["id"])
        return new

    def break_server(self, fault: str) -> None:
        self.api.fault = fault

    def heal(self) -> None:
        self.api.fault = None

    def add_unknown_fields(self) -> None:
        self.api.extra_fields = True
