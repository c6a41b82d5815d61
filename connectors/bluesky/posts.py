"""Bluesky posts as mention records, shared by the Jetstream and search connectors.

Links come from rich-text facets (the anchor text is the text between the facet's UTF-8 byte offsets),
external embeds (anchor text: the card title), the external media of a record-with-media embed, and bare
URLs or domains in the text that no facet covers. ``created_at`` is the post's ``createdAt`` unless that is
later than when Bluesky received the post (clients set ``createdAt``; the AppView sorts by the earlier of
the two, and so do we).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tracker.connector import Author
from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json
from tracker.textlinks import url_spans

PLATFORM = "bluesky"
POST = "app.bsky.feed.post"
_LINK = "app.bsky.richtext.facet#link"
_EXTERNAL = "app.bsky.embed.external"
_RECORD = "app.bsky.embed.record"
_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST}/{rkey}"


def split_uri(uri: str) -> tuple[str, str]:
    """(did, rkey) of a post's at-uri; RecordError when it is not one."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or parts[1] != POST or not parts[0] or not parts[2]:
        raise RecordError(f"not a Bluesky post uri: {uri!r}")
    return parts[0], parts[2]


def permalink(uri: str, handle: str | None = None) -> str:
    """``https://bsky.app/profile/<handle or did>/post/<rkey>``."""
    did, rkey = split_uri(uri)
    usable = handle and handle != "handle.invalid"  # the AppView's placeholder for a broken handle
    return f"https://bsky.app/profile/{handle if usable else did}/post/{rkey}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _external(embed: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = embed.get("$type")
    if kind == _EXTERNAL:
        return _mapping(embed.get("external"))
    if kind == _RECORD_WITH_MEDIA:
        media = _mapping(embed.get("media"))
        if media.get("$type") == _EXTERNAL:
            return _mapping(media.get("external"))
    return {}


def _quoted_uri(embed: Mapping[str, Any]) -> str | None:
    kind = embed.get("$type")
    if kind == _RECORD:
        uri = _mapping(embed.get("record")).get("uri")
    elif kind == _RECORD_WITH_MEDIA:
        uri = _mapping(_mapping(embed.get("record")).get("record")).get("uri")
    else:
        return None
    return uri if isinstance(uri, str) and uri else None


def record_links(record: Mapping[str, Any]) -> tuple[Link, ...]:
    """Every link a post record carries: facets, then the card, then bare links no facet covers."""
    text = record.get("text")
    text = text if isinstance(text, str) else ""
    encoded = text.encode("utf-8")
    links: list[Link] = []
    covered: list[tuple[int, int]] = []
    facets = record.get("facets")
    for item in facets if isinstance(facets, list) else ():
        facet = _mapping(item)
        index = _mapping(facet.get("index"))
        start, end = index.get("byteStart"), index.get("byteEnd")
        span = (
            (start, end)
            if type(start) is int and type(end) is int and 0 <= start < end <= len(encoded)
            else None
        )
        features = facet.get("features")
        for part in features if isinstance(features, list) else ():
            feature = _mapping(part)
            uri = feature.get("uri")
            if feature.get("$type") != _LINK or not isinstance(uri, str) or not uri:
                continue
            # A facet may split a multi-byte character; "replace" keeps the rest of the anchor readable.
            anchor = encoded[span[0] : span[1]].decode("utf-8", errors="replace").strip() if span else ""
            links.append(Link(uri, "facet", anchor or None))
            if span:
                covered.append(span)
    external = _external(_mapping(record.get("embed")))
    uri = external.get("uri")
    if isinstance(uri, str) and uri:
        title = external.get("title")
        links.append(Link(uri, "embed", title.strip() or None if isinstance(title, str) else None))
    if text:
        for char_start, char_end, url in url_spans(text):
            byte_start = len(text[:char_start].encode("utf-8"))
            byte_end = byte_start + len(text[char_start:char_end].encode("utf-8"))
            if not any(byte_start < end and start < byte_end for start, end in covered):
                links.append(Link(url, "text", None))
    return tuple(links)


