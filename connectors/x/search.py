"""Recent-search queries for X: which domains share a query, the query text, and time <-> post id.

Post ids are snowflakes: the top bits are the milliseconds since X's epoch, so a time converts to an id bound
and an id tells when it was made. Passes use id bounds (``since_id``/``until_id``) once a cursor exists
and time bounds (``start_time``/``end_time``) for a fresh start; X rejects a mix of the two kinds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.settings import DomainSettings

SNOWFLAKE_EPOCH = datetime(2010, 11, 4, 1, 42, 54, 657000, tzinfo=UTC)  # millisecond 0 of post ids
SEARCH_WINDOW = timedelta(days=7)  # recent search reaches back this far
WINDOW_MARGIN = timedelta(minutes=10)  # a new start keeps this clear of the window's edge (it moves on)
EDGE_SAFETY = timedelta(minutes=1)  # a stored bound closer than this to the edge is treated as outside
_HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def window_edges(now: datetime) -> tuple[datetime, datetime]:
    """The oldest time a stored bound may still use, and where a pass that has to restart starts."""
    return now - SEARCH_WINDOW + EDGE_SAFETY, now - SEARCH_WINDOW + WINDOW_MARGIN


def id_at(moment: datetime) -> int:
    """The smallest post id X could give a post made at ``moment``."""
    return max(0, (moment - SNOWFLAKE_EPOCH) // timedelta(milliseconds=1)) << 22


def time_of(post_id: str | int) -> datetime:
    """When the post with this id was made (to the millisecond)."""
    return SNOWFLAKE_EPOCH + timedelta(milliseconds=int(post_id) >> 22)


def format_time(moment: datetime) -> str:
    """X's timestamp format for ``start_time``/``end_time`` (whole seconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def valid_bounds(bounds: Any) -> bool:
    """Whether stored bounds are ids (``since_id``, ``until_id``) or times (``start_time``, ``end_time``)."""
    if not isinstance(bounds, dict) or not all(isinstance(value, str) for value in bounds.values()):
        return False
    if set(bounds) == {"since_id", "until_id"}:
        return all(value.isdigit() for value in bounds.values())
    if set(bounds) == {"start_time", "end_time"}:
        try:
            return all(parse_time(value) for value in bounds.values())
        except ValueError:
            return False
    return False


def lower_time(bounds: Mapping[str, str]) -> datetime:
    """Where a pass's bounds start."""
    if "since_id" in bounds:
        return time_of(bounds["since_id"])
    return parse_time(bounds["start_time"])


def id_bounds(bounds: Mapping[str, str], until_id: str | None) -> dict[str, str]:
    """The same lower bound as ids (exclusive), up to ``until_id`` (exclusive) or the old upper bound."""
    since_id = bounds.get("since_id") or str(id_at(parse_time(bounds["start_time"])) - 1)
    upper = until_id or bounds.get("until_id") or str(id_at(parse_time(bounds["end_time"])))
    return {"since_id": since_id, "until_id": upper}


