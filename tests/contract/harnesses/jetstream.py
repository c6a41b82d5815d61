"""Contract harness for the Jetstream connector: a local websocket server replaying the recorded events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.bluesky_data import FakeAppView, post_event, recorded_events
from tests.support.http_server import RecordingServer
from tests.support.jetstream_server import JetstreamServer

NOW = datetime(2026, 7, 4, 14, 40, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
FAR_FUTURE_US = 4_102_444_800_000_000  # 2100: the live stream always has events newer than a pass's start
RECORDED_LINK = "at://did:plc:dclwtltrt2ggsryagfzk7dp4/app.bsky.feed.post/3mptbyoeyc22k"


def post_views(events: list[str]) -> dict[str, dict[str, Any]]:
    """The AppView's view (``getPosts``) of each post a stream event creates, as uri -> view."""
    views = {}
    for line in events:
        event = json.loads(line)
        commit = event.get("commit") or {}
        if commit.get("operation") != "create" or commit.get("collection") != "app.bsky.feed.post":
            continue
        did = event["did"]
        uri = f"at://{did}/app.bsky.feed.post/{commit['rkey']}"
        views[uri] = {
            "uri": uri, "cid": commit["cid"], "author": {"did": did, "handle": f"{did[-6:]}.test"},
            "record": commit["record"], "indexedAt": commit["record"]["createdAt"],
            "likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0,
        }  # fmt: skip
    return views


class Harness(ConnectorHarness):
    type = "jetstream"
    domain = "youtube.com"

    def __init__(self) -> None:
        events = recorded_events()
        self.stream = JetstreamServer(events, live=lambda: FAR_FUTURE_US)
        self.http = RecordingServer()
        self.appview = FakeAppView(self.http)
        self.appview.posts.update(post_views(events))  # so that refresh finds the posts the stream carried
        self._added = 0

    def start(self) -> None:
        self.stream.__enter__()
        self.http.start()

    def stop(self) -> None:
        self.stream.__exit__()
        self.http.stop()

    def settings(self) -> dict[str, Any]:
        # The replayed live edge is stamped in 2100, whatever the rig's clock says: trust that far ahead.
        return {
            "endpoints": [self.stream.url], "appview_url": self.appview.url, "max_failures": 2,
            "max_clock_skew": "5300w",
            "flush_every": "1s",  # while following, a page (and its cursor) every second
        }  # fmt: skip

    def now(self) -> datetime:
        return NOW

    def expected(self) -> set[str]:
        return {RECORDED_LINK} | {f"at://did:plc:newposter{n:012d}/app.bsky.feed.post/3new{n:09d}"
                                  for n in range(1, self._added + 1)}  # fmt: skip

    def publish_more(self) -> set[str]:
        base = NOW_US + 60_000_000  # a minute after the first pass began
        uris = set()
        for n in range(2):
            self._added += 1
            did, rkey = f"did:plc:newposter{self._added:012d}", f"3new{self._added:09d}"
            links = [(f"https://youtu.be/x{n}", "this"), (f"https://www.YouTube.com/watch?v=new{n}", "video")]
            event = post_event(did, rkey, base + n * 1000, "watch ", links=links)
            self.stream.add([event])
            self.appview.posts.update(post_views([event]))
            uris.add(f"at://{did}/app.bsky.feed.post/{rkey}")
        return uris

    def break_server(self, fault: str) -> None:
        # A stream has no per-request status: each fault is how the websocket handshake can fail.
        if fault == "malformed":
            self.stream.malformed = True  # an HTTP answer that is not a websocket handshake
        else:
            self.stream.refuse = 429 if fault == "rate_limit" else 503

    def heal(self) -> None:
        self.stream.refuse, self.stream.malformed = None, False

    def add_unknown_fields(self) -> None:
        with self.stream._lock:
            changed = []
            for line in self.stream.events:
                event = json.loads(line)
                event["kind_v2"] = {"nested": [1, 2, {"x": None}]}
                if "commit" in event:
                    event["commit"]["future_field"] = "ok"
                    if isinstance(event["commit"].get("record"), dict):
                        event["commit"]["record"]["$unknownLexicon"] = {"a": 1}
                changed.append(json.dumps(event, separators=(",", ":")))
            self.stream.events = changed

    def add_engagement(self, platform_id: str) -> bool:
        self.appview.posts[platform_id]["likeCount"] += 10
        return True

    def delete(self, platform_id: str) -> bool:
        del self.appview.posts[platform_id]  # its author's profile still answers: the post itself is gone
        return True
