"""A week's report from its figures (as known at report time): the figures gathered by the one read of the
week (:mod:`reports.slices`, :mod:`reports.partials`), the previous week's counted in SQL, and what the store
keeps about the past. "First linked" and "new author" come from tables the page writer keeps (``pages``,
``author_firsts``), so their cost follows the week, not the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from reports import link_value, queries
from reports.coverage import CoverageItem, coverage
from reports.partials import Partials
from reports.queries import Scope
from reports.rows import top_post_rows
from reports.share import ShareOfVoice
from reports.slices import Pass, read_alone
from tracker.csv_format import MENTION_COLUMNS
from tracker.periods import IsoWeek
from tracker.store import Store

NEW_COMMUNITY_WEEKS = 12
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
    partial: Mapping[str, str] = field(default_factory=dict)  # connector -> why it sees only part
    valuable: pd.DataFrame = field(default_factory=pd.DataFrame)  # reports.link_value.most_valuable
    attention: pd.DataFrame = field(default_factory=pd.DataFrame)  # reports.link_value.needing_attention
    share_of_voice: ShareOfVoice | None = None  # with competitor domains (reports.share)

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


def count_week(figures: Partials) -> dict[str, int]:
    """The summary's figures from a week's merged figures: the rules of :func:`reports.queries.week_counts`
    (which counts the previous week in SQL), so both weeks are counted alike. An author (the platform's author
    id, else the handle) and a community belong to one platform, a page to one domain."""
    platforms = figures.platforms
    counts = {
        "mentions": int(platforms["mentions"].sum()),
        "pages_linked": len(figures.pages),
        "authors": len(figures.authors),
        "communities": len(figures.communities),
        "engagement": int(platforms["engagement"].sum()),
        "reach": int(platforms["reach"].sum()),
    }
    counts.update({f"mentions:{p}": int(n) for p, n in platforms["mentions"].items() if n})
    counts.update({f"mentions:{d}": int(n) for d, n in figures.domains["mentions"].items() if n})
    return counts


def _daily(figures: Partials, week: IsoWeek) -> pd.DataFrame:
    """Mentions per local day and platform, every day of the week for every platform seen."""
    days = [day.isoformat() for day in week.days()]
    counts = figures.daily[figures.daily > 0] if len(figures.daily) else figures.daily
    if not len(counts):
        return pd.DataFrame(columns=["date", "platform", "mentions"])
    counts = counts.copy()
    counts.index = counts.index.set_levels([level.astype(str) for level in counts.index.levels])
    platforms = sorted(counts.index.get_level_values("platform").unique())
    grid = pd.MultiIndex.from_product([days, platforms], names=["date", "platform"])
    return (
        counts.groupby(level=["date", "platform"])
        .sum()
        .reindex(grid, fill_value=0)
        .rename("mentions")
        .reset_index()
    )


def _top_pages(figures: Partials, first: Mapping[str, Any], start: datetime) -> pd.DataFrame:
    """Pages by summed value (a mention counts once per page it links), then mentions, with engagement, platforms, when each was first
    linked (``first``, from the pages table) and whether that was this week."""
    if not len(figures.pages):
        return pd.DataFrame(columns=PAGE_COLUMNS)
    grouped = figures.pages.copy()
    grouped.index = grouped.index.astype(str)
    names = figures.page_platforms.astype(str).sort_values("platform")
    grouped["platforms"] = names.groupby("canonical_url")["platform"].agg(", ".join)
    known = pd.Series(first, dtype="datetime64[us, UTC]").reindex(grouped.index)
    grouped["first_seen"] = known.where(known.notna(), grouped["first_at"])
    grouped["new"] = grouped["first_seen"] >= pd.Timestamp(start)
    grouped["engagement"] = grouped["engagement"].astype("int64")
    grouped["mentions"] = grouped["mentions"].astype("int64")
    grouped["domain"] = grouped["domain"].astype(str)
    grouped["value"] = grouped["value"].astype("int64")
    grouped = grouped.rename_axis("canonical_url").reset_index()
    grouped = grouped.sort_values(
        ["value", "mentions", "engagement", "canonical_url"], ascending=[False, False, False, True]
    )
    return grouped[PAGE_COLUMNS].reset_index(drop=True)


def _top_authors(
    figures: Partials, names: Callable[[list[int]], Mapping[int, tuple[str | None, str | None]]],
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
    if not len(figures.authors):
        return pd.DataFrame(columns=columns)
    grouped = figures.authors.reset_index()
    grouped["platform"] = grouped["platform"].astype(str)
    grouped["author_key"] = grouped["author_key"].astype(str)
    latest = [int(i) for i in grouped["latest_id"]]
    handles = names(latest)
    grouped["author_handle"] = [handles.get(i, (None, None))[0] for i in latest]
    grouped["author_name"] = [handles.get(i, (None, None))[1] for i in latest]
    grouped["new"] = [(p, k) in new for p, k in zip(grouped["platform"], grouped["author_key"], strict=True)]
    grouped["author_followers"] = grouped["followers"].astype("Int64")
    for column in ("mentions", "engagement"):
        grouped[column] = grouped[column].astype("int64")
    grouped = grouped.sort_values(
        ["mentions", "engagement", "author_followers"], ascending=[False, False, False], na_position="last"
    )
    return grouped[columns].reset_index(drop=True)


def _communities(
    figures: Partials, active: Callable[[list[tuple[str, str]]], set[tuple[str, str]]]
) -> pd.DataFrame:
    """Communities by mentions; ``new``: none of the 12 weeks before had a mention from it (``active`` says
    which had)."""
    columns = ["platform", "community", "mentions", "engagement", "new"]
    if not len(figures.communities):
        return pd.DataFrame(columns=columns)
    grouped = figures.communities.reset_index()
    for column in ("platform", "community"):
        grouped[column] = grouped[column].astype(str)
    for column in ("mentions", "engagement"):
        grouped[column] = grouped[column].astype("int64")
    pairs = list(zip(grouped["platform"], grouped["community"], strict=True))
    seen_before = active(pairs)
    grouped["new"] = [pair not in seen_before for pair in pairs]
    grouped = grouped.sort_values(["mentions", "engagement", "community"], ascending=[False, False, True])
    return grouped[columns].reset_index(drop=True)


def _anchors(figures: Partials) -> pd.DataFrame:
    if not len(figures.anchors):
        return pd.DataFrame(columns=["anchor_text", "links"])
    counts = figures.anchors.rename("links").rename_axis("anchor_text").reset_index()
    counts["anchor_text"] = counts["anchor_text"].astype(str)
    counts = counts.sort_values(["links", "anchor_text"], ascending=[False, True]).head(30)
    return counts.reset_index(drop=True)


def _sections(domains: list[str], figures: Partials, pages: pd.DataFrame) -> list[DomainSection]:
    """One section per own domain (only when there are several)."""
    if len(domains) < 2:
        return []
    sections = []
    totals = figures.domains
    totals.index = totals.index.astype(str)
    for domain in domains:
        own_pages = pages[pages["domain"] == domain] if len(pages) else pages
        known = domain in totals.index
        section = DomainSection(
            domain=domain,
            mentions=int(totals.at[domain, "mentions"]) if known else 0,
            pages_linked=len(own_pages),
            new_pages=int(own_pages["new"].sum()) if len(own_pages) else 0,
            engagement=int(totals.at[domain, "engagement"]) if known else 0,
            reach=int(totals.at[domain, "reach"]) if known else 0,
            top_pages=own_pages.head(10),
        )
        sections.append(section)
    return sections


def build(store: Store, week: IsoWeek, *, timezone: str, domains: list[str], platforms: dict[str, str],
          now: datetime, idle_after: Mapping[str, timedelta] | None = None,
          intervals: Mapping[str, timedelta] | None = None, scope: Scope | None = None,
          figures: Partials | None = None,
          previous_counts: Callable[[], dict[str, int]] | None = None,
          partial_coverage: Mapping[str, str] | None = None) -> WeekReport:  # fmt: skip
    """Compute a week's report and the previous week's figures to compare with.

    ``domains`` are the own domains the report covers. ``platforms`` maps each configured connector to its
    platform (to tell which comparisons a connector's coverage gap makes unreliable); ``idle_after`` and
    ``intervals`` are passed to :func:`reports.coverage.coverage`. ``scope`` is ``domains``' (computed when not
    given). ``figures`` are the week's, gathered by the pass that wrote the per-mention files (read here
    when not given); ``previous_counts``, when given, supplies the previous week's (another process may count
    them meanwhile). ``partial_coverage`` names the connectors whose platform shows only part of what is
    posted, and why.
    """
    start, end = week.bounds(timezone)
    previous_start, previous_end = week.previous().bounds(timezone)
    dialect = store.dialect
    with store.read() as conn:
        scope = scope or Scope.of(conn, dialect, domains)
    if figures is None:
        figures = read_alone(store, Pass(start, end, scope, timezone, None, count=1))
    this_counts = count_week(figures)
    with store.read() as conn:
        first = queries.first_linked(conn, dialect, [str(url) for url in figures.pages.index])
        new_authors = queries.first_mentions_in(conn, dialect, start, end)
        top_ids = [int(i) for i in figures.top["id"]]
        top_posts = _post_frame(top_ids, top_post_rows(conn, top_ids, scope, for_csv=False))
        since = start - timedelta(weeks=NEW_COMMUNITY_WEEKS)

        def names(ids: list[int]) -> Mapping[int, tuple[str | None, str | None]]:
            return queries.author_names(conn, dialect, ids)

        def active(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
            return queries.active_communities(conn, dialect, pairs, since, start)

        top_authors = _top_authors(figures, names, new_authors)
        communities = _communities(figures, active)
        this_coverage = coverage(conn, start, min(end, now), idle_after, intervals)
        previous_coverage = coverage(conn, previous_start, previous_end, idle_after, intervals)
        tracking_since = store.first_run_at()
        if previous_counts is None:
            previous = queries.week_counts(conn, dialect, previous_start, previous_end, scope)
        checks = link_value.latest_checks(conn, dialect, [str(url) for url in figures.pages.index])
        valuable = link_value.most_valuable(conn, dialect, scope, start, end)
        attention = link_value.needing_attention(conn, dialect, domains)
    if previous_counts is not None:
        previous = previous_counts()
    top_pages = link_value.with_checks(_top_pages(figures, first, start), checks)
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
        daily=_daily(figures, week),
        top_pages=top_pages,
        top_posts=top_posts,
        top_authors=top_authors,
        communities=communities,
        anchors=_anchors(figures),
        domains=domains,
        sections=_sections(domains, figures, top_pages),
        coverage=this_coverage,
        previous_coverage=previous_coverage,
        tracking_since=tracking_since,
        platforms=platforms,
        partial=dict(partial_coverage or {}),
        valuable=valuable,
        attention=attention,
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
