"""X (Twitter): posts linking to the domains, through the API v2 recent search, within a monthly budget.

Each pass runs one ``search_recent_tweets`` query per group of domains (``url:"a.com" OR ...``, excluding
reposts) and pages through the answer, newest first. X bills every post and user a read returns (once per
UTC day), so nothing is read twice: a query's cursor holds ``since_id`` (where the last complete pass ended)
and, while a pass is unfinished, its bounds and the pending ``next_token``, stored with each page, so a pass
cut short resumes its paging instead of re-reading pages already paid for. A pass reads up to ``settle_time``
before it started, giving X's index time to catch up, and the newest post of its first page becomes the next
``since_id``. Recent search only reaches back 7 days: a cursor older than that restarts at the window's edge
and the time in between is recorded as a coverage gap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator

from connectors.x.cost import Prices, ReadLedger
from connectors.x.posts import is_retweet, normalize_tweet, users_by_id
from connectors.x.search import (
    SEARCH_WINDOW,
    WINDOW_MARGIN,
    SearchQuery,
    format_time,
    id_at,
    id_bounds,
    lower_time,
    pass_cost,
    plan_queries,
    time_of,
    upper_id,
    valid_bounds,
    window_edges,
)
from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import ConnectorError
from tracker.record import Mention, RecordError
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration, format_duration

if TYPE_CHECKING:
    from connectors.x.client import XApi

LOOKUP_BATCH = 100
REFRESH_KINDS = frozenset({"post", "reply", "quote"})  # with refresh = true; it costs like any read
_RECOVERIES = 3  # rejected page tokens or lower bounds one query may recover from in a pass


class XSettings(ConnectorSettings):
    interval: Duration = timedelta(minutes=15)
    bearer_token: SecretStr
    """The app-only Bearer Token of an X app in a project with API access."""
    api_base_url: BaseUrl = "https://api.twitter.com"
    """The X API (or a proxy)."""
    monthly_budget_usd: float = Field(50.0, ge=0)
    """Stop before this month's estimated spend would pass it."""
    refresh: bool = False
    """Refresh the engagement of X posts (+1 h, +24 h, +7 d); it costs reads too."""
    post_read_usd: float = Field(0.005, ge=0)
    """What X bills per post read (once per UTC day)."""
    user_read_usd: float = Field(0.010, ge=0)
    """What X bills per user read (once per UTC day)."""
    initial_lookback: Duration = SEARCH_WINDOW
    """How far back the first pass reads (recent search reaches 7 days)."""
    settle_time: Duration = timedelta(seconds=30)
    """How long X's index is given to catch up: newer posts are read by the next pass."""
    max_query_length: int = Field(512, ge=64, le=4096)
    """The longest search query; domains are grouped into queries within it."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""
    max_rate_limit_wait: Duration = timedelta(minutes=15)
    """The longest rate-limit wait a pass accepts; a longer one ends the pass (the next tries again)."""

    @field_validator("bearer_token")
    @classmethod
    def _token_given(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(
                'is empty; set it to your X app\'s Bearer Token, e.g. bearer_token = "${X_BEARER_TOKEN}"'
            )
        return value

    @field_validator("initial_lookback")
    @classmethod
    def _within_window(cls, value: timedelta) -> timedelta:
        if value > SEARCH_WINDOW:
            raise ValueError(
                f'X\'s recent search reaches back 7 days; use at most "7d", got {format_duration(value)!r}'
            )
        return value

    @field_validator("settle_time")
    @classmethod
    def _settle_at_least_ten_seconds(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=10) or value > timedelta(hours=1):
            raise ValueError(
                f'X only searches up to 10 seconds ago; use between "10s" and "1h", got {format_duration(value)!r}'
            )
        return value


class XConnector(Connector):
    type = "x"
    platform = "x"
    Settings = XSettings
    requires = (("tweepy", "tweepy>=4.14,<5"),)
    description = "X posts linking to the domains (API v2 recent search)"
    settings: XSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self.prices = Prices(self.settings.post_read_usd, self.settings.user_read_usd)
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.ledger = ReadLedger(context.state, old_file=context.data_dir / f"x-{safe_name}.reads.json")
        if self.settings.refresh:
            self.refresh_kinds = REFRESH_KINDS
        self._api: XApi | None = None

    @property  # the ceiling follows the configured prices
    def max_page_cost_usd(self) -> float:  # type: ignore[override]
        return self.prices.page_ceiling()

    @property
    def api(self) -> XApi:
        if self._api is None:
            from connectors.x.client import XApi

            self._api = XApi(
                bearer_token=self.settings.bearer_token.get_secret_value(),
                base_url=self.settings.api_base_url,
                timeout=self.settings.timeout.total_seconds(),
                max_wait=self.settings.max_rate_limit_wait.total_seconds(),
                context=self.context,
            )
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def mode(self) -> str:
        return "search"

    def monthly_budget_usd(self) -> float | None:
        return self.settings.monthly_budget_usd

    def check_online(self, domains: Sequence[DomainSettings]) -> str:
        """A lookup of a post that does not exist: the token is checked, nothing is read or billed."""
        self.api.lookup(["1"])
        return "answered a post lookup (nothing read, nothing billed)"

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        cost = pass_cost(domains, self.settings.max_query_length, self.settings.interval)
        refresh = "on" if self.settings.refresh else "off"
        return (
            f"searches recent X posts linking to {domain_names(domains)} ({cost}); budget "
            f"${self.settings.monthly_budget_usd:.2f}/month at ${self.prices.post_usd:g} per post and "
            f"${self.prices.user_usd:g} per user read; engagement refresh {refresh}"
        )

    # Search

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        stored: dict[str, Mapping[str, Any]] = {}
        for key in request.cursors:
            state = self.cursor_state(request, key)
            if state is not None and key.startswith("search:"):
                stored[key] = _readable(state)
        queries = plan_queries(request.domains, stored, self.settings.max_query_length)
        self.log.info(
            "%d domain(s) in %d search queries: at least %d request(s) this pass",
            len(request.domains), len(queries), len(queries),
        )  # fmt: skip
        for query in queries:
            yield from self._read_query(request, query, stored.get(query.source_key))

    def _read_query(
        self, request: FetchRequest, query: SearchQuery, stored: Mapping[str, Any] | None
    ) -> Iterator[Page]:
        key = query.source_key
        state: dict[str, Any] = dict(stored or {})
        since = format_time(request.since) if request.since is not None else None
        if state.get("backfill_since") != since:
            state = {}  # a backfill to another date starts over
        if since is None and query.seed_since_id and not state:
            state["since_id"] = query.seed_since_id
        current = self._resume(key, query, state, request.started_at)
        resumed = current is not None
        if current is None:
            current = self._begin(request, key, state)
        while current is not None:
            yield from self._run_pass(key, query, state, current, since)
            # A resumed pass covered the time before this run: go on with what is new since.
            current, resumed = (self._begin(request, key, state) if resumed else None), False

    def _run_pass(
        self, key: str, query: SearchQuery, state: dict[str, Any], current: _Pass, since: str | None
    ) -> Iterator[Page]:
        """Page through one pass, yielding each page with the cursor to resume after it."""
        recoveries = 0
        while True:
            sent_token = current.next_token
            try:
                # Bounds moved past what is left to read (the window's edge) leave nothing to ask for.
                payload = (
                    {} if current.exhausted() else self.api.search(query.text, current.bounds, sent_token)
                )
            except Exception as exc:
                recovered = self._recover(exc, key, current)
                recoveries += 1
                if not recovered or recoveries > _RECOVERIES:
                    raise
                continue
            self._charge(payload)
            current.advance(payload)
            if current.next_token and current.next_token == sent_token:
                raise ConnectorError(
                    f"X answered {key} with the page token it was sent; the next pass retries"
                )
            if current.next_token:
                state["pass"] = current.state(query.text)
            else:
                state.pop("pass", None)
                state["since_id"] = current.newest_id or current.upper_id
            state.update(domains=list(query.domains), query=query.text)
            if since is not None:
                state["backfill_since"] = since
            mentions, skipped, problems = self._normalize(payload)
            yield Page(
                key,
                mentions,
                cursor=self.make_cursor(dict(state)),
                usage=self.context.usage.take(),
                gaps=tuple(current.gaps),
                skipped=skipped,
                problems=problems,
            )
            current.gaps.clear()
            if not current.next_token:
                return

    def _resume(
        self, key: str, query: SearchQuery, state: Mapping[str, Any], started_at: datetime
    ) -> _Pass | None:
        """The unfinished pass the cursor holds, if any; one that left the search window goes on at its edge."""
        pending = _Pass.from_state(state.get("pass"))
        if pending is None:
            return None
        if pending.query != query.text:
            self.log.warning("%s: the query changed; its unfinished pass starts over", key)
            return None
        oldest_usable, restart = window_edges(started_at)
        if lower_time(pending.bounds) < oldest_usable:
            pending.gaps.append(self._gap(key, lower_time(pending.bounds), restart))
            pending.bounds = id_bounds({"since_id": str(id_at(restart))}, pending.below_oldest())
            pending.next_token = None
        return pending

    def _begin(self, request: FetchRequest, key: str, state: Mapping[str, Any]) -> _Pass | None:
        """A new pass: after ``since_id`` while it is in the search window, else from a start time."""
        oldest_usable, window_start = window_edges(request.started_at)
        upper = request.started_at - self.settings.settle_time
        since_id = state.get("since_id")
        gaps: list[Gap] = []
        if since_id and time_of(since_id) >= oldest_usable:
            until_id = str(id_at(upper))
            if int(until_id) <= int(since_id) + 1:
                return None
            return _Pass({"since_id": str(since_id), "until_id": until_id}, str(int(until_id) - 1))
        if since_id:
            gaps.append(self._gap(key, time_of(since_id), window_start))
            start = window_start
        elif request.since is not None:
            start = request.since
            if start < window_start:
                gaps.append(self._gap(key, start, window_start))
                start = window_start
        else:
            start = max(request.started_at - self.settings.initial_lookback, window_start)
        if start >= upper - timedelta(seconds=1):
            return None
        bounds = {"start_time": format_time(start), "end_time": format_time(upper)}
        return _Pass(bounds, upper_id(bounds), gaps=gaps)

    def _recover(self, exc: Exception, key: str, current: _Pass) -> bool:
        """Whether the pass can go on after X rejected its page token or its lower bound (then it does).

        An expired page token: go on below the oldest post read (``until_id``), so no page is read twice.
        A lower bound that left the 7-day window while the pass ran: move it to the window's edge (a gap).
        """
        from connectors.x.client import XRequestError

        if not isinstance(exc, XRequestError):
            return False
        if current.next_token and exc.parameters & {"next_token", "pagination_token"}:
            self.log.warning(
                "%s: X no longer accepts the page token; reading on below post %s", key, current.oldest_id
            )
            current.bounds = id_bounds(current.bounds, current.below_oldest())
        elif exc.parameters & {"since_id", "start_time"}:
            edge = window_edges(self.context.clock())[1] + WINDOW_MARGIN
            current.gaps.append(self._gap(key, lower_time(current.bounds), edge))
            current.bounds = id_bounds({"since_id": str(id_at(edge))}, current.below_oldest())
        else:
            return False
        current.next_token = None
        return True

    def _gap(self, key: str, start: datetime, end: datetime) -> Gap:
        self.log.warning("%s: posts from %s to %s are out of X's 7-day search window", key, start, end)
        return Gap(
            key, start, end, "out of X's 7-day recent-search window: posts from this time could not be read"
        )

    # Engagement refresh

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Posts by id through ``get_tweets`` (100 per request), with the same fields as a search.

        A post X reports as not found (deleted, or its account gone) is listed in ``Page.deleted``. The reads
        cost like any other and count against the monthly budget.
        """
        ids = list(dict.fromkeys(str(post_id) for post_id in platform_ids if str(post_id).isdigit()))
        for start in range(0, len(ids), LOOKUP_BATCH):
            chunk = ids[start : start + LOOKUP_BATCH]
            payload = self.api.lookup(chunk)
            self._charge(payload)
            wanted = set(chunk)
            deleted = [
                str(error["resource_id"])
                for error in payload.get("errors") or ()
                if isinstance(error, dict)
                and error.get("resource_type") == "tweet"
                and str(error.get("type", "")).endswith("/resource-not-found")
                and str(error.get("resource_id")) in wanted
            ]
            mentions, skipped, problems = self._normalize(payload)
            yield Page(
                "refresh",
                mentions,
                usage=self.context.usage.take(),
                deleted=deleted,
                skipped=skipped,
                problems=problems,
            )

    # Helpers

    def _charge(self, payload: Mapping[str, Any]) -> None:
        """Count a response's reads and their cost (before anything else can fail)."""
        posts = [str(post.get("id")) for post in payload.get("data") or () if isinstance(post, dict)]
        users = list(users_by_id(payload))
        if not posts and not users:
            return
        self.context.usage.add(self.ledger.charge(posts, users, self.prices, self.context.clock()))

    def _normalize(self, payload: Mapping[str, Any]) -> tuple[list[Mention], int, list[str]]:
        users = users_by_id(payload)
        mentions: list[Mention] = []
        problems: list[str] = []
        for post in payload.get("data") or ():
            try:
                if is_retweet(post):
                    continue  # reposts are not mentions (the query excludes them; X may still send one)
                mentions.append(normalize_tweet(post, users))
            except (KeyError, TypeError, ValueError, AttributeError, RecordError) as exc:
                post_id = post.get("id") if isinstance(post, dict) else None
                problems.append(f"X post {post_id!r}: {type(exc).__name__}: {exc}")
        return mentions, len(problems), problems


