"""Mastodon: statuses linking to a domain, read through each configured instance.

Per instance, up to three kinds of source:

* ``search:<instance>:<domain>`` (with an access token): ``/api/v2/search?type=statuses&q=<domain>``, newest
  first, paged by ``max_id`` back to the cursor (minus ``overlap``). It finds only what the instance has
  indexed (its own users' and the opted-in statuses it knows), so the connector's coverage is partial.
* ``links:<instance>:<domain>`` (``trending_links``): the instance's trending links
  (``/api/v1/trends/links``); for each on the domain, the statuses sharing it (``/api/v1/timelines/link``),
  newest first back to the cursor.
* ``local:<instance>`` or ``federated:<instance>`` (``public_timeline``; by default the local one when there is
  no token): the public timeline, read forward from the last status read (``min_id``), every status of it
  (the poller keeps those linking to a monitored domain). The first pass reads back ``initial_lookback``.

A status is one record by its ActivityPub ``uri`` whichever instance it was read through. Times come from
Mastodon's snowflake ids (when the status reached the instance, so a late-federated status is not taken for
an old one), or ``created_at`` on servers without them. An instance that fails does not stop the others;
the pass then fails with every instance's error once the rest were read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.mastodon.client import MastodonClient
from connectors.mastodon.statuses import arrival, normalize_status, snowflake_at
from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import AuthError, ConnectorError
from tracker.record import Mention, RecordError, format_utc, parse_iso
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration, parse_base_url
from tracker.urls import DomainMatcher

LINK_MEMORY = timedelta(days=7)  # how long a link that left the trends is remembered
TIMELINE_MARGIN = timedelta(minutes=1)
PARTIAL = (
    "Mastodon search sees only the statuses each instance has indexed, and timelines only what reached it"
)


class MastodonSettings(ConnectorSettings):
    interval: Duration = timedelta(minutes=15)
    instances: tuple[BaseUrl, ...] = ("https://mastodon.social",)
    """The Mastodon instances read; a status seen through several is one mention."""
    access_token: SecretStr = SecretStr("")
    """An access token (read scope) for every instance: enables status search. Without one only public timelines and trending links are read."""
    access_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    """Tokens per instance, overriding `access_token`: `{"https://mastodon.social" = "${MASTODON_TOKEN}"}`."""
    public_timeline: Literal["auto", "local", "federated", "off"] = "auto"
    """Which public timeline to read: `auto` (the local one on instances without a token), `local`, `federated` or `off`."""
    trending_links: bool = True
    """Read the statuses sharing the instance's trending links to the domains."""
    initial_lookback: Duration = timedelta(days=1)
    """How far back the first pass reads."""
    overlap: Duration = timedelta(minutes=30)
    """How far back each pass reads again: search indexes new statuses with a delay."""
    page_size: int = Field(40, ge=1, le=40)
    """Statuses per request."""
    max_pages: int = Field(25, ge=1)
    """Pages per source and pass; beyond it a coverage gap is recorded."""
    max_rate_limit_wait: Duration = timedelta(minutes=6)  # Mastodon's window is 5 minutes
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""

    @field_validator("instances")
    @classmethod
    def _some_instances(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('name at least one instance, e.g. instances = ["https://mastodon.social"]')
        if len(set(value)) != len(value):
            raise ValueError("an instance is listed twice; remove one")
        return value

    @field_validator("access_tokens")
    @classmethod
    def _token_urls(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return {parse_base_url(url): token for url, token in value.items()}

    @model_validator(mode="after")
    def _tokens_belong_to_instances(self) -> MastodonSettings:
        if self.access_token.get_secret_value() and len(self.instances) > 1:
            raise ValueError(
                "access_token belongs to one instance and would be sent to every one listed; with several "
                'instances use access_tokens = {"https://mastodon.social" = "${MASTODON_TOKEN}"}'
            )
        strangers = sorted(set(self.access_tokens) - set(self.instances))
        if strangers:
            raise ValueError(f"access_tokens names {', '.join(strangers)}, which is not in instances")
        return self

    def token_for(self, instance: str) -> str:
        token = self.access_tokens.get(instance) or self.access_token
        return token.get_secret_value()


class MastodonConnector(Connector):
    type = "mastodon"
    platform = "mastodon"
    Settings = MastodonSettings
    description = "Mastodon statuses (search, trending links, public timelines)"
    partial_coverage = PARTIAL

    settings: MastodonSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self.clients = {
            instance: MastodonClient(
                instance,
                self.settings.token_for(instance),
                context,
                timeout=self.settings.timeout.total_seconds(),
                max_wait=self.settings.max_rate_limit_wait.total_seconds(),
            )
            for instance in self.settings.instances
        }

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def timeline(self, instance: str) -> str | None:
        """``local``, ``federated`` or None: the public timeline read on ``instance``."""
        choice = self.settings.public_timeline
        if choice == "auto":
            return None if self.settings.token_for(instance) else "local"
        return None if choice == "off" else choice

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        parts = []
        for instance in self.settings.instances:
            reads = ["search"] if self.settings.token_for(instance) else []
            reads += ["trending links"] if self.settings.trending_links else []
            timeline = self.timeline(instance)
            reads += [f"the {timeline} timeline"] if timeline else []
            parts.append(f"{urlsplit(instance).netloc} ({', '.join(reads) or 'nothing'})")
        names = domain_names(domains)
        return f"reads Mastodon statuses linking to {names} on {'; '.join(parts)}"

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        taken: set[str] = set()  # uris already yielded this pass, through any instance
        failures: list[str] = []
        for instance, client in self.clients.items():
            try:
                yield from _Instance(self, client, instance, request, taken).read()
            except (ConnectorError, AuthError) as exc:
                if len(self.clients) == 1:
                    raise
                failures.append(f"{urlsplit(instance).netloc}: {exc}")
                self.log.warning("%s failed, going on with the other instances: %s", instance, exc)
        if failures:
            raise ConnectorError("; ".join(failures))


class _Instance:
    """One pass over the sources of one instance."""

    def __init__(
        self,
        connector: MastodonConnector,
        client: MastodonClient,
        instance: str,
        request: FetchRequest,
        taken: set[str],
    ) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.client = client
        self.netloc = urlsplit(instance).netloc
        self.request = request
        self.taken = taken
        self.upper = request.started_at

    def read(self) -> Iterator[Page]:
        if self.settings.token_for(self.client.base_url):
            for domain in self.request.domains:
                yield from self._searches(domain.name)
        if self.settings.trending_links:
            yield from self._trending_links()
        timeline = self.connector.timeline(self.client.base_url)
        if timeline is not None:
            yield from self._public(timeline)

    # Newest-first sources: read back to the cursor.

    def _searches(self, domain: str) -> Iterator[Page]:
        key = f"search:{self.netloc}:{domain}"
        state = self._state(key)
        seen = _seen(state)
        if self.request.since is not None:
            lower = self.request.since
        elif state.get("until"):
            lower = parse_iso(state["until"]) - self.settings.overlap
        else:
            lower = self.upper - self.settings.initial_lookback

        def search(max_id: str | None) -> list[Any]:
            params: dict[str, Any] = {"q": domain, "type": "statuses", "resolve": "false",
                                      "limit": self.settings.page_size}  # fmt: skip
            if max_id is not None:
                params["max_id"] = max_id
            answer = self.client.get("/api/v2/search", params)
            if not isinstance(answer, dict) or not isinstance(answer.get("statuses"), list):
                raise ConnectorError(f"{self.netloc}: the search answered without a statuses list")
            statuses: list[Any] = answer["statuses"]
            return statuses

        yield from self._backwards(key, search, seen, lower)
        yield self._cursor_page(
            key, {"until": format_utc(self.upper), "seen": self._recent(seen, self.upper)}
        )

    def _trending_links(self) -> Iterator[Page]:
        """Statuses sharing each trending link on a monitored domain; a link new to the trends is read back
        ``initial_lookback``, one seen before from where its last reading ended (minus ``overlap``)."""
        trends: list[Any] = []
        for offset in (0, 20):  # an instance trends a few dozen links at most
            page = self.client.get("/api/v1/trends/links", {"limit": 20, "offset": offset})
            if not isinstance(page, list):
                raise ConnectorError(f"{self.netloc}: trending links answered without a list")
            trends.extend(page)
            if len(page) < 20:
                break
        for domain in self.request.domains:
            matcher = DomainMatcher([(domain.name, domain.include_subdomains)])
            key = f"links:{self.netloc}:{domain.name}"
            state = self._state(key)
            seen = _seen(state)
            read_to = {str(url): str(at) for url, at in (state.get("urls") or {}).items()}
            for trend in trends:
                url = trend.get("url") if isinstance(trend, Mapping) else None
                if not isinstance(url, str) or matcher.match_url(url) is None:
                    continue
                if self.request.since is not None:
                    lower = self.request.since
                elif url in read_to:
                    lower = parse_iso(read_to[url]) - self.settings.overlap
                else:
                    lower = self.upper - self.settings.initial_lookback

                def link_timeline(max_id: str | None, url: str = url) -> list[Any]:
                    params: dict[str, Any] = {"url": url, "limit": self.settings.page_size}
                    if max_id is not None:
                        params["max_id"] = max_id
                    return _status_list(self.client.get("/api/v1/timelines/link", params), self.netloc)

                yield from self._backwards(key, link_timeline, seen, lower)
                read_to[url] = format_utc(self.upper)
            forget = format_utc(self.upper - LINK_MEMORY)
            yield self._cursor_page(key, {
                "until": format_utc(self.upper),
                "seen": self._recent(seen, self.upper),
                "urls": {url: at for url, at in read_to.items() if at >= forget},
            })  # fmt: skip

    def _backwards(
        self, key: str, fetch: Callable[[str | None], list[Any]], seen: dict[str, str], lower: datetime
    ) -> Iterator[Page]:
        """Pages newest first until one reaches back past ``lower``; no cursor (the caller writes it)."""
        max_id: str | None = None
        for number in range(1, self.settings.max_pages + 1):
            statuses = fetch(max_id)
            mentions, problems, oldest = self._take(statuses, seen, lower)
            ids = _ids(statuses)
            done = (
                len(statuses) < self.settings.page_size or not ids or (oldest is not None and oldest < lower)
            )
            gaps = []
            if not done and number == self.settings.max_pages:
                done = True
                gaps.append(Gap(key, lower, oldest or lower, f"more than {self.settings.max_pages} pages of statuses since the last pass; the older ones were not read"))  # fmt: skip
            yield Page(key, mentions, usage=self.client.take_usage(len(statuses)), gaps=gaps,
                       skipped=len(problems), problems=problems)  # fmt: skip
            if done:
                return
            max_id = min(ids, key=_id_order)

    def _state(self, key: str) -> Mapping[str, Any]:
        if self.request.since is not None:
            return {}  # a backfill reads back to its date every time
        return self.connector.cursor_state(self.request, key) or {}

    def _cursor_page(self, key: str, state: Mapping[str, Any]) -> Page:
        return Page(key, cursor=self.connector.make_cursor(state), usage=self.client.take_usage())

    # The public timeline: read forward from the last status read.

    def _public(self, timeline: str) -> Iterator[Page]:
        key = f"{timeline}:{self.netloc}"
        state = self._state(key)
        if not state.get("last_id"):
            yield from self._public_first(key, timeline)
            return
        seen = _seen(state)
        last_id = str(state["last_id"])
        back = arrival(last_id)
        # Statuses stored in the same instant can commit out of id order: start a moment early.
        min_id = snowflake_at(back - TIMELINE_MARGIN) if back is not None else last_id
        for _ in range(self.settings.max_pages):
            statuses = self._timeline(timeline, {"min_id": min_id})
            mentions, problems, _ = self._take(statuses, seen, None)
            ids = _ids(statuses)
            if ids:
                min_id = max(ids, key=_id_order)
                last_id = self._no_later_than_start(max(last_id, min_id, key=_id_order))
            state = {"last_id": last_id, "seen": self._recent(seen, arrival(last_id), TIMELINE_MARGIN)}
            yield Page(key, mentions, cursor=self.connector.make_cursor(state),
                       usage=self.client.take_usage(len(statuses)), skipped=len(problems), problems=problems)  # fmt: skip
            if len(statuses) < self.settings.page_size:
                return

    def _public_first(self, key: str, timeline: str) -> Iterator[Page]:
        """No cursor yet: read the timeline back over ``initial_lookback`` (or to the backfill date), then
        remember the newest status read."""
        lower = self.request.since or self.upper - self.settings.initial_lookback
        seen: dict[str, str] = {}
        newest: str | None = None

        def page(max_id: str | None) -> list[Any]:
            nonlocal newest
            statuses = self._timeline(timeline, {"max_id": max_id} if max_id else {})
            ids = _ids(statuses)
            if ids and newest is None:
                newest = max(ids, key=_id_order)
            return statuses

        yield from self._backwards(key, page, seen, lower)
        if newest is not None:
            newest = self._no_later_than_start(newest)
            state = {"last_id": newest, "seen": self._recent(seen, arrival(newest), TIMELINE_MARGIN)}
            yield self._cursor_page(key, state)

    def _no_later_than_start(self, status_id: str) -> str:
        """A cursor never moves past the pass's start: statuses that reached the instance after it are read
        again by the next pass (the ``seen`` uris keep that from counting twice)."""
        moment = arrival(status_id)
        if moment is not None and moment > self.upper:
            return snowflake_at(self.upper)
        return status_id

    def _timeline(self, timeline: str, params: Mapping[str, Any]) -> list[Any]:
        query = {
            "local": "true" if timeline == "local" else "false",
            "limit": self.settings.page_size,
            **params,
        }
        return _status_list(self.client.get("/api/v1/timelines/public", query), self.netloc)

    def _recent(
        self, seen: dict[str, str], moment: datetime | None, margin: timedelta | None = None
    ) -> list[list[str]]:
        """The uris seen since ``moment`` minus the margin (``overlap``): the next pass reads those again."""
        keep_from = format_utc((moment or self.upper) - (margin or self.settings.overlap))
        return sorted([uri, at] for uri, at in seen.items() if at >= keep_from)

    # Both kinds.

    def _take(
        self, statuses: list[Any], seen: dict[str, str], lower: datetime | None
    ) -> tuple[list[Mention], list[str], datetime | None]:
        """The new mentions of a page, the problems of the statuses skipped, and the oldest time on it."""
        mentions: list[Mention] = []
        problems: list[str] = []
        oldest: datetime | None = None
        for status in statuses:
            try:
                if not isinstance(status, Mapping):
                    raise RecordError("a status is not an object")
                at = arrival(status.get("id")) or parse_iso(str(status.get("created_at")))
                oldest = at if oldest is None or at < oldest else oldest
                if lower is not None and at < lower:
                    continue
                if status.get("visibility") not in (None, "public", "unlisted"):
                    continue  # never store a follower-only or direct status, even one the token can see
                mention = normalize_status(status)
                if mention.platform_id in seen or mention.platform_id in self.taken:
                    continue
                seen[mention.platform_id] = format_utc(at)
                self.taken.add(mention.platform_id)
                mentions.append(mention)
            except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
                label = status.get("uri") if isinstance(status, Mapping) else None
                problems.append(f"Mastodon status {label!r} on {self.netloc}: {type(exc).__name__}: {exc}")
        return mentions, problems, oldest


def _seen(state: Mapping[str, Any]) -> dict[str, str]:
    return {str(uri): str(at) for uri, at in state.get("seen", [])}


def _ids(statuses: list[Any]) -> list[str]:
    return [s["id"] for s in statuses if isinstance(s, Mapping) and isinstance(s.get("id"), str) and s["id"]]


def _status_list(answer: Any, netloc: str) -> list[Any]:
    if not isinstance(answer, list):
        raise ConnectorError(f"{netloc}: a timeline answered without a list of statuses")
    return answer


def _id_order(status_id: str) -> tuple[int, str]:
    """Ids sort by length, then text: Mastodon's are decimal numbers, other servers' are sortable strings."""
    return (len(status_id), status_id)