def kind_and_parents(record: Mapping[str, Any], uri: str) -> tuple[str, str, str | None]:
    """(kind, thread id, parent id): a reply's root and parent, else a quote's quoted post, else a post."""
    reply = _mapping(record.get("reply"))
    if reply:
        parent = _mapping(reply.get("parent")).get("uri")
        parent = parent if isinstance(parent, str) and parent else None
        root = _mapping(reply.get("root")).get("uri")
        return "reply", root if isinstance(root, str) and root else parent or uri, parent
    quoted = _quoted_uri(_mapping(record.get("embed")))
    if quoted:
        return "quote", uri, quoted
    return "post", uri, None


def created_at(record: Mapping[str, Any], received: datetime) -> datetime:
    """When the post was made: its ``createdAt``, but never later than when Bluesky received it."""
    stamp = record.get("createdAt")
    try:
        created = parse_iso(stamp) if isinstance(stamp, str) else received
    except RecordError:
        return received
    return min(created, received)


def record_mention(
    uri: str,
    record: Mapping[str, Any],
    *,
    raw: str,
    author: Author | None,
    received: datetime,
    metrics: Metrics | None = None,
) -> Mention:
    """A post record (from Jetstream or a post view) as a mention; the poller matches its links.

    ``received`` is when Bluesky got the post (the Jetstream event time, the view's ``indexedAt``).
    """
    did, _ = split_uri(uri)
    if not isinstance(record, Mapping):
        raise RecordError(f"the post record is a {type(record).__name__}, not an object")
    kind, thread_id, parent_id = kind_and_parents(record, uri)
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    text = record.get("text")
    handle = author.handle if author else None
    return Mention(
        platform=PLATFORM,
        platform_id=uri,
        kind=kind,
        permalink=permalink(uri, handle),
        created_at=created_at(record, received),
        author_id=did,
        author_handle=handle,
        author_name=(author.name or None) if author else None,
        author_followers=author.followers if author else None,
        text=text if isinstance(text, str) and text else None,
        lang=lang or None,
        thread_id=thread_id,
        parent_id=parent_id,
        links=record_links(record),
        metrics=metrics or Metrics(),
        raw=raw,
    )


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def view_author(view: Mapping[str, Any]) -> Author:
    """The author a ``PostView`` names (handle and display name; followers are not in a post view)."""
    author = _mapping(view.get("author"))
    did = author.get("did")
    handle, name = author.get("handle"), author.get("displayName")
    return Author(
        PLATFORM,
        did if isinstance(did, str) and did else split_uri(str(view.get("uri")))[0],
        handle if isinstance(handle, str) and handle != "handle.invalid" else None,
        name if isinstance(name, str) and name.strip() else None,
    )


def post_view_mention(
    view: Mapping[str, Any], fallback_time: datetime, author: Author | None = None
) -> Mention:
    """A ``PostView`` (searchPosts, getPosts) as a mention, with its like, repost, reply and quote counts.

    ``author`` (from the profile cache, with followers) is used when it names the same account.
    """
    uri = view.get("uri")
    if not isinstance(uri, str):
        raise RecordError("the post view has no uri")
    named = view_author(view)
    if author is not None and author.author_id == named.author_id:
        named = Author(PLATFORM, named.author_id, named.handle or author.handle, named.name or author.name,
                       author.followers)  # fmt: skip
    indexed = view.get("indexedAt")
    try:
        received = parse_iso(indexed) if isinstance(indexed, str) else fallback_time
    except RecordError:
        received = fallback_time
    metrics = Metrics(
        likes=_count(view.get("likeCount")),
        reposts=_count(view.get("repostCount")),
        replies=_count(view.get("replyCount")),
        quotes=_count(view.get("quoteCount")),
    )
    return record_mention(
        uri,
        _mapping(view.get("record")),
        raw=raw_json(view),
        author=named,
        received=received,
        metrics=metrics,
    )