def _readable(state: Mapping[str, Any]) -> dict[str, Any]:
    """A stored query state with the values that cannot be used (a damaged cursor) left out."""
    clean = dict(state)
    since_id = str(clean.pop("since_id", None) or "")
    if since_id.isdigit():
        clean["since_id"] = since_id
    domains = clean.get("domains")
    if not isinstance(domains, list) or not all(isinstance(name, str) for name in domains):
        clean.pop("domains", None)
    return clean


@dataclass
class _Pass:
    """One pass of a query: its bounds and how far its paging got."""

    bounds: dict[str, str]
    upper_id: str
    """The newest id the bounds admit: the next ``since_id`` when the pass finds nothing."""
    next_token: str | None = None
    newest_id: str | None = None
    oldest_id: str | None = None
    query: str = ""
    gaps: list[Gap] = field(default_factory=list)

    def exhausted(self) -> bool:
        """Whether id bounds leave no id between them."""
        if "since_id" not in self.bounds:
            return False
        return int(self.bounds["since_id"]) + 1 >= int(self.bounds["until_id"])

    def below_oldest(self) -> str:
        """An ``until_id`` for what the pass has not read yet."""
        return self.oldest_id or str(int(self.upper_id) + 1)

    def advance(self, payload: Mapping[str, Any]) -> None:
        """Take in a page: the first post seen is the newest (pages run newest first)."""
        meta = payload.get("meta") or {}
        ids = [str(post.get("id")) for post in payload.get("data") or () if str(post.get("id")).isdigit()]
        if ids:
            self.newest_id = self.newest_id or str(meta.get("newest_id") or max(ids, key=int))
            self.oldest_id = min(ids, key=int)
        self.next_token = str(meta["next_token"]) if meta.get("next_token") else None

    def state(self, query: str) -> dict[str, Any]:
        return {
            "query": query, "bounds": self.bounds, "next_token": self.next_token, "newest_id": self.newest_id,
            "oldest_id": self.oldest_id, "upper_id": self.upper_id,
        }  # fmt: skip

    @classmethod
    def from_state(cls, value: Any) -> _Pass | None:
        """The unfinished pass a cursor holds, or None when there is none or it cannot be read."""
        if not isinstance(value, dict):
            return None
        bounds, ids = value.get("bounds"), (value.get("newest_id"), value.get("oldest_id"))
        valid = (
            isinstance(value.get("query"), str)
            and isinstance(value.get("next_token"), str)
            and str(value.get("upper_id", "")).isdigit()
            and all(i is None or str(i).isdigit() for i in ids)
        )
        if not valid or not valid_bounds(bounds) or not isinstance(bounds, dict):
            return None
        return cls(
            dict(bounds), str(value["upper_id"]), value["next_token"], value["newest_id"], value["oldest_id"],
            value["query"],
        )  # fmt: skip
