"""Lemmy post and comment views (API v3) as mention records. Pure, no I/O.

A post or comment is keyed by its ActivityPub id (``ap_id``), the same on every instance that federates it,
so one post read through two instances is one record; its permalink is that id (the page of the post on the
instance it was made on). The community is ``!name@instance`` of the community's home instance, the author
``name@instance`` of theirs. Links: a link post's URL (anchor text: the title), then the Markdown links of
the body (with their anchor text) and the bare URLs in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json
from tracker.textlinks import markdown_links, strip_markdown_links, urls_in_text


def normalize_post(view: Mapping[str, Any], community_size: int | None = None) -> Mention:
    """A ``PostView`` (``post``, ``creator``, ``community``, ``counts``)."""
    post = _object(view, "post")
    ap_id = ap_id_of(post)
    title = _str_or_none(post.get("name"))
    body = _str_or_none(post.get("body"))
    links = []
    if isinstance(post.get("url"), str) and post["url"]:
        links.append(Link(post["url"], "url_field", title))
    links += text_links(body or "")
    counts = _counts(view)
    author = _author(view)
    return Mention(
        platform="lemmy",
        platform_id=ap_id,
        kind="post",
        permalink=ap_id,
        created_at=parse_iso(_required_str(post, "published")),
        author_id=author[0],
        author_handle=author[1],
        author_name=author[2],
        community=community_of(view),
        community_size=community_size,
        title=title,
        text=body,
        thread_id=ap_id,
        links=tuple(links),
        metrics=Metrics(
            score=_int_or_none(counts.get("score")), replies=_int_or_none(counts.get("comments"))
        ),
        raw=raw_json(view),
    )


def normalize_comment(view: Mapping[str, Any], community_size: int | None = None) -> Mention:
    """A ``CommentView`` (``comment``, ``creator``, ``post``, ``community``, ``counts``)."""
    comment = _object(view, "comment")
    ap_id = ap_id_of(comment)
    post_id = ap_id_of(_object(view, "post"))
    content = _str_or_none(comment.get("content"))
    counts = _counts(view)
    path = str(comment.get("path") or "")
    author = _author(view)
    return Mention(
        platform="lemmy",
        platform_id=ap_id,
        kind="comment",
        permalink=ap_id,
        created_at=parse_iso(_required_str(comment, "published")),
        author_id=author[0],
        author_handle=author[1],
        author_name=author[2],
        community=community_of(view),
        community_size=community_size,
        text=content,
        thread_id=post_id,
        # "0.<id>" is a comment on the post itself; a deeper one answers a comment known here only by the
        # instance's own id, which is no use elsewhere.
        parent_id=post_id if path.count(".") == 1 else None,
        links=tuple(text_links(content or "")),
        metrics=Metrics(
            score=_int_or_none(counts.get("score")), replies=_int_or_none(counts.get("child_count"))
        ),
        raw=raw_json(view),
    )


def is_gone(view: Mapping[str, Any]) -> bool:
    """Deleted by its author or removed by a moderator."""
    item = view.get("comment") if isinstance(view.get("comment"), Mapping) else view.get("post")
    return isinstance(item, Mapping) and bool(item.get("deleted") or item.get("removed"))


def ap_id_of(item: Mapping[str, Any]) -> str:
    ap_id = item.get("ap_id")
    if not isinstance(ap_id, str) or not ap_id.startswith("https://"):
        raise RecordError(f"ap_id is {ap_id!r}, not an https URL")
    return ap_id


def community_of(view: Mapping[str, Any]) -> str | None:
    community = view.get("community")
    if not isinstance(community, Mapping) or not isinstance(community.get("name"), str):
        return None
    home = urlsplit(str(community.get("actor_id") or "")).hostname
    return f"!{community['name']}@{home}" if home else f"!{community['name']}"


def community_key(view: Mapping[str, Any]) -> int | None:
    """The community's id on the instance that served the view (for the subscriber lookup)."""
    community = view.get("community")
    value = community.get("id") if isinstance(community, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def text_links(markdown: str) -> list[Link]:
    """Markdown links (with their anchor text), then bare URLs (Lemmy links those too)."""
    if not markdown:
        return []
    links = [Link(url, "text", anchor or None) for url, anchor in markdown_links(markdown)]
    links += [Link(url, "text") for url in urls_in_text(strip_markdown_links(markdown))]
    return links


def _counts(view: Mapping[str, Any]) -> Mapping[str, Any]:
    counts = view.get("counts")
    return counts if isinstance(counts, Mapping) else {}


def _author(view: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    creator = view.get("creator")
    if not isinstance(creator, Mapping) or creator.get("deleted"):
        return None, None, None  # the account is gone; its posts stay up
    actor = _str_or_none(creator.get("actor_id"))
    name = _str_or_none(creator.get("name"))
    home = urlsplit(actor or "").hostname
    handle = f"{name}@{home}" if name and home else name
    return actor, handle, _str_or_none(creator.get("display_name"))


def _object(view: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = view.get(key)
    if not isinstance(value, Mapping):
        raise RecordError(f"the view has no {key} object")
    return value


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(f"{key} is {value!r}")
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    return int(value)
