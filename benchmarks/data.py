"""Generators of realistic payloads, following the shapes of the recorded ones in tests/data."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HN_HITS = ROOT / "tests" / "data" / "hackernews" / "algolia_hits_2014-05-30.json"
DOMAIN = "example.com"


@cache
def hn_templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """A recorded story hit and a recorded comment hit."""
    hits = json.loads(HN_HITS.read_text(encoding="utf-8"))["hits"]
    story = next(h for h in hits if "story" in h["_tags"] and h.get("url") and h.get("points"))
    comment = next(h for h in hits if "comment" in h["_tags"] and "href" in (h.get("comment_text") or ""))
    return story, comment


def _pick(index: int, salt: int, modulo: int) -> int:
    """A cheap, deterministic pseudo-random number in [0, modulo) for item ``index``."""
    return ((index * 2654435761 + salt * 40503) ^ (index >> 3)) % modulo


def hn_hit(index: int, *, start: int = 1_763_000_000) -> dict[str, Any]:
    """Algolia hit number ``index``: 60% stories, 40% comments; 90% link to example.com (various paths, some
    with tracking parameters or on subdomains), 10% to look-alike hosts the matcher must reject.

    The recorded hit's nested parts (``_highlightResult``) are shared, not copied: nothing writes to them.
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


JETSTREAM = ROOT / "tests" / "data" / "bluesky" / "jetstream__expected_v1.jsonl"


@cache
def jetstream_posts() -> tuple[dict[str, Any], ...]:
    """The recorded Jetstream post events (creates of app.bsky.feed.post)."""
    events = [json.loads(line) for line in JETSTREAM.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(
        e for e in events if e.get("kind") == "commit" and e["commit"].get("collection") == "app.bsky.feed.post"
        and e["commit"].get("operation") == "create"
    )  # fmt: skip


def jetstream_lines(
    count: int, *, linking_every: int = 50, start_us: int = 1_783_175_888_000_000
) -> list[str]:
    """``count`` Jetstream messages shaped like the recorded post events; one in ``linking_every`` links to
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
