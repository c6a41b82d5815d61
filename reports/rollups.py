"""The week's figures, computed with pandas from the store (figures as known at report time).

Only the columns a roll-up needs are read; the per-mention files (mentions.csv, links.csv) are streamed
straight from SQL by :mod:`reports.csv_files`, so a week of a million mentions fits in memory. "First
linked" and "new author" come from tables the page writer keeps (``pages``, ``author_firsts``), so their cost
follows the week, not the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from reports import queries
from reports.coverage import CoverageItem, coverage
from reports.queries import Scope
from reports.rows import top_post_rows
from tracker.csv_format import MENTION_COLUMNS
from tracker.periods import IsoWeek
from tracker.store import Store

NEW_COMMUNITY_WEEKS = 12
TOP_POSTS = 50
HEADLINE_METRICS = ("mentions", "pages_linked", "authors", "communities", "engagement", "reach")
PAGE_COLUMNS = [
    "canonical_url",
    "domain",
    "mentions",
    "engagement",
    "platforms",
    "first_seen",
    "new",
    "value",
]


@dataclass
class Summary:
    """One row of summary.csv."""

    metric: str
    this_week: int
    previous_week: int
    unreliable: bool = False

    @property
    def change(self) -> int:
        return self.this_week - self.previous_week

    @property
    def change_pct(self) -> float | None:
        if self.previous_week == 0:
            return None
        return round(100.0 * self.change / self.previous_week, 1)


@dataclass
class DomainSection:
    """The figures of one own domain, when a report covers several."""

    domain: str
    mentions: int
    pages_linked: int
    new_pages: int
    engagement: int
    reach: int
    top_pages: pd.DataFrame


@dataclass
class WeekReport:
    """Everything a report shows for one week."""

    week: IsoWeek
    timezone: str
    start: datetime
    end: datetime
    generated_at: datetime
    summary: list[Summary]
    daily: pd.DataFrame
    top_pages: pd.DataFrame
    top_posts: pd.DataFrame
    top_authors: pd.DataFrame
    communities: pd.DataFrame
    anchors: pd.DataFrame
    domains: list[str]
    sections: list[DomainSection] = field(default_factory=list)
    coverage: list[CoverageItem] = field(default_factory=list)
    previous_coverage: list[CoverageItem] = field(default_factory=list)
    tracking_since: datetime | None = None
    platforms: dict[str, str] = field(default_factory=dict)  # connector name -> platform

    @property
    def total(self) -> int:
        return self.summary[0].this_week

    @property
    def so_far(self) -> bool:
        """The week had not ended when the report was written."""
        return self.generated_at < self.end

    @property
    def first_week(self) -> bool:
        """Tracking began in this week (or later): there is no previous week to compare with."""
        return self.tracking_since is not None and self.tracking_since >= self.start

    @property
    def previous_partial(self) -> bool:
        """Tracking began during the previous week, so it was not tracked whole."""
        previous_start = self.week.previous().bounds(self.timezone)[0]
        return self.tracking_since is not None and previous_start < self.tracking_since < self.start

    @property
    def comparison_unreliable(self) -> bool:
        return bool(self.coverage or self.previous_coverage or self.previous_partial)

    @property
    def new_pages(self) -> int:
        return int(self.top_pages["new"].sum()) if len(self.top_pages) else 0

    @property
    def new_authors(self) -> int:
        return int(self.top_authors["new"].sum()) if len(self.top_authors) else 0

    @property
    def new_communities(self) -> int:
        return int(self.communities["new"].sum()) if len(self.communities) else 0


def count_week(frame: pd.DataFrame, link_frame: pd.DataFrame) -> dict[str, int]:
    """The summary's figures from a week's frames: the rules of :func:`reports.queries.week_counts` (which
    counts the previous week in SQL), so both weeks are counted alike."""
    counts = {
        "mentions": len(frame),
        "pages_linked": 0,
        "authors": 0,
        "communities": 0,
        "engagement": int(frame["engagement"].sum()),
        "reach": int(frame["reach"].sum()),
    }
    if len(frame):
        by_platform = frame.groupby("platform", observed=True)
        counts["authors"] = int(by_platform["author_key"].nunique().sum())
        counts["communities"] = int(by_platform["community"].nunique().sum())
        counts.update({f"mentions:{p}": int(n) for p, n in by_platform.size().items()})
    if len(link_frame):
        by_domain = link_frame.groupby("domain", observed=True)
        counts["pages_linked"] = int(by_domain["canonical_url"].nunique().sum())
        counts.update({f"mentions:{d}": int(n) for d, n in by_domain["mention_id"].nunique().items()})
    return counts


def _daily(frame: pd.DataFrame, week: IsoWeek, timezone: str) -> pd.DataFrame:
    days = [day.isoformat() for day in week.days()]
    if not len(frame):
        return pd.DataFrame(columns=["date", "platform", "mentions"])
    local_midnight = frame["created_at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    counts = frame.assign(date=local_midnight).groupby(["date", "platform"], observed=True).size()
    counts.index = counts.index.set_levels(counts.index.levels[0].strftime("%Y-%m-%d"), level="date")
    platforms = sorted(frame["platform"].unique())
    grid = pd.MultiIndex.from_product([days, platforms], names=["date", "platform"])
    return counts.reindex(grid, fill_value=0).rename("mentions").reset_index()


def _top_pages(
    frame: pd.DataFrame, link_frame: pd.DataFrame, first: Mapping[str, Any], start: datetime
) -> pd.DataFrame:
    """Pages by mentions, with engagement, platforms, when each was first linked (``first``, from the pages
    table) and whether that was this week."""
    if not len(link_frame):
        return pd.DataFrame(columns=PAGE_COLUMNS)
    joined = link_frame.drop_duplicates(["mention_id", "canonical_url"]).merge(
        frame[["id", "platform", "engagement", "created_at"]], left_on="mention_id", right_on="id"
    )
    joined["engagement"] = joined["engagement"].fillna(0)
    grouped = joined.groupby("canonical_url", observed=True).agg(
        domain=("domain", "first"),
        mentions=("mention_id", "size"),
        engagement=("engagement", "sum"),
        first_seen=("created_at", "min"),
    )
    platforms = joined[["canonical_url", "platform"]].drop_duplicates().astype(str).sort_values("platform")
    grouped["platforms"] = platforms.groupby("canonical_url")["platform"].agg(", ".join)
    known = pd.Series(first, dtype="datetime64[us, UTC]").reindex(grouped.index)
    grouped["first_seen"] = known.where(known.notna(), grouped["first_seen"])
    grouped["new"] = grouped["first_seen"] >= pd.Timestamp(start)
    grouped["engagement"] = grouped["engagement"].astype(int)
    grouped["value"] = None  # link value comes with its own rating; the column keeps its place
    grouped.index = grouped.index.astype(str)
    grouped = grouped.reset_index().sort_values(
        ["mentions", "engagement", "canonical_url"], ascending=[False, False, True]
    )
    grouped["domain"] = grouped["domain"].astype(str)
    return grouped[PAGE_COLUMNS].reset_index(drop=True)


def _top_authors(
    frame: pd.DataFrame, names: Callable[[list[int]], Mapping[int, tuple[str | None, str | None]]],
    new: set[tuple[str, str]],
) -> pd.DataFrame:  # fmt: skip
    """Authors by mentions; the handle and name of each author's latest mention win."""
    columns = [
        "platform",
        "author_handle",
        "author_name",
        "author_followers",
        "mentions",
        "engagement",
        "new",
    ]
    known = frame.dropna(subset=["author_key"])
    if not len(known):
        return pd.DataFrame(columns=columns)
    ordered = known.sort_values(["created_at", "id"]).assign(engagement=known["engagement"].fillna(0))
    grouped = ordered.groupby(["platform", "author_key"], observed=True).agg(
        latest=("id", "last"),
        author_followers=("author_followers", "max"),
        mentions=("id", "size"),
        engagement=("engagement", "sum"),
    )
    grouped["engagement"] = grouped["engagement"].astype(int)
    grouped = grouped.reset_index()
    grouped["platform"] = grouped["platform"].astype(str)
    grouped["author_key"] = grouped["author_key"].astype(str)
    handles = names([int(i) for i in grouped["latest"]])
    grouped["author_handle"] = [handles.get(int(i), (None, None))[0] for i in grouped["latest"]]
    grouped["author_name"] = [handles.get(int(i), (None, None))[1] for i in grouped["latest"]]
    grouped["new"] = [(p, k) in new for p, k in zip(grouped["platform"], grouped["author_key"], strict=True)]
    grouped = grouped.sort_values(
        ["mentions", "engagement", "author_followers"], ascending=[False, False, False], na_position="last"
    )
    grouped["author_followers"] = grouped["author_followers"].astype("Int64")
    return grouped[columns].reset_index(drop=True)


