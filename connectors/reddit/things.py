"""Reddit things (the API's JSON ``data`` of a ``t3`` post or ``t1`` comment) as mention records. Pure, no I/O.

Links come from a link post's ``url`` (anchor text: the title), the Markdown of ``selftext``/``body``
(``[anchor](url)`` keeps its anchor text) and bare URLs in that text. A crosspost is its own mention, and the
post it shares lends it its link and text when it has none of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tracker.record import Link, Mention, Metrics, RecordError, from_timestamp, raw_json
from tracker.textlinks import markdown_links, strip_markdown_links, urls_in_text

REDDIT = "https://www.reddit.com"
GONE_TEXTS = frozenset({"[deleted]", "[removed]"})
_ESCAPED = re.compile(r"\\([_*~()\[\]\\^#])")
_EMPHASIS = re.compile(r"(\*\*|__|~~|`|\*)")
_SUPERSCRIPT = re.compile(r"\^\(([^()]*)\)|\^")


def is_gone(data: Mapping[str, Any]) -> bool:
    """Whether Reddit shows this post or comment as deleted or removed.

    ``removed_by_category`` is set when a post was deleted or removed; a deleted or removed text reads
    ``[deleted]``/``[removed]``. An author shown as ``[deleted]`` alone is not enough: when an account is
    deleted its posts stay up, and they still link to the site.
    """
    if data.get("removed_by_category"):
        return True
    text = data.get("body") if "body" in data else data.get("selftext")
    return isinstance(text, str) and text.strip() in GONE_TEXTS


def normalize_thing(kind: str, data: Mapping[str, Any]) -> Mention:
    """A ``t3`` (post) or ``t1`` (comment) as a mention (links not yet matched)."""
    if kind == "t3":
        return normalize_post(data)
    if kind == "t1":
        return normalize_comment(data)
    raise RecordError(f"a Reddit {kind} is neither a post (t3) nor a comment (t1)")


def normalize_post(data: Mapping[str, Any]) -> Mention:
    """A link or self post."""
    post_id = _required_str(data, "id")
    fullname = str(data.get("name") or f"t3_{post_id}")
    title = _str_or_none(data.get("title"))
    text = _str_or_none(data.get("selftext"))
    links = _post_links(data, title)
    for parent in (data.get("crosspost_parent_list") or [])[:1]:
        if isinstance(parent, Mapping):
            links += _post_links(parent, _str_or_none(parent.get("title")) or title)
            text = text or _str_or_none(parent.get("selftext"))
    hidden = bool(data.get("hide_score"))
    return Mention(
        platform="reddit",
        platform_id=fullname,
        kind="post",
        permalink=_permalink(data, f"/comments/{post_id}/"),
        created_at=from_timestamp(_created(data)),
        author_id=_author_id(data),
        author_handle=_author(data),
        community=_community(data),
        community_size=_int_or_none(data.get("subreddit_subscribers")),
        title=title,
        text=text,
        thread_id=fullname,
        links=tuple(links),
        metrics=Metrics(
            score=None if hidden else _int_or_none(data.get("score")),
            replies=_int_or_none(data.get("num_comments")),
        ),
        raw=raw_json(data),
    )


def normalize_comment(data: Mapping[str, Any]) -> Mention:
    """A comment; its thread is the post it was made on."""
    comment_id = _required_str(data, "id")
    fullname = str(data.get("name") or f"t1_{comment_id}")
    link_id = _str_or_none(data.get("link_id"))
    post_id = link_id.partition("_")[2] if link_id else ""
    body = _str_or_none(data.get("body"))
    return Mention(
        platform="reddit",
        platform_id=fullname,
        kind="comment",
        permalink=_permalink(data, f"/comments/{post_id}/_/{comment_id}/"),
        created_at=from_timestamp(_created(data)),
        author_id=_author_id(data),
        author_handle=_author(data),
        community=_community(data),
        title=_str_or_none(data.get("link_title")),  # the post it was made on (listed comments carry it)
        text=body,
        thread_id=link_id,
        parent_id=_str_or_none(data.get("parent_id")),
        links=tuple(text_links(body or "")),
        metrics=Metrics(score=None if data.get("score_hidden") else _int_or_none(data.get("score"))),
        raw=raw_json(data),
    )


def text_links(markdown: str) -> list[Link]:
    """Markdown links (with their anchor text), then bare URLs, in Reddit Markdown."""
    if not markdown:
        return []
    links = [Link(unescape(url), "text", anchor_text(anchor)) for url, anchor in markdown_links(markdown)]
    links += [Link(url, "text") for url in urls_in_text(unescape(strip_markdown_links(markdown)))]
    return links


def unescape(url: str) -> str:
    r"""A URL without Markdown's backslash escapes (Reddit writes ``foo\_bar``)."""
    return _ESCAPED.sub(r"\1", url) if "\\" in url else url


def anchor_text(markdown: str) -> str | None:
    """The visible text of a Markdown anchor: escapes, emphasis and superscript marks removed."""
    text = _SUPERSCRIPT.sub(lambda match: match.group(1) or "", _EMPHASIS.sub("", unescape(markdown)))
    return " ".join(text.split()) or None


def fullname_of(kind: Any, data: Any) -> str | None:
    """``t3_abc`` for a listing child, or None when it has no usable id."""
    if not isinstance(kind, str) or not isinstance(data, Mapping):
        return None
    name = data.get("name")
    if isinstance(name, str) and name.startswith(kind + "_"):
        return name
    thing_id = data.get("id")
    return f"{kind}_{thing_id}" if isinstance(thing_id, str) and thing_id else None


def created_of(data: Any) -> float | None:
    """A thing's ``created_utc``, or None when it is missing or not a number."""
    value = data.get("created_utc") if isinstance(data, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _post_links(data: Mapping[str, Any], title: str | None) -> list[Link]:
    links = []
    url = data.get("url_overridden_by_dest") or data.get("url")
    if isinstance(url, str) and url and not data.get("is_self"):
        links.append(Link(url, "url_field", title))
    links += text_links(_str_or_none(data.get("selftext")) or "")
    return links


def _permalink(data: Mapping[str, Any], fallback_path: str) -> str:
    permalink = data.get("permalink")
    if isinstance(permalink, str):
        permalink = permalink.partition("?")[0]  # search results add ?ref=search_posts
    if isinstance(permalink, str) and permalink.startswith("/"):
        return REDDIT + permalink
    if isinstance(permalink, str) and permalink.startswith("https://"):
        return permalink
    subreddit = _str_or_none(data.get("subreddit"))
    return REDDIT + (f"/r/{subreddit}" if subreddit else "") + fallback_path


def _community(data: Mapping[str, Any]) -> str | None:
    prefixed = _str_or_none(data.get("subreddit_name_prefixed"))
    if prefixed:
        return prefixed
    subreddit = _str_or_none(data.get("subreddit"))
    return f"r/{subreddit}" if subreddit else None


def _author(data: Mapping[str, Any]) -> str | None:
    author = _str_or_none(data.get("author"))
    return None if author is None or author in GONE_TEXTS else author


def _author_id(data: Mapping[str, Any]) -> str | None:
    return _str_or_none(data.get("author_fullname")) if _author(data) else None


def _created(data: Mapping[str, Any]) -> float:
    created = created_of(data)
    if created is None:
        raise RecordError(f"created_utc is {data.get('created_utc')!r}, not a timestamp")
    return created


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
