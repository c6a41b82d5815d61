"""GitHub issues, pull requests and their comments as mention records. Pure, no I/O.

An issue or pull request body is one mention (``owner/repo#number``, kind ``issue``), each comment another
(``owner/repo#number/<comment id>``, kind ``comment``). Links are what GitHub renders as links in the
Markdown: ``[anchor](url)`` (with its anchor text), ``<a href>``, and URLs GitHub autolinks (with a scheme or
starting ``www.``); code blocks and code spans are left out, since GitHub shows their URLs as plain code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json
from tracker.textlinks import html_links, markdown_links, strip_markdown_links, urls_in_text

WEB = "https://github.com"
_FENCED = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n.*?(?:^ {0,3}\1[^\n]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_ANCHOR_TAG = re.compile(r"<a\s[^>]*>.*?</a\s*>", re.I | re.S)
_REPO_PATH = re.compile(r"/repos/([^/]+/[^/]+)/?$")


def repository_of(item: Mapping[str, Any]) -> str:
    """``owner/repo`` of a search item, from its ``repository_url`` (or its ``html_url`` in old answers)."""
    api_url = item.get("repository_url")
    if isinstance(api_url, str):
        match = _REPO_PATH.search(api_url)
        if match:
            return match.group(1)
    html_url = item.get("html_url")
    if isinstance(html_url, str):
        parts = html_url.split("/")
        if len(parts) >= 7 and parts[5] in ("issues", "pull"):
            return f"{parts[3]}/{parts[4]}"
    raise RecordError("neither repository_url nor html_url names the repository")


def issue_key(repository: str, number: int) -> str:
    return f"{repository}#{number}"


def normalize_issue(item: Mapping[str, Any], repository: str | None = None) -> Mention:
    """An issue or pull request (a search item, or ``GET /repos/{owner}/{repo}/issues/{number}``)."""
    repository = repository or repository_of(item)
    number = _number(item.get("number"))
    key = issue_key(repository, number)
    body = _str_or_none(item.get("body"))
    pull = item.get("pull_request")  # old answers carry it on issues too, with null URLs
    is_pull = isinstance(pull, Mapping) and bool(pull.get("html_url"))
    fallback = f"{WEB}/{repository}/{'pull' if is_pull else 'issues'}/{number}"
    user = _user(item)
    return Mention(
        platform="github",
        platform_id=key,
        kind="issue",
        permalink=_https(item.get("html_url"), fallback),
        created_at=parse_iso(_required_str(item, "created_at")),
        author_id=user[0],
        author_handle=user[1],
        community=repository,
        title=_str_or_none(item.get("title")),
        text=body,
        thread_id=key,
        links=tuple(markdown_text_links(body or "")),
        metrics=Metrics(likes=_reactions(item), replies=_int_or_none(item.get("comments"))),
        raw=raw_json(item),
    )


def normalize_comment(comment: Mapping[str, Any], repository: str, number: int) -> Mention:
    """A comment on issue or pull request ``repository#number``."""
    comment_id = _number(comment.get("id"))
    key = issue_key(repository, number)
    body = _str_or_none(comment.get("body"))
    user = _user(comment)
    return Mention(
        platform="github",
        platform_id=f"{key}/{comment_id}",
        kind="comment",
        permalink=_https(
            comment.get("html_url"), f"{WEB}/{repository}/issues/{number}#issuecomment-{comment_id}"
        ),
        created_at=parse_iso(_required_str(comment, "created_at")),
        author_id=user[0],
        author_handle=user[1],
        community=repository,
        text=body,
        thread_id=key,
        parent_id=key,
        links=tuple(markdown_text_links(body or "")),
        metrics=Metrics(likes=_reactions(comment)),
        raw=raw_json(comment),
    )


def parse_platform_id(platform_id: str) -> tuple[str, int, int | None]:
    """``owner/repo#12`` -> (``owner/repo``, 12, None); ``owner/repo#12/345`` -> (..., 12, 345)."""
    repository, sep, rest = platform_id.partition("#")
    number, _, comment = rest.partition("/")
    if not sep or repository.count("/") != 1 or not number.isdigit() or (comment and not comment.isdigit()):
        raise RecordError(f"{platform_id!r} is not a GitHub id like owner/repo#12 or owner/repo#12/345")
    return repository, int(number), int(comment) if comment else None


def markdown_text_links(markdown: str) -> list[Link]:
    """The links GitHub renders in a Markdown body: anchors with their text, then autolinked URLs."""
    if not markdown:
        return []
    text = _CODE_SPAN.sub(" ", _FENCED.sub("\n", markdown))
    links = [Link(url, "text", anchor or None) for url, anchor in markdown_links(text)]
    links += [Link(url, "text", anchor or None) for url, anchor in html_links(text)]
    rest = strip_markdown_links(_ANCHOR_TAG.sub(" ", text))
    links += [
        Link(url, "text")
        for url in urls_in_text(rest)
        if url.lower().startswith(("http://", "https://", "www."))
    ]
    return links


def _user(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    user = item.get("user")
    if not isinstance(user, Mapping):
        return None, None  # a deleted account shows as "ghost" or no user at all
    user_id = user.get("id")
    return (str(user_id) if user_id is not None else None), _str_or_none(user.get("login"))


def _reactions(item: Mapping[str, Any]) -> int | None:
    reactions = item.get("reactions")
    if not isinstance(reactions, Mapping):
        return None  # answers without reactions (older API versions) say nothing about them
    return _int_or_none(reactions.get("total_count"))


def _https(value: Any, fallback: str) -> str:
    return value if isinstance(value, str) and value.startswith("https://") else fallback


def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"expected a number, got {value!r}")
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
