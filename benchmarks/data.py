"""Generators of realistic payloads in the shapes of the platforms' recorded answers (Algolia hits, Jetstream
events). The templates are made up here: the benchmarks run without the recordings folder."""

from __future__ import annotations

import json
from typing import Any

DOMAIN = "example.com"
_LINK = "http://www.example.org/launch/"
_COMMENT = (
    "We hit the same problem last year, and it was not the library at all. The vendor's driver reported a "
    "buffer size it could not honour, so every client that trusted it overran the device.<p>What fixed it for us "
    "was pinning the driver and adding a guard on our side; the vendor shipped a firmware update months later."
    '<p>The write-up with the measurements is here: <a href="http://www.example.org/notes/driver-buffers?id=42&amp;'
    'lang=en" rel="nofollow">http:&#x2F;&#x2F;www.example.org&#x2F;notes&#x2F;driver-buffers?id=42&amp;lang=en</a>'
)


def _highlight(**fields: str) -> dict[str, Any]:
    return {
        name: {"value": value, "matchLevel": "none", "matchedWords": []} for name, value in fields.items()
    }


# An Algolia story hit and comment hit, field for field as hn.algolia.com returns them (values made up).
STORY: dict[str, Any] = {
    "created_at": "2014-02-09T16:03:59.000Z", "title": "A launch that went well", "url": _LINK,
    "author": "sample_author", "points": 812, "story_text": "", "comment_text": None, "num_comments": 214,
    "story_id": None, "story_title": None, "story_url": None, "parent_id": None, "created_at_i": 1391961839,
    "_tags": ["story", "author_sample_author", "story_7205001"], "objectID": "7205001",
    "_highlightResult": _highlight(title="A launch that went well", url=_LINK, author="sample_author", story_text=""),
}  # fmt: skip
COMMENT: dict[str, Any] = {
    "created_at": "2014-02-09T16:05:12.000Z", "title": None, "url": None, "author": "sample_commenter",
    "points": 96, "story_text": None, "comment_text": _COMMENT, "num_comments": None, "story_id": 7205001,
    "story_title": "A launch that went well", "story_url": _LINK, "parent_id": 7205001,
    "created_at_i": 1391961912, "_tags": ["comment", "author_sample_commenter", "story_7205001"],
    "objectID": "7205002",
    "_highlightResult": _highlight(author="sample_commenter", comment_text=_COMMENT,
                                   story_title="A launch that went well", story_url=_LINK),
}  # fmt: skip


def hn_templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """A story hit and a comment hit."""
    return STORY, COMMENT


def _pick(index: int, salt: int, modulo: int) -> int:
    """A cheap, deterministic pseudo-random number in [0, modulo) for item ``index``."""
    return ((index * 2654435761 + salt * 40503) ^ (index >> 3)) % modulo


def hn_hit(index: int, *, start: int = 1_763_000_000) -> dict[str, Any]:
    """Algolia hit number ``index``: 60% stories, 40% comments; 90% link to example.com (various paths, some
    with tracking parameters or on subdomains), 10% to look-alike hosts the matcher must reject.

    The template's nested parts (``_highlightResult``) are shared, not copied: nothing writes to them.
    """
    story, comment = hn_templates()
    host = (DOMAIN, f"www.{DOMAIN}", f"blog.{DOMAIN}", DOMAIN, DOMAIN)[_pick(index, 1, 5)]
    if _pick(index, 2, 10) == 0:
        host = (f"not{DOMAIN}", f"{DOMAIN}.evil.net", "other.org")[_pick(index, 3, 3)]
    url = f"https://{host}/posts/{_pick(index, 4, 5000)}" + (
        "?utm_source=hn&ref=x" if _pick(index, 5, 10) < 3 else ""
    )
    object_id = str(40_000_000 + index)
    if _pick(index, 6, 10) < 6:
        hit = dict(story)
        hit.update(objectID=object_id, created_at_i=start + index * 7, url=url, points=_pick(index, 7, 500),
                   num_comments=_pick(index, 8, 200), title=f"Show HN: thing number {index} ✨",
                   _tags=["story", f"author_{story['author']}", f"story_{object_id}"])  # fmt: skip
        return hit
    hit = dict(comment)
    story_id = 40_000_000 + max(0, index - 5)
    text = f'I wrote about this: <a href="{url.replace("/", "&#x2F;")}" rel="nofollow">{url}</a> &amp; more'
    hit.update(objectID=object_id, created_at_i=start + index * 7, comment_text=text, story_id=story_id,
               _tags=["comment", f"author_{comment['author']}", f"story_{story_id}"])  # fmt: skip
    return hit


def hn_hits(count: int, *, first: int = 0) -> list[dict[str, Any]]:
    return [hn_hit(index) for index in range(first, first + count)]


