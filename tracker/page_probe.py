"""Checking one linked page of an own domain (CONTRACT §3 ``[pages]``): its final status, the redirect chain,
its final URL, ``<link rel="canonical">``, ``noindex`` (meta robots or ``X-Robots-Tag``) and ``<title>``.

Requests go through :class:`tracker.outbound.Outbound` (a total deadline on each, the tool named in the
``User-Agent``, a per-host rate, never a private address unless allowed, ``[tracker] connect_to`` honoured).
``HEAD`` comes first and suffices for a redirect, an error or a page that is not HTML; an HTML page is then read
with a ``GET``, at most :data:`BODY_LIMIT` bytes of it. Only hosts of the own domains and their aliases are ever
contacted: a redirect elsewhere (another site, a competitor) is recorded as the last hop, not followed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from tracker.outbound import Outbound, OutboundError, Response
from tracker.urls import canonical_url, url_host

BODY_LIMIT = 1024 * 1024  # read at most 1 MB of a page
MAX_HOPS = 10
TITLE_LIMIT = 300
_HEAD_FALLBACK = frozenset({400, 403, 405, 406, 501})  # a server that refuses HEAD may still answer GET


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect: its status and where it pointed (absolute)."""

    status: int
    location: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "location": self.location}


@dataclass(frozen=True, slots=True)
class PageCheck:
    """What a page answered. ``status`` is the final answer's (None with an ``error`` when there was none);
    ``final_url`` the URL that gave it, or where an off-site redirect leads; ``requests`` how many were sent."""

    url: str
    status: int | None = None
    final_url: str | None = None
    redirects: tuple[Hop, ...] = ()
    noindex: bool = False
    canonical_tag: str | None = None
    title: str | None = None
    error: str | None = None
    requests: int = 0
    offsite: bool = False
    skipped: bool = (
        False  # not asked: its host is no longer one the config checks (an alias or subdomain dropped)
    )

    @property
    def broken(self) -> bool:
        """The page answered 4xx/5xx, or no answer came (CONTRACT §6 ``page_broken``). A redirect off the own
        domains is not broken: it is where the page sends readers; a page not asked is not broken either."""
        if self.offsite or self.skipped:
            return False
        return self.status is None or self.status >= 400


def page_problems(
    broken: bool, redirects: Sequence[object], noindex: bool, canonical_tag: str | None, final_url: str | None
) -> tuple[str, ...]:
    """Why a checked page needs attention, empty when it does not: ``broken``, ``redirect``, ``noindex``,
    ``canonical`` (its canonical tag names another URL than the one that answered)."""
    found = []
    if broken:
        found.append("broken")
    if redirects:
        found.append("redirect")
    if noindex:
        found.append("noindex")
    if canonical_tag and final_url and not _same_page(canonical_tag, final_url):
        found.append("canonical")
    return tuple(found)


def _same_page(one: str, other: str) -> bool:
    """The same page by the tracker's one rule for that (:func:`tracker.urls.canonical_url`)."""
    try:
        return canonical_url(one) == canonical_url(other)
    except ValueError:  # not an http(s) URL: the same page only if written the same
        return one == other


class _HeadParser(HTMLParser):
    """Reads ``<title>``, ``<link rel=canonical>`` and ``<meta name=robots>`` until the body starts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.in_title = False
        self.canonical: str | None = None
        self.robots: list[str] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "title" and not self.title:
            self.in_title = True
        elif tag == "link" and self.canonical is None:
            if "canonical" in values.get("rel", "").lower().split() and values.get("href", "").strip():
                self.canonical = values["href"].strip()
        elif tag == "meta":
            name = values.get("name", "").lower()
            if name in ("robots", "googlebot"):
                self.robots.append(values.get("content", ""))
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)


@dataclass(frozen=True, slots=True)
class HeadFacts:
    title: str | None = None
    canonical: str | None = None
    noindex: bool = False


def read_head(body: bytes, charset: str | None = None) -> HeadFacts:
    """The title, canonical link and meta-robots noindex of an HTML document's head."""
    text = body.decode(_charset(body, charset), errors="replace")
    parser = _HeadParser()
    for start in range(0, len(text), 65536):
        parser.feed(text[start : start + 65536])
        if parser.done:
            break
    title = " ".join("".join(parser.title).split())[:TITLE_LIMIT] or None
    noindex = any(
        "noindex" in robots.lower() or "none" in robots.lower().split(",") for robots in parser.robots
    )
    return HeadFacts(html.unescape(title) if title else None, parser.canonical, noindex)


