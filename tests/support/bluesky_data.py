"""Jetstream events and AppView answers for Bluesky tests: the recorded ones, and new ones in their shape."""

from __future__ import annotations

import json
from typing import Any

from tests.support.cassettes import json_file, jsonl_lines
from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording

RECORDED_US = 1_783_175_888_000_000  # the recorded events were captured at 2026-07-04T14:38:08Z


def recorded_events() -> list[str]:
    """The Jetstream v1 events recorded from the live service, as sent (see tests/data/README.md)."""
    return jsonl_lines(recording("bluesky", "jetstream__expected_v1.jsonl"))


def post_event(
    did: str,
    rkey: str,
    time_us: int,
    text: str,
    *,
    links: list[tuple[str, str]] = (),
    embed: dict[str, Any] | None = None,
    reply: str | None = None,
    operation: str = "create",
) -> str:
    """A post event like the recorded ones; ``links`` are (url, visible text) pairs, the text appended with
    a facet over its UTF-8 bytes."""
    facets = []
    for url, visible in links:
        start = len(text.encode())
        text += visible
        facets.append({"features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
                       "index": {"byteStart": start, "byteEnd": len(text.encode())}})  # fmt: skip
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": "2026-07-04T14:38:06.240Z",
        "langs": ["en"],
        "text": text,
    }
    if facets:
        record["facets"] = facets
    if embed:
        record["embed"] = embed
    if reply:
        record["reply"] = {"parent": {"cid": "bafy", "uri": reply}, "root": {"cid": "bafy", "uri": reply}}
    commit: dict[str, Any] = {
        "rev": "3mptbypcq372f",
        "operation": operation,
        "collection": "app.bsky.feed.post",
        "rkey": rkey,
    }
    if operation != "delete":
        commit.update(record=record, cid="bafyreiapzyf65cmq55jklpnrihiygze2jmmdqvvkwqeiomd72pbp2iazuu")
    event = {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))  # compact, as Jetstream sends


def external_embed(url: str, title: str) -> dict[str, Any]:
    return {"$type": "app.bsky.embed.external", "external": {"uri": url, "title": title, "description": ""}}


def quote_embed(uri: str, media: dict[str, Any] | None = None) -> dict[str, Any]:
    """A quote of ``uri``; with ``media`` (e.g. an external embed), a record-with-media embed."""
    record = {"$type": "app.bsky.embed.record", "record": {"cid": "bafyquoted", "uri": uri}}
    if media is None:
        return record
    return {"$type": "app.bsky.embed.recordWithMedia", "record": record, "media": media}


def recorded_post_view() -> dict[str, Any]:
    """The post view of the recorded ``getPosts`` answer, from the decoded bskyr cassette
    ``bluesky/bskyr__f_getposts.yml`` (see tests/data/README.md)."""
    recorded = json_file(
        recording(
            "bluesky", "decoded", "bskyr__f_getposts", "000_GET_bsky.social_xrpc_app.bsky.feed.getPosts.json"
        )
    )
    (view,) = recorded["body"]["posts"]
    return dict(view)


class FakeAppView:
    """``getProfiles`` and ``getPosts`` at 127.0.0.1; every DID's handle is ``<last 6 chars>.test``."""

    def __init__(self, server: RecordingServer) -> None:
        self.server = server
        self.posts: dict[str, dict[str, Any]] = {}
        self.deactivated: set[str] = set()  # accounts whose profile (and posts) the AppView no longer shows
        self.broken = False
        server.route("GET", "/xrpc/app.bsky.actor.getProfiles", self.profiles)
        server.route("GET", "/xrpc/app.bsky.feed.getPosts", self.get_posts)

    @property
    def url(self) -> str:
        return self.server.url

    def profiles(self, request: Request) -> Reply:
        if self.broken:
            return Reply(502, "bad gateway")
        actors = request.query.get("actors", [])
        assert 0 < len(actors) <= 25
        return Reply(200, {"profiles": [
            {"did": did, "handle": f"{did[-6:]}.test", "displayName": f"Name {did[-6:]}", "followersCount": 42}
            for did in actors if did not in self.deactivated
        ]})  # fmt: skip

    def get_posts(self, request: Request) -> Reply:
        uris = request.query.get("uris", [])
        assert 0 < len(uris) <= 25
        return Reply(200, {"posts": [self.posts[uri] for uri in uris if uri in self.posts]})
