"""X API v2 posts (tweets as plain dicts) as mention records."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json

PERMALINK = "https://x.com/{}/status/{}"
ANONYMOUS_PERMALINK = "https://x.com/i/status/{}"  # X redirects it to the author's URL
# X's pseudo language codes: undetermined, no text, media/hashtags/mentions/cashtags only, too short.
_NO_LANGUAGE = frozenset({"und", "zxx", "qme", "qht", "qam", "qct", "qst"})


def users_by_id(payload: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The ``includes.users`` of a response, by id."""
    includes = payload.get("includes")
    users = includes.get("users") if isinstance(includes, Mapping) else None
    if not isinstance(users, list):
        return {}
    return {str(user["id"]): user for user in users if isinstance(user, Mapping) and "id" in user}


def is_retweet(tweet: Mapping[str, Any]) -> bool:
    return any(ref.get("type") == "retweeted" for ref in _references(tweet))


def normalize_tweet(tweet: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]]) -> Mention:
    """A post and its author (from ``includes.users``) as a mention, links not yet matched.

    The kind comes from ``referenced_tweets``: a reply (``replied_to``, also when it quotes), a quote, or a
    post; the parent is the post replied to or quoted. A long post's full text and links are in
    ``note_tweet``. Raises KeyError, TypeError, ValueError or RecordError on a payload that cannot be read.
    """
    post_id = str(tweet["id"])
    if not post_id.isdigit():
        raise RecordError(f"post id {post_id!r} is not a number")
    references = {ref.get("type"): str(ref.get("id")) for ref in _references(tweet)}
    if "replied_to" in references:
        kind, parent = "reply", references["replied_to"]
    elif "quoted" in references:
        kind, parent = "quote", references["quoted"]
    else:
        kind, parent = "post", None
    author_id = _str_or_none(tweet.get("author_id"))
    author = users.get(author_id or "", {})
    handle = _str_or_none(author.get("username"))
    followers = (author.get("public_metrics") or {}).get("followers_count")
    text = _note(tweet).get("text") or tweet.get("text")
    metrics = tweet.get("public_metrics") or {}
    lang = _str_or_none(tweet.get("lang"))
    return Mention(
        platform="x",
        platform_id=post_id,
        kind=kind,
        permalink=PERMALINK.format(handle, post_id) if handle else ANONYMOUS_PERMALINK.format(post_id),
        created_at=parse_iso(tweet["created_at"]),
        author_id=author_id,
        author_handle=handle,
        author_name=_str_or_none(author.get("name")),
        author_followers=_int_or_none(followers),
        text=html.unescape(text) if isinstance(text, str) else None,  # X escapes &, < and > in text
        lang=None if lang in _NO_LANGUAGE else lang,
        thread_id=_str_or_none(tweet.get("conversation_id")),
        parent_id=parent,
        links=tweet_links(tweet),
        metrics=Metrics(
            likes=_int_or_none(metrics.get("like_count")),
            reposts=_int_or_none(metrics.get("retweet_count")),
            replies=_int_or_none(metrics.get("reply_count")),
            quotes=_int_or_none(metrics.get("quote_count")),
            views=_int_or_none(metrics.get("impression_count")),
        ),
        raw=raw_json(tweet),
    )


def tweet_links(tweet: Mapping[str, Any]) -> tuple[Link, ...]:
    """The post's URL entities (and its long form's): where each leads, with the card title or display text.

    The target is ``unwound_url`` (after redirects), else ``expanded_url``, else the t.co ``url`` as posted.
    """
    links: dict[str, Link] = {}
    for entity in (*_url_entities(tweet), *_url_entities(_note(tweet))):
        target = entity.get("unwound_url") or entity.get("expanded_url") or entity.get("url")
        if not isinstance(target, str) or not target or target in links:
            continue
        anchor = entity.get("title") or entity.get("display_url") or None
        links[target] = Link(target, "facet", anchor if isinstance(anchor, str) else None)
    return tuple(links.values())


def _note(tweet: Mapping[str, Any]) -> Mapping[str, Any]:
    """A long post's ``note_tweet`` (its full text and entities), else an empty mapping."""
    note = tweet.get("note_tweet")
    return note if isinstance(note, Mapping) else {}


def _url_entities(holder: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    entities = holder.get("entities")
    urls = entities.get("urls") if isinstance(entities, Mapping) else None
    return [entity for entity in urls if isinstance(entity, Mapping)] if isinstance(urls, list) else []


def _references(tweet: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    references = tweet.get("referenced_tweets")
    return [ref for ref in references if isinstance(ref, Mapping)] if isinstance(references, list) else []


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
