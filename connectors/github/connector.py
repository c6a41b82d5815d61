"""GitHub: issues, pull requests and their comments that link to a domain (a token is required).

Per domain, two sources (``issue:<domain>``, ``pr:<domain>``; GitHub's issue search needs ``is:issue`` or
``is:pull-request``) search for the domain as a phrase among the items updated since the cursor (minus
``overlap``), newest creation windows last (see :mod:`connectors.github.search` for the 1,000-result cap).
The search is textual, so each item found is read as a mention of its own (the body) and, when it has
comments, its comments updated since the same time are read too (``/repos/{owner}/{repo}/issues/{n}/comments``);
the poller keeps only those with a real link to the domain. An item seen last pass with the same
``updated_at`` is not read again.

A pass that stops part way (a rate-limit wait longer than ``max_rate_limit_wait``, an outage) keeps the
creation windows it finished in the cursor and goes on from there the next time.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator

from connectors.github.client import GitHubClient, NotFoundError
from connectors.github.issues import (
    issue_key,
    normalize_comment,
    normalize_issue,
    parse_platform_id,
    repository_of,
)
from connectors.github.search import EPOCH, KINDS, RESULT_CAP, Window, next_window, query, stamp, whole_second
from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import ConnectorError
from tracker.record import Mention, RecordError, parse_iso
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration


class GitHubSettings(ConnectorSettings):
    interval: Duration = timedelta(hours=1)
    token: SecretStr
    """A GitHub token (no scopes needed for public repositories): the search API needs one."""
    api_base_url: BaseUrl = "https://api.github.com"
    """The GitHub REST API (or GitHub Enterprise's `https://HOST/api/v3`, or a proxy)."""
    pull_requests: bool = True
    """Also search pull requests, not only issues."""
    comments: bool = True
    """Also read the comments of matching issues and pull requests."""
    initial_lookback: Duration = timedelta(days=30)
    """How far back the first pass searches."""
    overlap: Duration = timedelta(minutes=30)  # the search index lags behind new comments
    page_size: int = Field(100, ge=1, le=100)
    """Search results per request."""
    max_rate_limit_wait: Duration = timedelta(minutes=15)
    """The longest rate-limit wait a pass accepts; a longer one ends the pass (the next tries again)."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""

    @field_validator("token")
    @classmethod
    def _token_given(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(
                "GitHub's search API needs a token: create one (no scopes needed for public repositories) "
                'and set token = "${GITHUB_TOKEN}"'
            )
        return value


class GitHubConnector(Connector):
    type = "github"
    platform = "github"
    Settings = GitHubSettings
    description = "GitHub issues, pull requests and comments (REST search API)"
    refresh_kinds = frozenset({"issue", "comment"})

    settings: GitHubSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self.client = GitHubClient(
            self.settings.api_base_url,
            self.settings.token.get_secret_value(),
            context,
            timeout=self.settings.timeout.total_seconds(),
            max_wait=self.settings.max_rate_limit_wait.total_seconds(),
        )

    def close(self) -> None:
        self.client.close()

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        what = "issues and pull requests" if self.settings.pull_requests else "issues"
        comments = " and their comments" if self.settings.comments else ""
        return f"searches GitHub {what}{comments} for links to {domain_names(domains)}"

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        kinds = list(KINDS) if self.settings.pull_requests else ["issue"]
        for domain in request.domains:
            for kind in kinds:
                yield from _Source(self, request, kind, domain.name).read()

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Each issue (``/repos/{owner}/{repo}/issues/{n}``) or comment (``.../issues/comments/{id}``) by
        itself, with its current reactions and comment count; 404 or 410 marks it deleted."""
        mentions: list[Mention] = []
        deleted: list[str] = []
        problems: list[str] = []
        for platform_id in platform_ids:
            try:
                repository, number, comment_id = parse_platform_id(platform_id)
                base = f"/repos/{_path(repository)}/issues"
                if comment_id is None:
                    mentions.append(normalize_issue(self.client.get(f"{base}/{number}"), repository))
                else:
                    comment = self.client.get(f"{base}/comments/{comment_id}")
                    mentions.append(normalize_comment(comment, repository, number))
            except NotFoundError:
                deleted.append(platform_id)
            except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
                problems.append(f"GitHub {platform_id}: {type(exc).__name__}: {exc}")
        yield Page(
            "refresh",
            mentions,
            usage=self.client.take_usage(items_read=len(mentions)),
            deleted=deleted,
            skipped=len(problems),
            problems=problems,
        )

    # Reading, used by _Source.

    def search(self, q: str, page: int) -> dict[str, Any]:
        response = self.client.get(
            "/search/issues",
            {"q": q, "sort": "created", "order": "asc", "per_page": self.settings.page_size, "page": page},
        )
        if (
            not isinstance(response, dict)
            or not isinstance(response.get("items"), list)
            or not isinstance(response.get("total_count"), int)
        ):
            raise ConnectorError("GitHub's issue search answered without items and total_count")
        return response

    def comments(self, repository: str, number: int, since: datetime) -> list[Any]:
        """The comments of one issue or pull request updated at or after ``since``, every page."""
        found: list[Any] = []
        page = 1
        while True:
            try:
                batch = self.client.get(
                    f"/repos/{_path(repository)}/issues/{number}/comments",
                    {"since": stamp(since), "per_page": 100, "page": page},
                )
            except NotFoundError:
                return found  # deleted or moved out of sight since the search
            if not isinstance(batch, list):
                raise ConnectorError(f"GitHub answered the comments of {repository}#{number} without a list")
            found.extend(batch)
            if len(batch) < 100:
                return found
            page += 1


class _Source:
    """One pass over ``<kind>:<domain>``: the unfinished range of the last pass first, then a new one."""

    def __init__(self, connector: GitHubConnector, request: FetchRequest, kind: str, domain: str) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.kind = kind
        self.domain = domain
        self.key = f"{kind}:{domain}"
        self.upper = whole_second(request.started_at)
        self.since = whole_second(request.since) if request.since is not None else None
        state = connector.cursor_state(request, self.key)
        if state is not None and state.get("since") != (stamp(self.since) if self.since else None):
            state = None  # a backfill to another date starts over
        self.state: Mapping[str, Any] = state or {}
        self.seen: dict[str, str] = {str(key): str(at) for key, at in self.state.get("seen", [])}

    def read(self) -> Iterator[Page]:
        until = parse_iso(self.state["until"]) if self.state.get("until") else None
        pending = self.state.get("pending")
        if isinstance(pending, Mapping):
            upper = parse_iso(pending["upper"])
            yield from self._read_range(
                parse_iso(pending["lower"]),
                upper,
                parse_iso(pending["done_to"]) + timedelta(seconds=1),
                by_created=pending.get("by") == "created",
                until=until,
            )
            until = upper
        if until is not None and until >= self.upper:
            return
        if until is None and self.since is not None:  # a backfill: everything created since then
            yield from self._read_range(self.since, self.upper, self.since, by_created=True, until=None)
            return
        lower = (
            until - self.settings.overlap
            if until is not None
            else self.upper - self.settings.initial_lookback
        )
        yield from self._read_range(lower, self.upper, EPOCH, by_created=False, until=until)

    def _read_range(
        self,
        lower: datetime,
        upper: datetime,
        first_created: datetime,
        *,
        by_created: bool,
        until: datetime | None,
    ) -> Iterator[Page]:
        """Items updated in ``[lower, upper]`` (``by_created``: created in it) and created from
        ``first_created`` on, window by window (see :mod:`connectors.github.search`); the last page of each
        window carries the cursor, the range finished after the last one."""
        spec = _Range(lower, upper, by_created, until)
        low: datetime | None = first_created
        if first_created > upper:  # resumed after its last window: only the cursor is left to write
            yield Page(self.key, cursor=self.connector.make_cursor(self._state(spec, None)))
        while low is not None and low <= upper:
            low = yield from self._read_window(Window(low, upper), spec)

    def _read_window(self, window: Window, spec: _Range) -> Generator[Page, None, datetime | None]:
        """Read a window's results, oldest first, as far as the cap allows; return where the next window
        starts, or None when this one held everything."""
        updated = None if spec.by_created else (spec.lower, spec.upper)
        page_size = self.settings.page_size
        page = 1
        response = self.connector.search(query(self.domain, self.kind, window, updated), page)
        capped = response["total_count"] > RESULT_CAP
        reachable = min(response["total_count"], RESULT_CAP)
        gaps: list[Gap] = []
        last_created: datetime | None = None
        while True:
            items = response["items"]
            if response.get("incomplete_results"):
                gaps.append(Gap(self.key, window.low, window.high + timedelta(seconds=1),
                                "GitHub's search timed out on this window (incomplete_results); some may be missing"))  # fmt: skip
            mentions, read, problems = self._read_items(items, spec.lower)
            last_created = _created(items[-1]) if items else last_created
            done = len(items) < page_size or page * page_size >= reachable
            following: datetime | None = None
            if done and capped:
                following, lost = next_window(window, last_created)
                if lost is not None:
                    gaps.append(Gap(self.key, window.low, following, lost))
                if following > window.high:
                    following = None
            cursor = None
            if done:
                cursor = self.connector.make_cursor(
                    self._state(spec, following - timedelta(seconds=1) if following else None)
                )
            yield Page(
                self.key,
                mentions,
                cursor=cursor,
                usage=self.connector.client.take_usage(items_read=read),
                gaps=gaps if done else (),
                skipped=len(problems),
                problems=problems,
            )
            if done:
                return following
            page += 1
            response = self.connector.search(query(self.domain, self.kind, window, updated), page)

    def _read_items(self, items: list[Any], comments_since: datetime) -> tuple[list[Mention], int, list[str]]:
        mentions: list[Mention] = []
        problems: list[str] = []
        read = len(items)
        for item in items:
            try:
                repository = repository_of(item)
                number = item["number"]
                key = issue_key(repository, number)
                updated_at = str(item.get("updated_at") or "")
                if updated_at and self.seen.get(key) == updated_at:
                    continue  # read last pass, unchanged since
                mentions.append(normalize_issue(item, repository))
                if self.settings.comments and (item.get("comments") or 0) > 0:
                    comments = self.connector.comments(repository, number, comments_since)
                    read += len(comments)
                    for comment in comments:
                        try:
                            mentions.append(normalize_comment(comment, repository, number))
                        except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
                            problems.append(f"GitHub comment on {key}: {type(exc).__name__}: {exc}")
                if updated_at:
                    self.seen[key] = updated_at
            except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
                label = item.get("html_url") if isinstance(item, Mapping) else None
                problems.append(f"GitHub item {label!r}: {type(exc).__name__}: {exc}")
        return mentions, read, problems

    def _state(self, spec: _Range, done_to: datetime | None) -> dict[str, Any]:
        """The cursor once ``spec`` is read for items created up to ``done_to`` (None: all of it)."""
        keep_from = spec.upper - self.settings.overlap
        state: dict[str, Any] = {
            "seen": sorted([key, at] for key, at in self.seen.items() if _at_or_after(at, keep_from)),
        }
        if done_to is None:
            state["until"] = stamp(spec.upper)
        else:
            if spec.until is not None:
                state["until"] = stamp(spec.until)
            state["pending"] = {
                "lower": stamp(spec.lower),
                "upper": stamp(spec.upper),
                "done_to": stamp(done_to),
                "by": "created" if spec.by_created else "updated",
            }
        if self.since is not None:
            state["since"] = stamp(self.since)
        return state


@dataclass(frozen=True)
class _Range:
    lower: datetime
    upper: datetime
    by_created: bool
    until: datetime | None  # the cursor's end before this range


def _created(item: Any) -> datetime | None:
    try:
        return whole_second(parse_iso(item["created_at"]))
    except (RecordError, KeyError, TypeError):
        return None


def _at_or_after(text: str, moment: datetime) -> bool:
    try:
        return parse_iso(text) >= moment
    except RecordError:
        return False


def _path(repository: str) -> str:
    owner, _, name = repository.partition("/")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"
