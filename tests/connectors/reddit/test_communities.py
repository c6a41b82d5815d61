"""Subreddit sizes for reach: a post carries its subreddit's subscribers; the subreddits of comments are looked
up through /api/info?sr_name=, at most once a day each, remembered by the connector between passes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.reddit_api import ALL_COMMENTS, DOMAIN_NEW, RedditRig, recorded
from tracker.schema import mentions

NOW = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)
WATCH = ("videos", "smashbros", "The_Donald")
SUBSCRIBERS = {"videos": 17_000_000, "smashbros": 180_000, "the_donald": 370_000}


def subreddit(name: str, subscribers: int) -> dict[str, Any]:
    """A ``t5`` thing as /api/info lists it (Reddit's documented shape; no recording of one exists here)."""
    thing_id = f"x{abs(hash(name)) % 10**6:06d}"
    data = {"display_name": name, "display_name_prefixed": f"r/{name}", "subscribers": subscribers,
            "id": thing_id, "name": f"t5_{thing_id}", "url": f"/r/{name}/", "subreddit_type": "public"}  # fmt: skip
    return {"kind": "t5", "data": data}


class Subreddits:
    """Answers /api/info?sr_name= (case-insensitive names) and passes the other lookups to the fake."""

    def __init__(self, rig: RedditRig, server: RecordingServer) -> None:
        self.rig = rig
        self.asked: list[list[str]] = []
        self.refuse = False
        server.route("GET", rig.fake.api_prefix + "/api/info/", self.info)

    def info(self, request: Request) -> Reply:
        names = request.param("sr_name")
        if names is None:
            return self.rig.fake.info(request)
        self.asked.append(names.split(","))
        if self.refuse:
            return Reply(403, {"message": "Forbidden", "error": 403})
        children = [
            subreddit(n, SUBSCRIBERS[n.lower()]) for n in names.split(",") if n.lower() in SUBSCRIBERS
        ]
        return Reply(200, {"kind": "Listing", "data": {"children": children, "after": None, "before": None}})


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def with_size(post: dict[str, Any], subscribers: int) -> dict[str, Any]:
    sized = copy.deepcopy(post)
    sized["data"]["subreddit_subscribers"] = subscribers
    return sized


def sizes(rig: RedditRig) -> dict[str, tuple[int | None, int | None]]:
    with rig.store.read() as conn:
        rows = conn.execute(select(mentions.c.platform_id, mentions.c.community_size, mentions.c.reach))
        return {row.platform_id: (row.community_size, row.reach) for row in rows}


def test_comments_get_their_subreddits_size_once_a_day_and_posts_bring_theirs(
    server: RecordingServer, tmp_path: Path
) -> None:
    posts = recorded(DOMAIN_NEW)
    rig = RedditRig(server, tmp_path, [with_size(posts[0], 4321), *posts[1:], *recorded(ALL_COMMENTS)],
                    now=NOW, watch=WATCH)  # fmt: skip
    lookups = Subreddits(rig, server)
    poller = rig.poller()
    assert poller.poll("reddit").status == "ok"
    assert lookups.asked == [["smashbros", "the_donald", "videos"]]  # one request for the three, sorted
    found = sizes(rig)
    assert found["t1_dbhn12f"] == (17_000_000, 17_000_000)  # a comment in r/videos: reach is its size
    assert found["t1_dbhn0zu"] == (180_000, 180_000)
    assert found[posts[0]["data"]["name"]] == (4321, 4321)  # from the post's own subreddit_subscribers
    assert found[posts[1]["data"]["name"]] == (None, None)  # a 2016 payload without one: not looked up

    newer = copy.deepcopy(next(c for c in recorded(ALL_COMMENTS) if c["data"]["name"] == "t1_dbhn12f"))
    newer["data"].update(id="dbzzzz1", name="t1_dbzzzz1", created_utc=NOW.timestamp() + 60)
    rig.fake.add([newer])
    rig.clock.advance(minutes=10)
    assert poller.poll("reddit").status == "ok"
    assert lookups.asked == [["smashbros", "the_donald", "videos"]]  # known for a day: not asked again
    assert sizes(rig)["t1_dbzzzz1"] == (17_000_000, 17_000_000)

    again = copy.deepcopy(newer)
    again["data"].update(id="dbzzzz2", name="t1_dbzzzz2", created_utc=NOW.timestamp() + 25 * 3600)
    rig.fake.add([again])
    rig.clock.advance(hours=25)
    assert poller.poll("reddit").status == "ok"
    assert lookups.asked[1:] == [["videos"]]  # a day later: asked again, for the subreddit seen now
    poller.close()
    rig.close()
    assert rig.fake.problems == []


def test_a_failed_lookup_keeps_the_comments_and_tries_again_later(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = RedditRig(server, tmp_path, recorded(ALL_COMMENTS), now=NOW, watch=WATCH)
    lookups = Subreddits(rig, server)
    lookups.refuse = True
    poller = rig.poller()
    result = poller.poll("reddit")
    assert (result.status, result.error) == ("ok", None)
    assert sizes(rig)["t1_dbhn12f"] == (None, None)
    lookups.refuse = False
    newer = copy.deepcopy(next(c for c in recorded(ALL_COMMENTS) if c["data"]["name"] == "t1_dbhn12f"))
    newer["data"].update(id="dbzzzz1", name="t1_dbzzzz1", created_utc=NOW.timestamp() + 2 * 3600)
    rig.fake.add([newer])
    rig.clock.advance(hours=2)  # past the hour a failure waits
    assert poller.poll("reddit").status == "ok"
    assert lookups.asked[-1] == ["videos"]
    assert sizes(rig)["t1_dbzzzz1"] == (17_000_000, 17_000_000)
    poller.close()
    rig.close()


def test_the_feeds_know_no_sizes_and_ask_for_none(server: RecordingServer, tmp_path: Path) -> None:
    rig = RedditRig(server, tmp_path, recorded(ALL_COMMENTS), now=NOW, watch=WATCH, auth="none")
    lookups = Subreddits(rig, server)
    assert rig.poll().status == "ok"
    assert lookups.asked == []
    assert {size for size, _ in sizes(rig).values()} == {None}
    rig.close()
