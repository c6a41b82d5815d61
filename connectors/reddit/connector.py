"""Reddit: link posts, self posts and comments that link to the monitored domains.

Per domain, two sources: the domain's listing of new link posts (``/domain/<domain>/new``) and a search of
all of Reddit, newest first, for ``site:<domain> OR selftext:"<domain>"`` (self posts, and links the listing
misses). Reddit has no comment search, so the newest comments of ``watch_subreddits`` are scanned
(``/r/a+b/comments``). Each source is read incrementally (see :mod:`connectors.reddit.sources`).

``auth = "oauth"`` reads the API through praw in read-only mode with an app's client id and secret, within
one budget of 100 requests a minute; ``auth = "none"`` reads the same listings as public Atom feeds, without
a key and without metrics (see :mod:`connectors.reddit.feeds`). praw is imported only when a pass runs.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from connectors.reddit.budget import RequestBudget
from connectors.reddit.communities import PER_REQUEST, SubredditSizes, sizes_from_listing
from connectors.reddit.feeds import FEED_REQUESTS_PER_MINUTE, FeedClient, entry_mention, is_gone_entry
from connectors.reddit.sources import (
    PAGE_SIZE,
    Batch,
    Bounds,
    Converted,
    Fetch,
    Item,
    SourceRefusedError,
    read_listing,
)
from connectors.reddit.things import is_gone, normalize_thing
from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, domain_names
from tracker.errors import AuthError, ConnectorError
from tracker.record import Mention, RecordError
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration
from tracker.urls import DomainMatcher

if TYPE_CHECKING:
    import praw

    from connectors.reddit.client import RedditApi, Transport

SUBREDDITS_PER_REQUEST = 40  # keeps the source key ("comments:a+b+...", 21 characters a name) under 1024
FEED_INTERVAL = timedelta(minutes=30)
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
_FULLNAME = re.compile(r"^t[13]_[0-9a-z]+$")
_NO_KEY = 'or set auth = "none" to read the public feeds without an API key'


class RedditSettings(ConnectorSettings):
    auth: Literal["oauth", "none"] = "oauth"
    """`oauth`: the API through praw with a script app's id and secret. `none`: public Atom feeds, no key (no metrics; every 30m unless `interval` is set)."""
    client_id: str = Field("", validate_default=True)
    """The script app's client id (https://www.reddit.com/prefs/apps); `oauth` only."""
    client_secret: SecretStr = Field(SecretStr(""), validate_default=True)
    """The script app's secret; `oauth` only."""
    user_agent: str = ""
    """Describe your app, e.g. `mention-tracker/1.0 by u/you`, as Reddit asks."""
    watch_subreddits: tuple[str, ...] = ()
    """Subreddits whose new comments are scanned for links (Reddit has no comment search)."""
    search: bool = True
    """Also search all of Reddit for `site:<domain> OR selftext:\"<domain>\"`."""
    api_base_url: BaseUrl = "https://oauth.reddit.com"
    """The Reddit API (OAuth)."""
    auth_base_url: BaseUrl = "https://www.reddit.com"
    """Where access tokens come from."""
    feed_base_url: BaseUrl = "https://www.reddit.com"
    """Where the public feeds come from (`auth = \"none\"`)."""
    initial_lookback: Duration = timedelta(days=7)
    """How far back the first pass reads."""
    search_overlap: Duration = timedelta(hours=1)  # Reddit's search index lags behind its listings
    """How far back each search reads again: Reddit's search index lags behind its listings."""
    max_items: int = Field(1000, ge=PAGE_SIZE, le=10_000)
    """New posts read per source and pass; more in one interval are recorded as a coverage gap."""
    requests_per_minute: int = Field(100, ge=1, le=100)
    """One request budget for all sources (Reddit allows 100)."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""
    max_rate_limit_wait: Duration = timedelta(minutes=10)
    """The longest rate-limit wait a pass accepts; a longer one ends the pass (the next tries again)."""

    @classmethod
    def unused_keys(cls, section: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"client_id", "client_secret"}) if section.get("auth") == "none" else frozenset()

    @model_validator(mode="before")
    @classmethod
    def _gentler_feed_interval(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("auth") == "none" and "interval" not in data:
            return {**data, "interval": FEED_INTERVAL}
        return data

    @field_validator("auth")
    @classmethod
    def _praw_installed(cls, value: str, info: ValidationInfo) -> str:
        if value == "oauth" and info.data.get("enabled") and importlib.util.find_spec("praw") is None:
            raise ValueError(
                "auth = \"oauth\" needs the praw library; install it with: pip install 'mention-tracker[reddit]', "
                + _NO_KEY
            )
        return value

    @field_validator("client_id", "client_secret")
    @classmethod
    def _credentials_for_oauth(cls, value: str | SecretStr, info: ValidationInfo) -> str | SecretStr:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not text.strip() and info.data.get("auth") == "oauth" and info.data.get("enabled"):
            variable = f"REDDIT_{str(info.field_name).upper()}"
            raise ValueError(
                f'required with auth = "oauth"; set {info.field_name} = "${{{variable}}}" from your Reddit app '
                f"(https://www.reddit.com/prefs/apps), {_NO_KEY}"
            )
        return value

    @field_validator("user_agent")
    @classmethod
    def _descriptive_user_agent(cls, value: str) -> str:
        if value and len(value) < 7:
            raise ValueError(f'{value!r} is too short; describe the app, e.g. "mention-tracker/1.0 by u/you"')
        return value

    @field_validator("watch_subreddits")
    @classmethod
    def _subreddit_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names: dict[str, str] = {}
        for written in value:
            name = written.strip().removeprefix("/").removeprefix("r/")
            if not _SUBREDDIT.match(name):
                raise ValueError(
                    f'{written!r} is not a subreddit name; write names like "python" (letters, digits, underscores)'
                )
            names.setdefault(name.lower(), name)
        return tuple(names.values())


@dataclass(frozen=True)
class Source:
    """One listing a pass reads: a domain's new link posts, a search for a domain, or watched comments."""

    kind: Literal["domain", "search", "comments"]
    target: str  # the domain, or the watched subreddits joined with "+"
    overlap: timedelta = timedelta(0)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target.lower()}"

    @property
    def what(self) -> str:
        if self.kind == "domain":
            return f"new link posts to {self.target}"
        if self.kind == "search":
            return f"search for {self.target}"
        return f"new comments in r/{self.target}"

    @property
    def query(self) -> str:
        return f'site:{self.target} OR selftext:"{self.target}"'

    def listing(self, reddit: praw.Reddit, params: dict[str, str | int]) -> Iterable[Any]:
        """praw's listing generator for one page (``params`` may hold ``after``)."""
        if self.kind == "domain":
            return reddit.domain(self.target).new(limit=PAGE_SIZE, params=params)
        if self.kind == "search":
            return reddit.subreddit("all").search(self.query, sort="new", limit=PAGE_SIZE, params=params)
        comments: Iterable[Any] = reddit.subreddit(self.target).comments(limit=PAGE_SIZE, params=params)
        return comments

    def feed(self) -> tuple[str, dict[str, str | int]]:
        """The Atom feed's path and query for the same listing."""
        if self.kind == "domain":
            return f"/domain/{self.target}/new/.rss", {}
        if self.kind == "search":
            return "/search.rss", {"q": self.query, "sort": "new"}
        return f"/r/{self.target}/comments/.rss", {}