def _post(did: str, rkey: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "did": did, "time_us": 1783175888090631, "kind": "commit",
        "commit": {"rev": "3mptbypcq372f", "operation": "create", "collection": "app.bsky.feed.post",
                   "rkey": rkey, "record": {"$type": "app.bsky.feed.post", "createdAt": "2026-07-04T14:38:06.240Z",
                                            **record},
                   "cid": "bafyreiapzyf65cmq55jklpnrihiygze2jmmdqvvkwqeiomd72pbp2iazuu"},
    }  # fmt: skip


_REPLY = {
    "parent": {"cid": "bafyreiamdb73yhox2zhfcoeifp34kiqvg6fhbrznc6otjizwyxe67a3cci",
               "uri": "at://did:plc:samplethreadroot000000/app.bsky.feed.post/3mpt6d6eu5k2p"},
    "root": {"cid": "bafyreiamdb73yhox2zhfcoeifp34kiqvg6fhbrznc6otjizwyxe67a3cci",
             "uri": "at://did:plc:samplethreadroot000000/app.bsky.feed.post/3mpt6d6eu5k2p"},
}  # fmt: skip
_CARD = {
    "$type": "app.bsky.embed.external",
    "external": {"description": "A short film about the harbour at dawn", "title": "Harbour at dawn",
                 "uri": "https://video.example.net/watch?v=V5lDo-jw8mA",
                 "thumb": {"$type": "blob", "mimeType": "image/jpeg", "size": 119635,
                           "ref": {"$link": "bafkreias7oxbr6swsuggccmtnqpoeami4jza5x4w3urltn6gzhqf4k6k2e"}}},
}  # fmt: skip
_FACETS = [{"features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://video.example.net/watch?v=V5lDo-jw8mA"}],
            "index": {"byteEnd": 31, "byteStart": 0}}]  # fmt: skip
# Post events in the shapes Jetstream sends (replies, link cards, links in the text, plain text), made up.
JETSTREAM_POSTS: tuple[dict[str, Any], ...] = (
    _post("did:plc:sampleposter00000000001", "3mptbyoeyc22k",
          {"embed": _CARD, "facets": _FACETS, "langs": ["en"], "text": "video.example.net/watch?v=V5lD..."}),
    _post("did:plc:sampleposter00000000002", "3mptbyo7dms2m",
          {"langs": ["en"], "reply": _REPLY,
           "text": "Read the part about the old harbour guards again. It says nothing about waiting for the "
                   "next season before changing the rota; we could do it this week."}),
    _post("did:plc:sampleposter00000000003", "3mptbyo7dms2n",
          {"langs": ["de"], "text": "Heute früh am Hafen: Nebel, Möwen und ein Frachter nach dem anderen. ☕"}),
    _post("did:plc:sampleposter00000000004", "3mptbyo7dms2p",
          {"embed": _CARD, "langs": ["en"], "reply": _REPLY, "text": "this one 👇"}),
    _post("did:plc:sampleposter00000000005", "3mptbyo7dms2q",
          {"langs": ["ja"], "reply": _REPLY, "text": "ありがとうございます！また明日。"}),
    _post("did:plc:sampleposter00000000006", "3mptbyo7dms2r",
          {"facets": _FACETS, "text": "video.example.net/watch?v=V5lD... worth the eight minutes"}),
)  # fmt: skip


def jetstream_posts() -> tuple[dict[str, Any], ...]:
    """Post events (creates of app.bsky.feed.post) to copy."""
    return JETSTREAM_POSTS


def jetstream_lines(
    count: int, *, linking_every: int = 50, start_us: int = 1_783_175_888_000_000
) -> list[str]:
    """``count`` Jetstream messages shaped like Jetstream's post events; one in ``linking_every`` links to
    example.com (a facet with its anchor text, or an external embed), one in 40 is a delete."""
    posts = jetstream_posts()
    lines = []
    for index in range(count):
        event = json.loads(json.dumps(posts[index % len(posts)]))
        event["time_us"] = start_us + index * 50
        event["did"] = f"did:plc:bench{index % 5000:07d}"
        commit = event["commit"]
        commit["rkey"] = f"3bench{index:010d}"
        if index % 40 == 39:
            event["commit"] = {"rev": commit["rev"], "operation": "delete", "collection": "app.bsky.feed.post",
                               "rkey": commit["rkey"]}  # fmt: skip
        elif index % linking_every == 0:
            record = commit["record"]
            text = f"New post ✨ on my blog: {DOMAIN}/posts/{index}"
            record["text"] = text
            start = len(text.encode()) - len(f"{DOMAIN}/posts/{index}".encode())
            record["facets"] = [{"features": [{"$type": "app.bsky.richtext.facet#link",
                                               "uri": f"https://{DOMAIN}/posts/{index}?utm_source=bsky"}],
                                 "index": {"byteStart": start, "byteEnd": len(text.encode())}}]  # fmt: skip
        lines.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
    return lines