def _communities(
    frame: pd.DataFrame, active: Callable[[list[tuple[str, str]]], set[tuple[str, str]]]
) -> pd.DataFrame:
    """Communities by mentions; ``new``: none of the 12 weeks before had a mention from it (``active`` says
    which had)."""
    columns = ["platform", "community", "mentions", "engagement", "new"]
    present = frame.dropna(subset=["community"])
    if not len(present):
        return pd.DataFrame(columns=columns)
    present = present.assign(engagement=present["engagement"].fillna(0))
    grouped = present.groupby(["platform", "community"], observed=True).agg(
        mentions=("id", "size"), engagement=("engagement", "sum")
    )
    grouped["engagement"] = grouped["engagement"].astype(int)
    grouped = grouped.reset_index()
    for column in ("platform", "community"):
        grouped[column] = grouped[column].astype(str)
    pairs = list(zip(grouped["platform"], grouped["community"], strict=True))
    seen_before = active(pairs)
    grouped["new"] = [pair not in seen_before for pair in pairs]
    grouped = grouped.sort_values(["mentions", "engagement", "community"], ascending=[False, False, True])
    return grouped[columns].reset_index(drop=True)


def _anchors(link_frame: pd.DataFrame) -> pd.DataFrame:
    texts = link_frame["anchor_text"].dropna() if len(link_frame) else pd.Series(dtype=object)
    texts = texts.astype(str)
    texts = texts[texts.str.strip() != ""]
    if not len(texts):
        return pd.DataFrame(columns=["anchor_text", "links"])
    counts = texts.value_counts().head(30)
    return pd.DataFrame({"anchor_text": counts.index, "links": counts.to_numpy()})


