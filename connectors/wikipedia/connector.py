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
from pydantic import Field, field_validator

from connectors.wikipedia.api import WikiApi
from connectors.wikipedia.scan import Scanner, read_article
from connectors.wikipedia.stream import LinkStream
from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, Usage
from tracker.http import HttpClient
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration, parse_base_url
from tracker.urls import DomainMatcher

_WIKI = re.compile(r"^(?=.{4,253}$)([a-z0-9-]+\.)+[a-z]{2,}$")
_ID = re.compile(r"^([a-z0-9.-]+):(\d{1,12})$")
_CONTACT = re.compile(r"@|https?://|\bwww\.", re.I)
HEARTBEAT = 60.0  # seconds: how often a connector without a stream says it is alive between scans


class WikipediaSettings(ConnectorSettings):
    interval: Duration = timedelta(hours=6)  # how often each wiki is scanned
    wikis: tuple[str, ...] = ("en.wikipedia.org",)
    stream: bool = True
    stream_url: BaseUrl = "https://stream.wikimedia.org/v2/stream/page-links-change"
    api_url: str = "https://{wiki}/w/api.php"
    pageviews_url: BaseUrl = "https://wikimedia.org/api/rest_v1"
    user_agent: str | None = None  # Wikimedia asks for a contact: "mention-tracker/1.0 (you@example.com)"
    maxlag: int = Field(5, ge=1, le=60)
    lookups_per_scan: int = Field(200, ge=0, le=100_000)  # articles read in full per scan
    max_links: int = Field(100_000, ge=1, le=10_000_000)  # links listed per wiki and scan
    initial_lookback: Duration = timedelta(minutes=10)  # where a stream without a saved position starts
    retention: Duration = timedelta(days=7)  # how long EventStreams keeps events
    flush_every: Duration = timedelta(seconds=5)
    idle_timeout: Duration = timedelta(seconds=10)  # catch-up ends when the stream is quiet this long
    stall_timeout: Duration = timedelta(minutes=2)  # following, a stream quiet this long is reconnected
    connect_timeout: Duration = timedelta(seconds=10)
    max_failures: int = Field(6, ge=1, le=100)
    timeout: Duration = timedelta(seconds=30)

    @field_validator("wikis")
    @classmethod
    def _wiki_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('is empty; list at least one wiki host, like ["en.wikipedia.org"]')
        hosts = []
        for wiki in value:
            host = wiki.strip().lower().removeprefix("https://").rstrip("/")
            if not _WIKI.match(host):
                raise ValueError(f'{wiki!r} is not a wiki host; write it like "en.wikipedia.org"')
            hosts.append(host)
        return tuple(dict.fromkeys(hosts))

    @field_validator("api_url")
    @classmethod
    def _api_template(cls, value: str) -> str:
        if "{wiki}" not in value:
            raise ValueError(f'{value!r} has no {{wiki}}; write it like "https://{{wiki}}/w/api.php"')
        parse_base_url(value.replace("{wiki}", "wiki.example"))
        return value

    @field_validator("user_agent")
    @classmethod
    def _contact(cls, value: str | None) -> str | None:
        if value is not None and not _CONTACT.search(value):
            raise ValueError(
                f"{value!r} has no contact; Wikimedia asks for one, like "
                '"mention-tracker/1.0 (you@example.com)" or a URL'
            )
        return value


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

    def take_usage(self, items_read: int = 0) -> Usage:
        return self.http.take_usage(items_read=items_read)

    def pending_usage(self) -> Usage:
        return self.take_usage()

    def mode(self) -> str:
        return "stream" if self.settings.stream else "scan"

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        names = ", ".join(domain.name for domain in domains)
        how = "scans" if not self.settings.stream else "follows EventStreams and scans"
        every = self.settings.interval
        return f"{how} {', '.join(self.settings.wikis)} (every {every}) for articles citing {names}"

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
            usage=self.take_usage(len(mentions)),
            deleted=deleted,
            restored=[m.platform_id for m in mentions],
            skipped=len(problems),
            problems=problems,
        )
