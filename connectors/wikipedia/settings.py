"""The ``wikipedia`` connector's settings (its config table), and what the scan and the stream use of it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from pydantic import Field, field_validator

from tracker.connector import ConnectorContext, Cursor, FetchRequest
from tracker.settings import BaseUrl, ConnectorSettings, Duration, parse_base_url

if TYPE_CHECKING:
    from connectors.wikipedia.api import WikiApi

_WIKI = re.compile(r"^(?=.{4,253}$)([a-z0-9-]+\.)+[a-z]{2,}$")
_CONTACT = re.compile(r"@|https?://|\bwww\.", re.I)


class WikipediaSettings(ConnectorSettings):
    interval: Duration = timedelta(hours=6)  # how often each wiki is scanned
    wikis: tuple[str, ...] = ("en.wikipedia.org",)
    """The wikis scanned and followed, by host: `"en.wikipedia.org"`, `"de.wikipedia.org"`."""
    stream: bool = True
    """Follow link changes in real time (Wikimedia EventStreams) besides the scans."""
    stream_url: BaseUrl = "https://stream.wikimedia.org/v2/stream/page-links-change"
    """The EventStreams `page-links-change` stream (or a proxy)."""
    api_url: str = "https://{wiki}/w/api.php"
    """The Action API of a wiki; `{wiki}` is replaced by the wiki's host."""
    pageviews_url: BaseUrl = "https://wikimedia.org/api/rest_v1"
    """The Wikimedia REST API for page views (reach)."""
    user_agent: str | None = None  # Wikimedia asks for a contact: "mention-tracker/1.0 (you@example.com)"
    maxlag: int = Field(5, ge=1, le=60)
    """Wikimedia's `maxlag`: requests wait while the wiki's replicas lag more seconds than this."""
    lookups_per_scan: int = Field(200, ge=0, le=100_000)  # articles read in full per scan
    max_links: int = Field(100_000, ge=1, le=10_000_000)  # links listed per wiki and scan
    initial_lookback: Duration = timedelta(minutes=10)  # where a stream without a saved position starts
    retention: Duration = timedelta(days=7)  # how long EventStreams keeps events
    flush_every: Duration = timedelta(seconds=5)
    """How often the articles the stream touched are read again and stored."""
    idle_timeout: Duration = timedelta(seconds=10)  # catch-up ends when the stream is quiet this long
    stall_timeout: Duration = timedelta(minutes=2)  # following, a stream quiet this long is reconnected
    connect_timeout: Duration = timedelta(seconds=10)
    """How long connecting to the stream may take."""
    max_failures: int = Field(6, ge=1, le=100)
    """Connection failures in a row after which the stream's pass fails (it is retried by the next)."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""

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


class Parts(Protocol):
    """What the scan and the stream use of the connector."""

    settings: WikipediaSettings
    context: ConnectorContext
    api: WikiApi
    log: logging.Logger
    stream_client: httpx.Client

    def cursor_state(self, request: FetchRequest, source_key: str) -> Mapping[str, Any] | None: ...

    def make_cursor(self, state: Mapping[str, Any]) -> Cursor: ...