class RedditConnector(Connector):
    type = "reddit"
    platform = "reddit"
    Settings = RedditSettings
    description = "Reddit link posts, self posts and comments (API through praw, or the public feeds)"

    settings: RedditSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self._budget: RequestBudget | None = None
        self._api: RedditApi | None = None
        self._transport: Transport | None = None
        self._feeds: FeedClient | None = None
        if self.oauth:  # the public feeds cannot look posts up
            self.refresh_kinds = frozenset({"post", "comment"})
        self._sizes = SubredditSizes(context.clock)

    @property
    def oauth(self) -> bool:
        return self.settings.auth == "oauth"

    def mode(self) -> str:
        return "oauth" if self.oauth else "feeds"

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        names = domain_names(domains)
        what = "new link posts" + (", searches for self posts" if self.settings.search else "")
        if self.settings.watch_subreddits:
            what += " and new comments in " + ", ".join(f"r/{s}" for s in self.settings.watch_subreddits)
        how = (
            "through the API (praw)"
            if self.oauth
            else "through the public Atom feeds (no API key, no metrics)"
        )
        # Not batched: a /domain/ listing takes one domain, and a search for many would reach the ~1,000
        # results Reddit serves a query within an interval. A pass costs two requests a domain at least.
        requests = len(domains) * (2 if self.settings.search else 1) + -(
            -len(self.settings.watch_subreddits) // SUBREDDITS_PER_REQUEST
        )
        per_minute = self.settings.requests_per_minute
        if not self.oauth:
            per_minute = min(per_minute, FEED_REQUESTS_PER_MINUTE)
        cost = f"at least {requests:,} request(s) a pass"
        if requests >= per_minute:
            cost += f", about {-(-requests // per_minute)} min at {per_minute} a minute"
        return f"reads Reddit {what} linking to {names}, {how}; {cost}"

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
        if self._feeds is not None:
            self._feeds.close()
        self._api = self._transport = self._feeds = None

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        matcher = request.link_matcher()
        refused: list[str] = []
        for source in self._sources(request.domains):
            bounds = Bounds.plan(
                self.cursor_state(request, source.key),
                started_at=request.started_at,
                lookback=self.settings.initial_lookback.total_seconds(),
                overlap=source.overlap.total_seconds(),
                since=request.since,
            )
            prefilter = matcher if source.kind == "comments" else None

            def convert(items: Sequence[Item], prefilter: DomainMatcher | None = prefilter) -> Converted:
                return self._convert(items, prefilter)

            try:
                yield from read_listing(
                    source.key,
                    bounds,
                    self._fetcher(source),
                    convert,
                    started_at=request.started_at,
                    max_items=self.settings.max_items,
                    usage=self.context.usage.take,
                    cursor=self.make_cursor,
                    what=source.what,
                )
            except SourceRefusedError as exc:
                self.log.warning("%s", exc)
                refused.append(str(exc))
        if refused:
            raise ConnectorError(
                f"{len(refused)} Reddit source(s) failed, the others were read: " + "; ".join(refused)
            )

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Posts and comments by fullname through ``/api/info`` (100 a request), with their current score and
        comment count; deleted or removed ones are reported deleted. An id Reddit does not return is left as
        it is. The public feeds cannot look posts up: in feed mode this raises ConnectorError."""
        if not self.oauth:
            raise ConnectorError(
                'the public Reddit feeds cannot look posts up; engagement refresh needs auth = "oauth"'
            )
        api = self._reddit_api()
        ids = [platform_id for platform_id in platform_ids if _FULLNAME.match(platform_id)]
        problems = [
            f"{platform_id!r} is not a Reddit post or comment id"
            for platform_id in platform_ids
            if platform_id not in ids
        ]
        for start in range(0, max(len(ids), 1), PAGE_SIZE):
            chunk = ids[start : start + PAGE_SIZE]

            def look_up(reddit: praw.Reddit, chunk: list[str] = chunk) -> list[Item]:
                return [api.item(thing) for thing in reddit.info(fullnames=chunk)]

            items = api.call("info lookup", look_up) if chunk else []
            converted = self._convert(items, None)
            converted.problems[:0], problems = problems, []
            yield Page(
                "refresh",
                converted.mentions,
                usage=self.context.usage.take(len(items)),
                deleted=converted.deleted,
                skipped=len(converted.problems),
                problems=converted.problems,
            )

    # Sources

    def _sources(self, domains: Sequence[DomainSettings]) -> Iterator[Source]:
        for domain in domains:
            yield Source("domain", domain.name)
            if self.settings.search:
                yield Source("search", domain.name, overlap=self.settings.search_overlap)
        watched = self.settings.watch_subreddits
        for start in range(0, len(watched), SUBREDDITS_PER_REQUEST):
            yield Source("comments", "+".join(watched[start : start + SUBREDDITS_PER_REQUEST]))

    def _fetcher(self, source: Source) -> Fetch:
        if self.oauth:
            api = self._reddit_api()

            def read_api(after: str | None, stop: Callable[[Item], bool]) -> Batch:
                params: dict[str, str | int] = {"after": after} if after else {}

                def page(reddit: praw.Reddit) -> Iterable[Any]:
                    return source.listing(reddit, params)

                items = api.listing(source.what, page, stop)
                return Batch(items, more=len(items) >= PAGE_SIZE)

            return read_api
        feeds = self._feed_client()

        def read_feed(after: str | None, stop: Callable[[Item], bool]) -> Batch:
            path, params = source.feed()
            params["limit"] = PAGE_SIZE
            if after:
                params["after"] = after
            items = feeds.entries(path, params)
            return Batch(items, more=len(items) >= PAGE_SIZE)

        return read_feed

    def _convert(self, items: Sequence[Item], prefilter: DomainMatcher | None) -> Converted:
        """Items as mentions; deleted ones as deleted ids; unreadable ones as problems."""
        converted = Converted()
        for item in items:
            try:
                if self.oauth:
                    kind, data = item.payload["kind"], item.payload["data"]
                    if is_gone(data):
                        converted.deleted.append(item.fullname)
                    elif prefilter is None or prefilter.might_mention(str(data.get("body") or "")):
                        converted.mentions.append(normalize_thing(kind, data))
                elif is_gone_entry(item.payload):
                    converted.deleted.append(item.fullname)
                elif prefilter is None or prefilter.might_mention(str(item.payload.get("content") or "")):
                    converted.mentions.append(entry_mention(item.payload))
            except (KeyError, TypeError, ValueError, AttributeError, RecordError) as exc:
                converted.problems.append(f"Reddit {item.fullname}: {type(exc).__name__}: {exc}")
        if self.oauth and converted.mentions:
            converted.mentions = self._with_community_sizes(converted.mentions)
        return converted

    def _with_community_sizes(self, mentions: list[Mention]) -> list[Mention]:
        """Each mention with its subreddit's subscribers: posts carry them; the subreddits of comments are
        looked up, at most once a day each (see :mod:`connectors.reddit.communities`)."""
        self._sizes.learn_from(mentions)
        due = self._sizes.due(mentions)
        api = self._reddit_api()
        for start in range(0, len(due), PER_REQUEST):
            chunk = due[start : start + PER_REQUEST]

            def look_up(reddit: praw.Reddit, chunk: list[str] = chunk) -> list[Any]:
                return [api.item(thing).payload for thing in reddit.info(subreddits=chunk)]

            try:
                found = sizes_from_listing(api.call("subreddit lookup", look_up))
            except AuthError:
                raise
            except ConnectorError as exc:  # the mentions matter more than their reach: keep them, ask later
                self.log.warning("could not read the size of %d subreddit(s): %s", len(chunk), exc)
                found = {}
            for name in chunk:
                self._sizes.learn(name, found.get(name))
        return self._sizes.apply(mentions)

    # Clients, built on first use (no I/O in __init__)

    def _user_agent(self) -> str:
        return self.settings.user_agent or self.context.user_agent

    def _request_budget(self) -> RequestBudget:
        if self._budget is None:
            per_minute = self.settings.requests_per_minute
            if not self.oauth:
                per_minute = min(per_minute, FEED_REQUESTS_PER_MINUTE)
            self._budget = RequestBudget(
                per_minute, self.context, max_wait=self.settings.max_rate_limit_wait.total_seconds()
            )
        return self._budget

    def _reddit_api(self) -> RedditApi:
        if self._api is None:
            from connectors.reddit.client import RedditApi, Transport

            self._transport = Transport(
                auth_base_url=self.settings.auth_base_url,
                context=self.context,
                budget=self._request_budget(),
                timeout=self.settings.timeout.total_seconds(),
            )
            self._api = RedditApi(
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret.get_secret_value(),
                user_agent=self._user_agent(),
                api_base_url=self.settings.api_base_url,
                auth_base_url=self.settings.auth_base_url,
                transport=self._transport,
            )
        return self._api

    def _feed_client(self) -> FeedClient:
        if self._feeds is None:
            self._feeds = FeedClient(
                self.settings.feed_base_url,
                user_agent=self._user_agent(),
                timeout=self.settings.timeout.total_seconds(),
                context=self.context,
                budget=self._request_budget(),
            )
        return self._feeds
