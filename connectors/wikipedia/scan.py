"""The scan: every article of a wiki that links to a monitored domain, by ``list=exturlusage``.

MediaWiki cannot say which links are new, so each scan lists them all (cheap: 500 rows a request) and compares
each article's set of links with the previous scan, kept in the cursor as a short digest per article. Only
articles that are new or whose links changed are read in full (``action=parse``, for anchor texts and
citations, and their page views), at most ``lookups_per_scan`` a scan; the others wait for the next scan and
are stored meanwhile as listed (without anchor texts). An article of the previous scan that no longer links to
a monitored domain lost its citation: its mention is marked deleted. Progress is saved every few articles, so
a scan cut short keeps what it read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.wikipedia.articles import article_id, article_mention, digest, listed_mention, matching
from connectors.wikipedia.settings import Parts
from tracker.connector import FetchRequest, Gap, Page
from tracker.record import Mention, RecordError, parse_iso
from tracker.urls import DomainMatcher

PROGRESS_EVERY = 25  # articles read in full between two saves of the scan's progress
PENDING = "~"  # marks a digest whose article is stored without anchor texts yet


@dataclass
class Listed:
    title: str
    urls: list[str] = field(default_factory=list)


@dataclass
class _Work:
    """A scan in progress: the digests so far, the lookups left, and what the next page carries."""

    articles: dict[str, str]
    budget: int
    mentions: list[Mention] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Scanner:
    """Runs the scans of one pass, each wiki when its ``interval`` has passed since its last complete scan."""

    def __init__(
        self,
        connector: Parts,
        request: FetchRequest,
        matcher: DomainMatcher,
        removed: Callable[[], set[str]],
    ) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.matcher = matcher
        self.removed = removed  # article ids the stream saw lose their last link (read again when listed)
        self.states: dict[str, dict[str, Any]] = {
            wiki: dict(connector.cursor_state(request, key(wiki)) or {}) for wiki in self.settings.wikis
        }
        self.fingerprint = hashlib.blake2b(
            "\n".join(sorted(f"{d.name}:{d.include_subdomains}" for d in request.domains)).encode(),
            digest_size=8,
        ).hexdigest()
        self.include = {d.name: d.include_subdomains for d in request.domains}

    def next_due(self, wiki: str) -> datetime | None:
        """When the wiki's next scan is due (None: now, it never completed one)."""
        completed = self.states[wiki].get("completed_at")
        try:
            return parse_iso(completed) + self.settings.interval if isinstance(completed, str) else None
        except RecordError:
            return None  # a cursor that cannot be read: scan now

    def due(self) -> list[str]:
        now = self.connector.context.clock()
        return [wiki for wiki in self.settings.wikis if (at := self.next_due(wiki)) is None or at <= now]

    def run_due(self) -> Iterator[Page]:
        for wiki in self.due():
            yield from self.scan(wiki)

    def scan(self, wiki: str) -> Iterator[Page]:
        """One complete scan of ``wiki``."""
        started = self.connector.context.clock()
        state = self.states[wiki]
        saved = state.get("articles")
        previous: dict[str, str] = (
            {str(k): str(v) for k, v in saved.items()} if isinstance(saved, dict) else {}
        )
        listed, truncated = self._list(wiki)
        forced = self.removed()
        work = _Work(articles=dict(previous), budget=self.settings.lookups_per_scan)
        for page_id in sorted(listed, key=int):
            mention_id = article_id(wiki, int(page_id))
            entry, before, now_digest = listed[page_id], previous.get(page_id), digest(listed[page_id].urls)
            if mention_id not in forced and before == now_digest:
                continue  # read in full before, and its links are the same
            if mention_id not in forced and before == PENDING + now_digest and work.budget <= 0:
                continue  # stored as listed; read in full when a later scan has the budget
            if work.budget <= 0:
                work.mentions.append(
                    listed_mention(wiki, int(page_id), entry.title, entry.urls, created_at=started)
                )
                work.articles[page_id] = PENDING + now_digest
                continue
            work.budget -= 1
            try:
                mention = read_article(self.connector, self.matcher, wiki, int(page_id), started)
            except (KeyError, TypeError, ValueError) as exc:
                work.problems.append(f"{mention_id}: {type(exc).__name__}: {exc}")
                continue
            if mention is None:  # gone, or its last link went since the listing: read again next scan
                work.deleted.append(mention_id)
                work.articles.pop(page_id, None)
            else:
                work.mentions.append(mention)
                work.articles[page_id] = now_digest
            if (self.settings.lookups_per_scan - work.budget) % PROGRESS_EVERY == 0:
                yield self._page(wiki, work, {**state, "articles": dict(work.articles)})
        gaps: list[Gap] = []
        if truncated:
            reason = f"more than {self.settings.max_links} links on {wiki}; some articles were not read"
            gaps.append(Gap(key(wiki), started, started, reason))
        else:
            if (
                state.get("domains") == self.fingerprint
            ):  # with other domains, a vanished article lost nothing
                work.deleted += [
                    article_id(wiki, int(page_id)) for page_id in previous if page_id not in listed
                ]
            work.articles = {page_id: value for page_id, value in work.articles.items() if page_id in listed}
        finished = {
            "articles": work.articles,
            "completed_at": started.isoformat(),
            "domains": self.fingerprint,
        }
        yield self._page(wiki, work, finished, gaps)

    def _page(self, wiki: str, work: _Work, state: dict[str, Any], gaps: Sequence[Gap] = ()) -> Page:
        """A page of the scan with what it found since the last one and its progress (``state``)."""
        self.states[wiki] = state
        page = Page(
            key(wiki),
            work.mentions,
            cursor=self.connector.make_cursor(state),
            usage=self.connector.context.usage.take(len(work.mentions)),
            deleted=work.deleted,
            restored=[m.platform_id for m in work.mentions],
            gaps=gaps,
            skipped=len(work.problems),
            problems=work.problems,
        )
        work.mentions, work.deleted, work.problems = [], [], []
        return page

    def _list(self, wiki: str) -> tuple[dict[str, Listed], bool]:
        """The articles of ``wiki`` linking to a monitored domain, with those links (page id as text)."""
        listed: dict[str, Listed] = {}
        rows = 0
        limit = self.settings.max_links
        for domain, subdomains in self.include.items():
            patterns = [domain, f"*.{domain}"] if subdomains else [domain]
            for pattern in patterns:
                for protocol in ("https", "http"):
                    for usage in self.connector.api.link_usage(wiki, protocol, pattern, limit - rows):
                        rows += 1
                        if matching([usage.url], self.matcher):
                            entry = listed.setdefault(str(usage.page_id), Listed(usage.title))
                            if usage.url not in entry.urls:
                                entry.urls.append(usage.url)
                    if rows >= limit:
                        return listed, True
        return listed, False


def read_article(
    connector: Parts, matcher: DomainMatcher, wiki: str, page_id: int, found_at: datetime
) -> Mention | None:
    """The article read in full with its page views; None when it is gone or links to no monitored domain."""
    parse = connector.api.page(wiki, page_id)
    if parse is None:
        return None
    views = connector.api.views(wiki, str(parse["title"]), connector.context.clock())
    return article_mention(wiki, parse, matcher, created_at=found_at, views=views)


def key(wiki: str) -> str:
    """The source key of a wiki's scan."""
    return f"scan:{wiki}"
