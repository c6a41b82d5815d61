"""Contract harness for the Reddit connector: a fake Reddit (OAuth API for praw) over recorded listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.reddit.things import is_gone, normalize_thing
from tests.contract.harness import ConnectorHarness
from tests.support.http_server import RecordingServer
from tests.support.reddit_api import (
    ALL_COMMENTS,
    ALL_NEW,
    CLIENT_ID,
    CLIENT_SECRET,
    DOMAIN_NEW,
    SEARCH,
    USER_AGENT,
    FakeReddit,
    recorded,
    synthetic_posts,
)
from tracker.urls import DomainMatcher

WATCH = ("videos", "smashbros", "The_Donald")


class Harness(ConnectorHarness):
    type = "reddit"
    domain = "youtube.com"

    def __init__(self) -> None:
        things = recorded(DOMAIN_NEW) + recorded(ALL_NEW) + recorded(SEARCH) + recorded(ALL_COMMENTS)
        self.server = RecordingServer()  # after the recordings are read: without them the test skips first
        self.fake = FakeReddit(self.server, things)
        self.fake.expose_domain(self.domain)
        self.fake.expose_comments(*WATCH)
        self.clock_now = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)
        self._published = 0

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        assert self.fake.problems == []

    def settings(self) -> dict[str, Any]:
        return {
            "client_id": "${REDDIT_CLIENT_ID}",
            "client_secret": "${REDDIT_CLIENT_SECRET}",
            "user_agent": USER_AGENT,
            "api_base_url": self.fake.api_url,
            "auth_base_url": self.fake.auth_url,
            "feed_base_url": self.fake.feed_url,
            "watch_subreddits": list(WATCH),
            "initial_lookback": "4000d",
        }

    def env(self) -> dict[str, str]:
        return {"REDDIT_CLIENT_ID": CLIENT_ID, "REDDIT_CLIENT_SECRET": CLIENT_SECRET}

    def now(self) -> datetime:
        return self.clock_now

    def expected(self) -> set[str]:
        matcher = DomainMatcher([(self.domain, True)])
        offered = (
            self.fake.linking_to(self.domain)
            + self.fake.search_hits(self.domain)
            + self.fake.comments_in({name.lower() for name in WATCH})
        )
        return {
            thing["data"]["name"]
            for thing in offered
            if not is_gone(thing["data"])
            and any(
                matcher.match_url(link.url) for link in normalize_thing(thing["kind"], thing["data"]).links
            )
        }

    def publish_more(self) -> set[str]:
        template = recorded(DOMAIN_NEW)[0]
        new = set()
        for minutes in (5, 30):
            self._published += 1
            moment = self.clock_now + timedelta(minutes=minutes)
            (post,) = synthetic_posts(
                template,
                1,
                start=moment.timestamp(),
                url=f"https://www.youtube.com/watch?v=new{self._published}",
            )
            post["data"].update(id=f"zznew{self._published}", name=f"t3_zznew{self._published}")
            self.fake.add([post])
            new.add(post["data"]["name"])
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True
