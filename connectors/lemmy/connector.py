"""Lemmy: posts and comments linking to a domain, through each configured instance's search (no account).

Per instance and domain, up to three sources search ``/api/v3/search`` (``sort=New``, ``listing_type=All``,
so what the instance federates from others too): ``url:`` posts whose URL holds the domain
(``type_=Url``), ``post:`` posts whose title or body does (``type_=Posts``), ``comment:`` comments that do
(``type_=Comments``). Each reads newest first, page by page, back to where the last pass ended minus
``overlap`` (Lemmy orders by the time of posting, and a post from another instance can arrive hours late),
the first pass ``initial_lookback``. The search is textual; the poller keeps only real links.

A post or comment is one record by its ActivityPub id, whichever instance it was read through. The community's
subscribers (``/api/v3/community``) are looked up once a day per community. An instance that fails does not
stop the others; the pass then fails with every instance's error once the rest were read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from connectors.lemmy.views import community_key, is_gone, normalize_comment, normalize_post
from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import AuthError, ConnectorError
from tracker.http import HttpClient
from tracker.record import Mention, RecordError, format_utc, parse_iso
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration

SEARCHES = {"url": "Url", "post": "Posts", "comment": "Comments"}  # source-key word -> type_
COMMUNITY_TTL = timedelta(days=1)
FAILED_LOOKUP_TTL = timedelta(hours=1)


class LemmySettings(ConnectorSettings):
    interval: Duration = timedelta(minutes=30)
    instances: tuple[BaseUrl, ...] = ("https://lemmy.world",)
    """The Lemmy instances searched; a post federated to several is one mention."""
    posts: bool = True  # also search titles and bodies, not only post URLs
    comments: bool = True
    """Also search comments, not only posts."""
    initial_lookback: Duration = timedelta(days=7)
    """How far back the first pass reads."""
    overlap: Duration = timedelta(hours=6)
    """How far back each pass reads again: a post from another instance can arrive hours late."""
    page_size: int = Field(50, ge=1, le=50)
    """Results per request."""
    max_pages: int = Field(10, ge=1)
    """Pages per instance, search and pass; beyond it a coverage gap is recorded."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""

    @field_validator("instances")
    @classmethod
    def _some_instances(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('name at least one instance, e.g. instances = ["https://lemmy.world"]')
        if len(set(value)) != len(value):
            raise ValueError("an instance is listed twice; remove one")
        return value


class LemmyConnector(Connector):
    type = "lemmy"
    platform = "lemmy"
    Settings = LemmySettings
    description = "Lemmy posts and comments (search API of each instance)"

    settings: LemmySettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        timeout = self.settings.timeout.total_seconds()
        self.clients = {url: HttpClient(url, context, timeout=timeout) for url in self.settings.instances}
        self._sizes: dict[tuple[str, int], tuple[int | None, datetime]] = {}

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def kinds(self) -> list[str]:
        return (
            ["url"]
            + (["post"] if self.settings.posts else [])
            + (["comment"] if self.settings.comments else [])
        )

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        what = {"url": "post URLs", "post": "post texts", "comment": "comments"}
        searched = ", ".join(what[kind] for kind in self.kinds())
        where = ", ".join(urlsplit(url).netloc for url in self.settings.instances)
        return f"searches Lemmy {searched} for {domain_names(domains)} on {where}"

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        taken: set[str] = set()  # ActivityPub ids already yielded this pass, through any instance
        failures: list[str] = []
        for instance, client in self.clients.items():
            try:
                for domain in request.domains:
                    for kind in self.kinds():
                        yield from self._read(request, instance, client, kind, domain.name, taken)
            except ConnectorError as exc:  # AuthError too; Interrupted is not one
                if len(self.clients) == 1:
                    raise
                failures.append(f"{urlsplit(instance).netloc}: {exc}")
                self.log.warning("%s failed, going on with the other instances: %s", instance, exc)
        if failures:
            raise ConnectorError("; ".join(failures))

    def _read(
        self,
        request: FetchRequest,
        instance: str,
        client: HttpClient,
        kind: str,
        domain: str,
        taken: set[str],
    ) -> Iterator[Page]:
        key = f"{kind}:{urlsplit(instance).netloc}:{domain}"
        state = {} if request.since is not None else self.cursor_state(request, key) or {}
        seen = {str(ap_id): str(at) for ap_id, at in state.get("seen", [])}
        if request.since is not None:
            lower = request.since
        elif state.get("until"):
            lower = parse_iso(state["until"]) - self.settings.overlap
        else:
            lower = request.started_at - self.settings.initial_lookback
        for page in range(1, self.settings.max_pages + 1):
            params = {"q": domain, "type_": SEARCHES[kind], "sort": "New", "listing_type": "All",
                      "page": page, "limit": self.settings.page_size}  # fmt: skip
            answer = client.get_json("/api/v3/search", params)
            field = "comments" if kind == "comment" else "posts"
            if not isinstance(answer, dict) or not isinstance(answer.get(field), list):
                raise ConnectorError(f"{urlsplit(instance).netloc}: the search answered without {field}")
            views = answer[field]
            mentions, deleted, problems, oldest = self._take(
                instance, client, kind, views, seen, taken, lower
            )
            done = len(views) < self.settings.page_size or (oldest is not None and oldest < lower)
            gaps = []
            if not done and page == self.settings.max_pages:
                done = True
                gaps.append(Gap(key, lower, oldest or lower, f"more than {self.settings.max_pages} pages of results since the last pass; the older ones were not read"))  # fmt: skip
            cursor = None
            if done:
                keep_from = format_utc(request.started_at - self.settings.overlap)
                recent = sorted([ap_id, at] for ap_id, at in seen.items() if at >= keep_from)
                cursor = self.make_cursor({"until": format_utc(request.started_at), "seen": recent})
            yield Page(key, mentions, cursor=cursor, usage=client.take_usage(len(views)), gaps=gaps,
                       deleted=deleted, skipped=len(problems), problems=problems)  # fmt: skip
            if done:
                return

    def _take(
        self,
        instance: str,
        client: HttpClient,
        kind: str,
        views: list[Any],
        seen: dict[str, str],
        taken: set[str],
        lower: datetime,
    ) -> tuple[list[Mention], list[str], list[str], datetime | None]:
        mentions: list[Mention] = []
        deleted: list[str] = []
        problems: list[str] = []
        oldest: datetime | None = None
        normalize = normalize_comment if kind == "comment" else normalize_post
        for view in views:
            try:
                if not isinstance(view, Mapping):
                    raise RecordError("a search result is not an object")
                mention = normalize(view)
                created = mention.created_at
                oldest = created if oldest is None or created < oldest else oldest
                if created < lower or mention.platform_id in seen or mention.platform_id in taken:
                    continue
                if is_gone(view):
                    deleted.append(mention.platform_id)
                    continue
                size = self._community_size(instance, client, community_key(view))
                if size is not None:
                    mention = normalize(view, size)
                seen[mention.platform_id] = format_utc(created)
                taken.add(mention.platform_id)
                mentions.append(mention)
            except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
                problems.append(f"Lemmy {kind} on {urlsplit(instance).netloc}: {type(exc).__name__}: {exc}")
        return mentions, deleted, problems, oldest

    def _community_size(self, instance: str, client: HttpClient, community_id: int | None) -> int | None:
        """The community's subscribers as the instance counts them, looked up at most once a day."""
        if community_id is None:
            return None
        now = self.context.clock()
        cached = self._sizes.get((instance, community_id))
        if cached is not None and now - cached[1] < COMMUNITY_TTL:
            return cached[0]
        try:
            answer = client.get_json("/api/v3/community", {"id": community_id})
            value = answer["community_view"]["counts"].get("subscribers")
        except AuthError:
            raise
        except (ConnectorError, KeyError, TypeError, AttributeError) as exc:
            self.log.info("no subscriber count for community %s on %s: %s", community_id, instance, exc)
            self._sizes[(instance, community_id)] = (None, now - COMMUNITY_TTL + FAILED_LOOKUP_TTL)
            return None
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        self._sizes[(instance, community_id)] = (size, now)
        return size