def _charset(body: bytes, declared: str | None) -> str:
    for name in (declared, _meta_charset(body)):
        if name:
            try:
                "".encode(name)
            except LookupError:
                continue
            return name
    return "utf-8"


_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _meta_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:4096])
    return found.group(1).decode("ascii") if found else None


def header_noindex(value: str) -> bool:
    """Whether an ``X-Robots-Tag`` header forbids indexing (for every crawler or a named one)."""
    for part in value.lower().split(","):
        directive = part.rsplit(":", 1)[-1].strip()
        if directive in ("noindex", "none"):
            return True
    return False


_LINK_CANONICAL = re.compile(r"""<\s*([^>]+)\s*>\s*;[^,]*rel\s*=\s*"?canonical"?""", re.IGNORECASE)


def _content_type(answer: Response) -> tuple[str, str | None]:
    value = answer.headers.get("content-type", "")
    kind = value.split(";", 1)[0].strip().lower()
    charset = re.search(r"charset=\"?([A-Za-z0-9_.:-]+)", value)
    return kind, charset.group(1) if charset else None


class PageProber:
    """Checks pages; ``allowed(host)`` says whether a host belongs to the own domains (or their aliases)."""

    def __init__(self, outbound: Outbound, allowed: Callable[[str], bool]) -> None:
        self.outbound = outbound
        self.allowed = allowed

    def check(self, url: str) -> PageCheck:
        """Check ``url`` (see the module documentation); never raises for what a site answers."""
        hops: list[Hop] = []
        requests = 0
        current = url
        seen = {url}
        host = url_host(url)
        if host is None or not self.allowed(host):
            return PageCheck(
                url, error=f"{host or url} is not a host of an own domain; not checked", skipped=True
            )
        while True:
            answer: Response | None = None
            for method in ("HEAD", "GET"):
                requests += 1
                try:
                    answer = self.outbound.request(
                        method, current, body_limit=BODY_LIMIT if method == "GET" else 0
                    )
                except OutboundError as exc:  # refused (a private address) included
                    return PageCheck(
                        url, final_url=current, redirects=tuple(hops), error=str(exc), requests=requests
                    )
                if method == "HEAD" and not self._needs_get(answer):
                    break
            assert answer is not None
            location = answer.location
            if location is None:
                return self._final(url, answer, hops, requests)
            hops.append(Hop(answer.status, location))
            target = url_host(location)
            if target is None or not self.allowed(target):
                return PageCheck(
                    url, status=answer.status, final_url=location, redirects=tuple(hops), requests=requests,
                    offsite=True, error=f"redirects to {target or location}, not an own domain; not followed",
                )  # fmt: skip
            if location in seen:
                return PageCheck(url, final_url=location, redirects=tuple(hops), requests=requests,
                                 error=f"redirect loop at {location}")  # fmt: skip
            if len(hops) >= MAX_HOPS:
                return PageCheck(url, final_url=location, redirects=tuple(hops), requests=requests,
                                 error=f"more than {MAX_HOPS} redirects")  # fmt: skip
            seen.add(location)
            current = location

    @staticmethod
    def _needs_get(answer: Response) -> bool:
        """A HEAD answer is enough for a redirect, an error and anything but an HTML page."""
        if answer.location is not None:
            return False
        if answer.status in _HEAD_FALLBACK:
            return True
        if answer.status >= 400:
            return False
        kind, _ = _content_type(answer)
        return kind in ("", "text/html", "application/xhtml+xml")

    def _final(self, url: str, answer: Response, hops: list[Hop], requests: int) -> PageCheck:
        noindex = header_noindex(answer.headers.get("x-robots-tag", ""))
        canonical: str | None = None
        link_header = _LINK_CANONICAL.search(answer.headers.get("link", ""))
        if link_header:
            canonical = link_header.group(1).strip()
        title: str | None = None
        if answer.body:
            _, charset = _content_type(answer)
            facts = read_head(answer.body, charset)
            title, noindex = facts.title, noindex or facts.noindex
            canonical = facts.canonical or canonical
        if canonical is not None:
            canonical = urljoin(answer.url, html.unescape(canonical))
        return PageCheck(
            url, status=answer.status, final_url=answer.url, redirects=tuple(hops), noindex=noindex,
            canonical_tag=canonical, title=title, requests=requests,
        )  # fmt: skip
