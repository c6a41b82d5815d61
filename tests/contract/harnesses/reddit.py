"""Contract harness for the Reddit connector: a fake Reddit (OAuth API for praw) over recorded listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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

WATCH = ("videos", "smashbros", "The_Donald")
# Besides the whole /domain/youtube.com/new listing, the recorded things that link to youtube.com, read off
# the recordings by hand: link posts of r/all/new, a self post the search finds (its text links there), and
# comments in the watched subreddits.
R_ALL_NEW_YOUTUBE = {
    "t3_5jo10d", "t3_5jo10g", "t3_5jo10q", "t3_5jo10y", "t3_5jo11z", "t3_5jo120", "t3_5jo12e", "t3_5jo13c",
    "t3_5jo13j", "t3_5jo13w", "t3_5jo13y",
}  # fmt: skip
SEARCH_YOUTUBE = {"t3_3gpbiu"}
COMMENTS_YOUTUBE = {"t1_dbhn0zu", "t1_dbhn12f", "t1_dbhn14x"}  # in r/smashbros, r/videos, r/The_Donald


class Harness(ConnectorHarness):
    type = "reddit"
    domain = "youtube.com"

    def __init__(self) -> None:
        domain_listing = recorded(DOMAIN_NEW)
        things = domain_listing + recorded(ALL_NEW) + recorded(SEARCH) + recorded(ALL_COMMENTS)
        self.recorded = (
            {thing["data"]["name"] for thing in domain_listing}
            | R_ALL_NEW_YOUTUBE
            | SEARCH_YOUTUBE
            | COMMENTS_YOUTUBE
        )
        self.server = RecordingServer()  # after the recordings are read: without them the test skips first
        self.fake = FakeReddit(self.server, things)
        self.fake.expose_domain(self.domain)
        self.fake.expose_comments(*WATCH)
        self.clock_now = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)
        self._published: set[str] = set()

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
        return self.recorded | self._published

    def publish_more(self) -> set[str]:
        template = recorded(DOMAIN_NEW)[0]
        new = set()
        for minutes in (5, 30):
            number = len(self._published) + 1
            moment = self.clock_now + timedelta(minutes=minutes)
            (post,) = synthetic_posts(
                template, 1, start=moment.timestamp(), url=f"https://www.youtube.com/watch?v=new{number}"
            )
            post["data"].update(id=f"zznew{number}", name=f"t3_zznew{number}")
            self.fake.add([post])
            self._published.add(post["data"]["name"])
            new.add(post["data"]["name"])
        return new

    def break_server(self, fault: str) -> None:
        self.fake.fault = fault

    def heal(self) -> None:
        self.fake.fault = None

    def add_unknown_fields(self) -> None:
        self.fake.extra_fields = True

    def add_engagement(self, platform_id: str) -> bool:
        data = self.fake.things[platform_id]["data"]
        data["score"] = (data.get("score") or 0) + 10
        data["hide_score"] = data["score_hidden"] = False  # the hour Reddit hides new scores for has passed
        return True

    def delete(self, platform_id: str) -> bool:
        self.fake.unlist(platform_id)
        return True