def top_post_ids(frame: pd.DataFrame) -> list[int]:
    """The week's highest by engagement (unknown last), newest first among equals."""
    if not len(frame):
        return []
    rank = frame["engagement"].fillna(-1).astype("int64")
    candidates = frame.loc[rank.nlargest(TOP_POSTS, keep="all").index].assign(rank=rank)
    ranked = candidates.sort_values(["rank", "created_at", "id"], ascending=[False, False, False])
    return [int(i) for i in ranked["id"].head(TOP_POSTS)]


def _sections(
    domains: list[str], frame: pd.DataFrame, link_frame: pd.DataFrame, pages: pd.DataFrame
) -> list[DomainSection]:
    """One section per own domain (only when there are several)."""
    if len(domains) < 2:
        return []
    sections = []
    indexed = frame.set_index("id")
    for domain in domains:
        ids = link_frame.loc[link_frame["domain"] == domain, "mention_id"].unique() if len(link_frame) else []
        linking = indexed.loc[indexed.index.intersection(ids)]
        own_pages = pages[pages["domain"] == domain] if len(pages) else pages
        section = DomainSection(
            domain=domain, mentions=len(linking), pages_linked=len(own_pages),
            new_pages=int(own_pages["new"].sum()) if len(own_pages) else 0,
            engagement=int(linking["engagement"].sum()), reach=int(linking["reach"].sum()),
            top_pages=own_pages.head(10),
        )  # fmt: skip
        sections.append(section)
    return sections


