"""A wiki article as a mention: its links to the monitored domains, their anchor texts and the citations that
hold them, read from the article's rendered HTML (``action=parse``). Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from tracker.record import Link, Mention, Metrics, raw_json
from tracker.textlinks import html_to_text, unescape
from tracker.urls import DomainMatcher

PLATFORM = "wikipedia"
_ANCHOR = re.compile(r"<a\s[^>]*?href\s*=\s*\"([^\"]*)\"[^>]*>(.*?)</a\s*>", re.I | re.S)
_LIST_ITEM = re.compile(r"<li[\s>]", re.I)
_BACKLINK = re.compile(r"<span class=\"mw-cite-backlink\">.*?</span>", re.S)
_STYLE = re.compile(r"<style\b.*?</style>", re.S | re.I)
_LANG = re.compile(r"<div class=\"[^\"]*mw-parser-output[^\"]*\" lang=\"([a-zA-Z-]{2,20})\"")
_NUMBERED = re.compile(r"^\[\d+\]$")
_CITATION_CHARS = 600  # a citation longer than this is cut (a list item that is a whole paragraph)


def article_id(wiki: str, page_id: int) -> str:
    """The mention's platform id: ``<wiki host>:<page id>``."""
    return f"{wiki}:{page_id}"


def permalink(wiki: str, title: str) -> str:
    """The article's URL, spelled as MediaWiki does (``/wiki/Title_with_underscores``)."""
    return f"https://{wiki}/wiki/{quote(title.replace(' ', '_'), safe=';@$!*(),/~:')}"


def absolute(url: str) -> str:
    """A protocol-relative link (``//example.com/x``, which wikis allow) as https."""
    return "https:" + url if url.startswith("//") else url


def digest(urls: Iterable[str]) -> str:
    """A short fingerprint of an article's set of links to the monitored domains."""
    joined = "\n".join(sorted(set(urls)))
    return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def matching(urls: Iterable[str], matcher: DomainMatcher) -> list[str]:
    """The links among ``urls`` to a monitored domain, in order, each once."""
    return [url for url in dict.fromkeys(urls) if matcher.match_url(absolute(url)) is not None]


def _anchors(markup: str) -> dict[str, tuple[str | None, int]]:
    """For each external link of the page (by :func:`same_link`): its first anchor text (None for a bare or
    numbered link) and where it is in the HTML."""
    found: dict[str, tuple[str | None, int]] = {}
    for match in _ANCHOR.finditer(markup):
        href = unescape(match.group(1))
        if not href.startswith(("http://", "https://", "//")) or same_link(href) in found:
            continue
        text = " ".join(html_to_text(match.group(2)).split())
        anchor = None if not text or same_link(text) == same_link(href) or _NUMBERED.match(text) else text
        found[same_link(href)] = (anchor, match.start())
    return found


def same_link(url: str) -> str:
    """A link's spelling for comparing the page's list of links with its HTML, which percent-encodes what the
    list does not (``urn:lsid`` is ``urn%3Alsid`` in the HTML)."""
    return unquote(url)


def citation(markup: str, position: int) -> str | None:
    """The text of the list item (a reference, an external link) around ``position``, without its back links."""
    start = None
    for match in _LIST_ITEM.finditer(markup, max(0, position - 20_000), position):
        start = match.start()
    if start is None or markup.rfind("</li>", start, position) >= 0:
        return None
    end = markup.find("</li>", position)
    if end < 0 or end - position > 20_000:
        return None
    fragment = _STYLE.sub("", _BACKLINK.sub("", markup[start:end]))
    text = " ".join(html_to_text(fragment).split())
    if not text:
        return None
    return text if len(text) <= _CITATION_CHARS else text[: _CITATION_CHARS - 1] + "…"


def parse_text(parse: Mapping[str, Any]) -> str:
    """The HTML of an ``action=parse`` answer (``formatversion=2``: a string; 1: ``{"*": ...}``)."""
    text = parse.get("text")
    if isinstance(text, dict):
        text = text.get("*")
    return text if isinstance(text, str) else ""


def parse_links(parse: Mapping[str, Any]) -> list[str]:
    links = parse.get("externallinks")
    if not isinstance(links, list):
        return []
    return [link if isinstance(link, str) else str(link.get("*") or link.get("url") or "") for link in links]


def article_mention(
    wiki: str,
    parse: Mapping[str, Any],
    matcher: DomainMatcher,
    *,
    created_at: datetime,
    views: int | None,
) -> Mention | None:
    """The article of an ``action=parse`` answer as a mention, with every link to a monitored domain, its
    anchor text and its citation as the text; None when no such link is left (a lost citation)."""
    markup = parse_text(parse)
    urls = matching(parse_links(parse), matcher)
    if not urls:
        return None
    anchors = _anchors(markup) if markup else {}
    links: list[Link] = []
    citations: list[str] = []
    for url in urls:
        anchor, position = anchors.get(same_link(url), (None, -1))
        links.append(Link(absolute(url), "text", anchor))
        cited = citation(markup, position) if position >= 0 else None
        if cited and cited not in citations:
            citations.append(cited)
    page_id = int(parse["pageid"])
    title = str(parse["title"])
    lang = _LANG.search(markup[:2000])
    kept = {key: value for key, value in parse.items() if key != "text"}  # the article's HTML is not kept
    return Mention(
        platform=PLATFORM,
        platform_id=article_id(wiki, page_id),
        kind="article",
        permalink=permalink(wiki, title),
        created_at=created_at,
        community=wiki,
        title=title,
        text="\n".join(citations) or None,
        lang=lang.group(1) if lang else None,
        thread_id=article_id(wiki, page_id),
        links=tuple(links),
        metrics=Metrics(views=views),
        raw=raw_json({"wiki": wiki, "parse": kept, "views_30d": views}),
    )


def listed_mention(
    wiki: str, page_id: int, title: str, urls: Sequence[str], *, created_at: datetime
) -> Mention:
    """An article as ``list=exturlusage`` lists it: its links without anchor texts (the page is read later)."""
    return Mention(
        platform=PLATFORM,
        platform_id=article_id(wiki, page_id),
        kind="article",
        permalink=permalink(wiki, title),
        created_at=created_at,
        community=wiki,
        title=title,
        thread_id=article_id(wiki, page_id),
        links=tuple(Link(absolute(url), "text") for url in urls),
        raw=raw_json({"wiki": wiki, "exturlusage": {"pageid": page_id, "title": title, "urls": list(urls)}}),
    )
