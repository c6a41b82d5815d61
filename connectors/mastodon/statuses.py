"""Mastodon statuses as mention records. Pure, no I/O.

A status is keyed by its ActivityPub ``uri``, the same on every instance that shows it, so one post read
through two instances is one record. Links are the HTML content's anchors (with their visible text), leaving
out mentions of accounts and hashtags (links to instances, not to what was shared), and the preview card's
URL (with the card's title). The author is ``user@instance`` whatever instance the status was read on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json
from tracker.textlinks import html_to_text, unescape

_ANCHOR = re.compile(r"<a\s([^>]*)>(.*?)</a\s*>", re.I | re.S)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_CLASS = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_TAG = re.compile(r"<[^>]*>")
_FIRST_SNOWFLAKE = datetime(2016, 1, 1, tzinfo=UTC)


def normalize_status(status: Mapping[str, Any]) -> Mention:
    """A status (the shared one, for a reblog) as a mention (links not yet matched)."""
    reblogged = status.get("reblog")
    if isinstance(reblogged, Mapping):
        status = reblogged  # a reblog is not a mention; the status it shares may be
    uri = _required_str(status, "uri")
    account = status.get("account")
    if not isinstance(account, Mapping):
        raise RecordError("the status has no account")
    handle = account_handle(account)
    content = status.get("content")
    content = content if isinstance(content, str) else ""
    links = content_links(content)
    card = status.get("card")
    if isinstance(card, Mapping) and isinstance(card.get("url"), str) and card["url"]:
        links.append(Link(card["url"], "card", _str_or_none(card.get("title"))))
    if status.get("in_reply_to_id"):
        kind = "reply"
    elif isinstance(status.get("quote"), Mapping):
        kind = "quote"
    else:
        kind = "post"
    return Mention(
        platform="mastodon",
        platform_id=uri,
        kind=kind,
        permalink=_permalink(status, uri),
        created_at=parse_iso(_required_str(status, "created_at")),
        author_id=_str_or_none(account.get("uri")) or _str_or_none(account.get("url")),
        author_handle=handle,
        author_name=_str_or_none(account.get("display_name")),
        author_followers=_int_or_none(account.get("followers_count")),
        community=handle.partition("@")[2] if handle else None,
        text=html_to_text(content) or None,
        lang=_str_or_none(status.get("language")),
        links=tuple(links),
        metrics=Metrics(
            likes=_int_or_none(status.get("favourites_count")),
            reposts=_int_or_none(status.get("reblogs_count")),
            replies=_int_or_none(status.get("replies_count")),
            quotes=_int_or_none(status.get("quotes_count")),
        ),
        raw=raw_json(status),
    )


def account_handle(account: Mapping[str, Any]) -> str | None:
    """``user@instance``: ``acct`` names the instance only for accounts of other instances."""
    acct = _str_or_none(account.get("acct"))
    if acct is None:
        return None
    if "@" in acct:
        return acct
    home = urlsplit(str(account.get("url") or account.get("uri") or "")).hostname
    return f"{acct}@{home}" if home else acct


def content_links(content: str) -> list[Link]:
    """The anchors of a status's HTML, but for mentions and hashtags; a bare URL has no anchor text."""
    if "<a" not in content and "<A" not in content:
        return []
    links = []
    for match in _ANCHOR.finditer(content):
        attributes = match.group(1)
        href_match = _HREF.search(attributes)
        if href_match is None:
            continue
        classes = _CLASS.search(attributes)
        names = set(((classes.group(1) or classes.group(2) or "") if classes else "").split())
        if names & {"mention", "hashtag"}:
            continue
        href = unescape(href_match.group(1) or href_match.group(2) or "")
        visible = " ".join(unescape(_TAG.sub("", match.group(2))).split())
        if href:
            links.append(Link(href, "text", None if _same_url(visible, href) else visible or None))
    return links


def arrival(status_id: Any) -> datetime | None:
    """When a status reached the instance, from Mastodon's snowflake id (milliseconds << 16); None for ids
    that are not Mastodon snowflakes (other servers speaking its API)."""
    if not isinstance(status_id, str) or not status_id.isdigit() or len(status_id) < 15:
        return None
    try:
        moment = datetime.fromtimestamp((int(status_id) >> 16) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment if moment >= _FIRST_SNOWFLAKE else None


def snowflake_at(moment: datetime) -> str:
    """The smallest snowflake id of ``moment`` (for ``min_id``/``max_id`` bounds)."""
    return str(int(moment.timestamp() * 1000) << 16)


def _same_url(visible: str, href: str) -> bool:
    def plain(text: str) -> str:
        text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text.strip().lower())
        return text.removeprefix("www.").rstrip("/…")

    return bool(visible) and plain(href).startswith(plain(visible))


def _permalink(status: Mapping[str, Any], uri: str) -> str:
    for candidate in (status.get("url"), uri):
        if isinstance(candidate, str) and candidate.startswith("https://"):
            return candidate
    raise RecordError(f"status {uri!r} has no https URL")


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
