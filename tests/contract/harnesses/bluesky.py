"""Contract harness for the Bluesky search connector: the real atproto client against a local PDS serving the
recorded ``searchPosts`` answer."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.harness import ConnectorHarness
from tests.support.bluesky_api import GET_POSTS, HANDLE, PASSWORD, SEARCH, FakePds, recorded_posts
from tests.support.http_server import RecordingServer

NOW = datetime(2025, 5, 19, 18, 0, tzinfo=UTC)
SOCPAPERBOT = "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/"


class Harness(ConnectorHarness):
    type = "bluesky"
    domain = "osf.io"

    def __init__(self) -> None:
        posts = recorded_posts()  # without the recordings the test skips here, before a socket is opened
        self.http = RecordingServer()
        self.pds = FakePds(self.http, posts)
        self._added = 0

    def start(self) -> None:
        self.http.start()

    def stop(self) -> None:
        self.http.stop()

    def settings(self) -> dict[str, Any]:
        return {
            "handle": "${BLUESKY_HANDLE}",
            "app_password": "${BLUESKY_APP_PASSWORD}",
            "api_base_url": self.pds.url,
        }

    def env(self) -> dict[str, str]:
        return {"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": PASSWORD}

    def now(self) -> datetime:
        return NOW

    def expected(self) -> set[str]:
        return {p["uri"] for p in self.pds.posts if self.domain in str(p["record"].get("facets"))}

    def publish_more(self) -> set[str]:
        template = next(p for p in recorded_posts() if p["uri"] == SOCPAPERBOT + "3lpk2u6qo222m")
        uris = set()
        for n in range(2):
            self._added += 1
            post = copy.deepcopy(template)
            post["uri"] = f"{SOCPAPERBOT}3new{self._added:09d}"
            created = NOW + timedelta(minutes=20 + n)  # after the first pass, before the next one
            post["record"]["createdAt"] = created.isoformat().replace("+00:00", "Z")
            post["indexedAt"] = (created + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
            self.pds.posts.append(post)
            uris.add(post["uri"])
        return uris

    def break_server(self, fault: str) -> None:
        self.pds.faults.update({SEARCH: fault, GET_POSTS: fault})

    def heal(self) -> None:
        self.pds.faults.clear()

    def add_unknown_fields(self) -> None:
        self.pds.extra_fields = True

    def add_engagement(self, platform_id: str) -> bool:
        post = next(p for p in self.pds.posts if p["uri"] == platform_id)
        post["likeCount"] = (post.get("likeCount") or 0) + 10
        return True

    def delete(self, platform_id: str) -> bool:
        self.pds.posts = [p for p in self.pds.posts if p["uri"] != platform_id]  # its author's account stays
        return True
