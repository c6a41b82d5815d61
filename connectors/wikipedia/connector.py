"""The ``wikipedia`` connector: articles citing the monitored domains, on each configured Wikimedia wiki.

Two ways in, one record per article (``<wiki host>:<page id>``, kind ``article``): the scan
(:mod:`connectors.wikipedia.scan`, every ``interval``) finds every citing article; the stream
(:mod:`connectors.wikipedia.stream`, with ``stream = true``) sees links added and removed within seconds.
Page views of the last 30 days (people, not bots) are the article's ``views``: read when the article is, and
again every week by the refresh, for as long as it cites the domain.

It is a stream connector: `tracker run` keeps it reading and runs each wiki's scan when due; `tracker poll`
runs the scans that are due and catches the stream up to the present. `tracker backfill` replays the stream
from its date (EventStreams keeps about a week; the scan has no history to read, it always sees the present).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import timedelta

import httpx

from connectors.wikipedia.api import WikiApi
from connectors.wikipedia.scan import Scanner, read_article
from connectors.wikipedia.settings import WikipediaSettings
from connectors.wikipedia.stream import LinkStream
from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, domain_names
from tracker.http import HttpClient
from tracker.settings import ConnectorSettings, DomainSettings, format_duration
from tracker.urls import DomainMatcher

_ID = re.compile(r"^([a-z0-9.-]+):(\d{1,12})$")
HEARTBEAT = 60.0  # seconds: how often a connector without a stream says it is alive between scans


class WikipediaConnector(Connector):
    type = "wikipedia"
    platform = "wikipedia"
    Settings = WikipediaSettings
    streaming = True
    refresh_kinds = frozenset({"article"})
    refresh_every = timedelta(days=7)  # page views change; an article lives for years
    description = "Wikipedia articles citing the domains (exturlusage, EventStreams, page views)"

    settings: WikipediaSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        user_agent = self.settings.user_agent or context.user_agent
        self.http = HttpClient(
            "", context, timeout=self.settings.timeout.total_seconds(), headers={"User-Agent": user_agent}
        )
        self.api = WikiApi(
            self.http, context, api_url=self.settings.api_url, pageviews_url=self.settings.pageviews_url,
            maxlag=self.settings.maxlag,
        )  # fmt: skip
        read = self.settings.stall_timeout.total_seconds() + 5
        self.stream_client = httpx.Client(
            timeout=httpx.Timeout(read, connect=self.settings.connect_timeout.total_seconds()),
            headers={"User-Agent": user_agent},
        )

    def close(self) -> None:
        self.http.close()
        self.stream_client.close()

    def mode(self) -> str:
        return "stream" if self.settings.stream else "scan"

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        names = domain_names(domains)
        wikis = ", ".join(self.settings.wikis)
        scans = f"scans {wikis} every {format_duration(self.settings.interval)} for articles citing {names}"
        if not self.settings.stream:
            return scans
        return f"{scans}, and follows their links added and removed (EventStreams)"

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        matcher = DomainMatcher((d.name, d.include_subdomains) for d in request.domains)
        self.api.views_failing = False
        if request.since is not None:  # a backfill: the stream's history (the scan has none)
            if self.settings.stream:
                yield from LinkStream(self, request, matcher, None).run()
            return
        stream: LinkStream | None = None
        scanner = Scanner(self, request, matcher, lambda: stream.removed() if stream is not None else set())
        if self.settings.stream:
            stream = LinkStream(self, request, matcher, scanner)
        yield from scanner.run_due()
        if stream is not None:
            yield from stream.run()
        elif request.follow:
            yield from self._between_scans(scanner)

    def _between_scans(self, scanner: Scanner) -> Iterator[Page]:
        """Without a stream, `tracker run` waits for the next scan, saying every minute that it is alive."""
        while True:
            due = [at for wiki in self.settings.wikis if (at := scanner.next_due(wiki)) is not None]
            if scanner.due():
                yield from scanner.run_due()
                continue
            next_scan = min(due) if due else self.context.clock()
            yield Page("schedule", cursor=self.make_cursor({"next_scan": next_scan.isoformat()}))
            wait = (next_scan - self.context.clock()).total_seconds()
            self.context.sleep(max(1.0, min(HEARTBEAT, wait)))

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Each article read again with its page views; one that no longer cites the domains is deleted."""
        matcher = DomainMatcher((d.name, d.include_subdomains) for d in self.context.domains)
        mentions = []
        deleted = []
        problems = []
        self.api.views_failing = False
        for platform_id in platform_ids:
            found = _ID.match(platform_id)
            if found is None or found.group(1) not in self.settings.wikis:
                problems.append(f"Wikipedia id {platform_id!r} is not <configured wiki>:<page id>")
                continue
            try:
                mention = read_article(
                    self, matcher, found.group(1), int(found.group(2)), self.context.clock()
                )
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"{platform_id}: {type(exc).__name__}: {exc}")
                continue
            if mention is None:
                deleted.append(platform_id)
            else:
                mentions.append(mention)
        yield Page(
            "refresh",
            mentions,
            usage=self.context.usage.take(len(mentions)),
            deleted=deleted,
            restored=[m.platform_id for m in mentions],
            skipped=len(problems),
            problems=problems,
        )