def upper_id(bounds: Mapping[str, str]) -> str:
    """The newest id a pass with these bounds can see: it becomes ``since_id`` when the pass finds nothing."""
    if "until_id" in bounds:
        return str(int(bounds["until_id"]) - 1)
    return str(id_at(parse_time(bounds["end_time"])) - 1)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One recent-search query: the domains it covers (its cursor's key) and its text."""

    domains: tuple[str, ...]
    text: str
    seed_since_id: str | None = None
    """For a regrouped query: a ``since_id`` its domains had all read up to under their old queries."""

    @property
    def source_key(self) -> str:
        return "search:" + ",".join(self.domains)


def excluded_handles(domains: Sequence[DomainSettings]) -> tuple[str, ...]:
    """X accounts every one of these domains excludes (``x:handle``): left out by the query, never paid for."""
    common: set[str] | None = None
    for domain in domains:
        handles = {
            ref.partition(":")[2]
            for ref in domain.exclude_authors
            if ref.startswith("x:") and _HANDLE_RE.match(ref.partition(":")[2])
        }
        common = handles if common is None else common & handles
    return tuple(sorted(common or ()))


def query_text(domains: Sequence[DomainSettings], max_length: int) -> str:
    """``url:"a.com" -is:retweet``, or ``(url:"a.com" OR url:"b.com") -is:retweet``; then ``-from:handle``
    for the excluded authors, as many as fit in ``max_length``."""
    text = _core_text([domain.name for domain in domains])
    for handle in excluded_handles(domains):
        if len(text) + len(handle) + 7 <= max_length:
            text += f" -from:{handle}"
    return text


def plan_queries(
    domains: Sequence[DomainSettings], stored: Mapping[str, Mapping[str, Any]], max_length: int
) -> list[SearchQuery]:
    """Group the domains into queries of at most ``max_length`` characters, keeping what the cursors know.

    A stored query whose domains are all still monitored is kept as it is, so its cursor goes on. Domains
    with history in a query that no longer fits (a domain was removed) are regrouped among themselves,
    starting from the oldest ``since_id`` they share, and new domains get queries of their own: mixing them
    would make X re-read (and bill) a week of posts of domains that were already read.
    """
    by_name = {domain.name: domain for domain in domains}
    taken: set[str] = set()
    queries: list[SearchQuery] = []
    history: dict[str, str] = {}
    ordered = sorted(stored.values(), key=lambda state: -int(state.get("since_id") or 0))
    for state in ordered:
        names = tuple(str(name) for name in state.get("domains") or ())
        since_id = state.get("since_id")
        for name in names:
            if since_id and name in by_name:
                history.setdefault(name, str(since_id))
        if not names or not set(names) <= by_name.keys() or set(names) & taken:
            continue
        if len(_core_text(names)) <= max_length:
            text = query_text([by_name[name] for name in names], max_length)
            queries.append(SearchQuery(names, text))
            taken.update(names)
    rest = [name for name in by_name if name not in taken]
    for group in _pack([n for n in rest if n in history], max_length):
        seed = min((history[name] for name in group), key=int)
        queries.append(SearchQuery(group, query_text([by_name[n] for n in group], max_length), seed))
    for group in _pack([n for n in rest if n not in history], max_length):
        queries.append(SearchQuery(group, query_text([by_name[n] for n in group], max_length)))
    return queries


def _core_text(names: Sequence[str]) -> str:
    terms = [f'url:"{name}"' for name in names]
    return (terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")") + " -is:retweet"


_TERM = len('url:""')  # a term is its domain and this much
_OR = len(" OR ")
_REST = len("()") + len(" -is:retweet")


def _pack(names: Sequence[str], max_length: int) -> list[tuple[str, ...]]:
    """The fewest groups (first fit, longest names first: within 11/9 of the best packing) whose query
    text, ``_core_text``, stays within ``max_length``; a name too long for any group is a group of its own.
    Each group keeps the names in the order given, and the groups are ordered by their first name."""
    order = {name: index for index, name in enumerate(names)}
    groups: list[list[str]] = []
    lengths: list[int] = []  # each group's query length (as a group of several)
    for name in sorted(names, key=lambda each: (-len(each), order[each])):
        size = _TERM + len(name)
        for index, length in enumerate(lengths):
            if length + _OR + size <= max_length:
                groups[index].append(name)
                lengths[index] = length + _OR + size
                break
        else:
            groups.append([name])
            lengths.append(_REST + size)
    packed = [tuple(sorted(group, key=order.__getitem__)) for group in groups]
    return sorted(packed, key=lambda group: order[group[0]])


@dataclass(frozen=True, slots=True)
class PassCost:
    """What one pass over the domains costs in requests: X bills the posts and users a search returns, not
    the requests, but every query is at least one request a pass (an empty answer costs nothing)."""

    domains: int
    queries: int
    max_length: int
    interval: timedelta

    @property
    def requests_per_day(self) -> int:
        return self.queries * max(1, round(timedelta(days=1) / self.interval))

    def __str__(self) -> str:
        plural = "query" if self.queries == 1 else "queries"
        return (
            f"{self.queries} {plural} of at most {self.max_length} characters: at least {self.queries} search "
            f"request(s) a pass, {self.requests_per_day:,} a day, one more per 100 posts found; X bills the "
            f"posts and users read, not the requests"
        )


def pass_cost(domains: Sequence[DomainSettings], max_length: int, interval: timedelta) -> PassCost:
    """The requests a pass over ``domains`` makes at the least, with queries planned afresh."""
    return PassCost(len(domains), len(plan_queries(domains, {}, max_length)), max_length, interval)