def build(store: Store, week: IsoWeek, *, timezone: str, domains: list[str], platforms: dict[str, str],
          now: datetime, idle_after: Mapping[str, timedelta] | None = None,
          intervals: Mapping[str, timedelta] | None = None, scope: Scope | None = None,
          previous_counts: Callable[[], dict[str, int]] | None = None) -> WeekReport:  # fmt: skip
    """Compute a week's report and the previous week's figures to compare with.

    ``domains`` are the own domains the report covers. ``platforms`` maps each configured connector to its
    platform (to tell which comparisons a connector's coverage gap makes unreliable); ``idle_after`` and
    ``intervals`` are passed to :func:`reports.coverage.coverage`. ``scope`` is ``domains``' (computed when not
    given); ``previous_counts``, when given, supplies the previous week's figures (another process may count
    them meanwhile).
    """
    start, end = week.bounds(timezone)
    previous_start, previous_end = week.previous().bounds(timezone)
    dialect = store.dialect
    with store.read() as conn:
        scope = scope or Scope.of(conn, dialect, domains)
        frame = queries.week_mentions(conn, dialect, start, end)
        link_frame = queries.week_links(conn, dialect, start, end, scope)
        if scope.filtered:
            frame = frame[frame["id"].isin(link_frame["mention_id"].unique())].reset_index(drop=True)
        for column in ("platform", "author_key", "community"):
            frame[column] = frame[column].astype("category")
        this_counts = count_week(frame, link_frame)
        pages_linked = link_frame["canonical_url"].unique().tolist() if len(link_frame) else []
        first = queries.first_linked(conn, dialect, [str(url) for url in pages_linked])
        new_authors = queries.first_mentions_in(conn, dialect, start, end)
        top_ids = top_post_ids(frame)
        top_posts = _post_frame(top_ids, top_post_rows(conn, top_ids, scope, for_csv=False))
        since = start - timedelta(weeks=NEW_COMMUNITY_WEEKS)

        def names(ids: list[int]) -> Mapping[int, tuple[str | None, str | None]]:
            return queries.author_names(conn, dialect, ids)

        def active(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
            return queries.active_communities(conn, dialect, pairs, since, start)

        top_authors = _top_authors(frame, names, new_authors)
        communities = _communities(frame, active)
        this_coverage = coverage(conn, start, min(end, now), idle_after, intervals)
        previous_coverage = coverage(conn, previous_start, previous_end, idle_after, intervals)
        tracking_since = store.first_run_at()
        if previous_counts is None:
            previous = queries.week_counts(conn, dialect, previous_start, previous_end, scope)
    if previous_counts is not None:
        previous = previous_counts()
    top_pages = _top_pages(frame, link_frame, first, start)
    affected = {platforms.get(item.connector, "") for item in (*this_coverage, *previous_coverage)}
    partial = tracking_since is not None and previous_start < tracking_since < start
    unreliable_all = bool(this_coverage or previous_coverage or partial)
    names_in_order = list(HEADLINE_METRICS)
    names_in_order += [f"mentions:{domain}" for domain in domains]
    platform_names = sorted({key.split(":", 1)[1] for key in (*this_counts, *previous)
                             if key.startswith("mentions:") and key.split(":", 1)[1] not in domains})  # fmt: skip
    names_in_order += [f"mentions:{platform}" for platform in platform_names]
    summary = [
        Summary(
            name,
            this_counts.get(name, 0),
            previous.get(name, 0),
            unreliable=unreliable_all if ":" not in name or name[len("mentions:") :] in domains
            else partial or name[len("mentions:") :] in affected,
        )
        for name in names_in_order
    ]  # fmt: skip
    return WeekReport(
        week=week,
        timezone=timezone,
        start=start,
        end=end,
        generated_at=now,
        summary=summary,
        daily=_daily(frame, week, timezone),
        top_pages=top_pages,
        top_posts=top_posts,
        top_authors=top_authors,
        communities=communities,
        anchors=_anchors(link_frame),
        domains=domains,
        sections=_sections(domains, frame, link_frame, top_pages),
        coverage=this_coverage,
        previous_coverage=previous_coverage,
        tracking_since=tracking_since,
        platforms=platforms,
    )


def _post_frame(ids: list[int], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The top posts with the columns of mentions.csv, raw values (for the page), in this order."""
    posts = pd.DataFrame.from_records(rows, columns=[*MENTION_COLUMNS, "thread_id"])
    posts["created_at"] = queries.utc_series(posts["created_at"])
    posts.attrs["ids"] = list(ids)
    return posts


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as plain dicts with None for missing values (for templates and CSV)."""
    cleaned = frame.astype(object).where(frame.notna(), None)
    return list(cleaned.to_dict("records"))
