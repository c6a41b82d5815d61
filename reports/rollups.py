"""The week's figures, computed with pandas from the store (figures as known at report time).

Only the columns a roll-up needs are read; the per-mention files (mentions.csv, links.csv) are streamed
straight from SQL by :mod:`reports.csv_files`, so a week of a million mentions fits in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, select

from reports import queries
from reports.coverage import CoverageItem, coverage
from tracker.periods import IsoWeek
from tracker.schema import mentions
from tracker.store import Store

NEW_COMMUNITY_WEEKS = 12
TOP_POSTS = 50
HEADLINE_METRICS = ("mentions", "pages_linked", "authors", "communities", "engagement")


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
    coverage: list[CoverageItem] = field(default_factory=list)
    previous_coverage: list[CoverageItem] = field(default_factory=list)
    partial: Mapping[str, str] = field(default_factory=dict)  # connector -> why it sees only part

    @property
    def total(self) -> int:
        return self.summary[0].this_week

    @property
    def comparison_unreliable(self) -> bool:
        return bool(self.coverage or self.previous_coverage)


def _with_author_key(frame: pd.DataFrame) -> pd.DataFrame:
    frame["author_key"] = frame["author_id"].fillna(frame["author_handle"])
    return frame


def _known_communities(conn: Connection, start: datetime) -> set[tuple[str, str]]:
    since = start - timedelta(weeks=NEW_COMMUNITY_WEEKS)
    query = (
        select(mentions.c.platform, mentions.c.community)
        .where(
            and_(
                mentions.c.created_at >= since,
                mentions.c.created_at < start,
                mentions.c.community.is_not(None),
            )
        )
        .distinct()
    )
    return {(platform, community) for platform, community in conn.execute(query)}


def _daily(frame: pd.DataFrame, week: IsoWeek, timezone: str) -> pd.DataFrame:
    days = [day.isoformat() for day in week.days()]
    if not len(frame):
        return pd.DataFrame(columns=["date", "platform", "mentions"])
    local_midnight = frame["created_at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    counts = frame.assign(date=local_midnight).groupby(["date", "platform"]).size()
    counts.index = counts.index.set_levels(counts.index.levels[0].strftime("%Y-%m-%d"), level="date")
    platforms = sorted(frame["platform"].unique())
    grid = pd.MultiIndex.from_product([days, platforms], names=["date", "platform"])
    return counts.reindex(grid, fill_value=0).rename("mentions").reset_index()


def _top_pages(frame: pd.DataFrame, link_frame: pd.DataFrame, earlier: dict[str, Any]) -> pd.DataFrame:
    """Pages by mentions, with engagement, platforms and when each was first linked (``earlier`` holds the
    pages that were linked before the week)."""
    columns = ["canonical_url", "domain", "mentions", "engagement", "platforms", "first_seen"]
    if not len(link_frame):
        return pd.DataFrame(columns=columns)
    joined = link_frame.drop_duplicates(["mention_id", "canonical_url"]).merge(
        frame[["id", "platform", "engagement", "created_at"]], left_on="mention_id", right_on="id"
    )
    joined["engagement"] = joined["engagement"].fillna(0)
    grouped = joined.groupby("canonical_url").agg(
        domain=("domain", "first"),
        mentions=("mention_id", "nunique"),
        engagement=("engagement", "sum"),
        first_seen=("created_at", "min"),
    )
    platforms = joined.drop_duplicates(["canonical_url", "platform"]).sort_values("platform")
    grouped["platforms"] = platforms.groupby("canonical_url")["platform"].agg(", ".join)
    before = pd.Series(earlier, dtype="datetime64[ns, UTC]").reindex(grouped.index)
    grouped["first_seen"] = before.where(before.notna(), grouped["first_seen"])
    grouped["engagement"] = grouped["engagement"].astype(int)
    grouped = grouped.reset_index().sort_values(
        ["mentions", "engagement", "canonical_url"], ascending=[False, False, True]
    )
    return grouped[columns].reset_index(drop=True)


def _top_authors(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["platform", "author_handle", "author_name", "author_followers", "mentions", "engagement"]
    known = frame.dropna(subset=["author_key"])
    if not len(known):
        return pd.DataFrame(columns=columns)
    ordered = known.sort_values("created_at").assign(engagement=known["engagement"].fillna(0))
    grouped = ordered.groupby(
        ["platform", "author_key"]
    ).agg(  # the latest handle, name and follower count win
        author_handle=("author_handle", "last"),
        author_name=("author_name", "last"),
        author_followers=("author_followers", "max"),
        mentions=("id", "size"),
        engagement=("engagement", "sum"),
    )
    grouped["engagement"] = grouped["engagement"].astype(int)
    grouped = grouped.reset_index().sort_values(
        ["mentions", "engagement", "author_followers"], ascending=[False, False, False], na_position="last"
    )
    grouped["author_followers"] = grouped["author_followers"].astype("Int64")
    return grouped[columns].reset_index(drop=True)


def _communities(frame: pd.DataFrame, known: set[tuple[str, str]]) -> pd.DataFrame:
    columns = ["platform", "community", "mentions", "engagement", "new"]
    present = frame.dropna(subset=["community"])
    if not len(present):
        return pd.DataFrame(columns=columns)
    present = present.assign(engagement=present["engagement"].fillna(0))
    grouped = present.groupby(["platform", "community"]).agg(
        mentions=("id", "size"), engagement=("engagement", "sum")
    )
    grouped["engagement"] = grouped["engagement"].astype(int)
    grouped = grouped.reset_index()
    grouped["new"] = [
        (p, c) not in known for p, c in zip(grouped["platform"], grouped["community"], strict=True)
    ]
    grouped = grouped.sort_values(["mentions", "engagement", "community"], ascending=[False, False, True])
    return grouped[columns].reset_index(drop=True)


def _anchors(link_frame: pd.DataFrame) -> pd.DataFrame:
    texts = link_frame["anchor_text"].dropna() if len(link_frame) else pd.Series(dtype=object)
    texts = texts[texts.str.strip() != ""]
    if not len(texts):
        return pd.DataFrame(columns=["anchor_text", "links"])
    counts = texts.value_counts().head(30)
    return pd.DataFrame({"anchor_text": counts.index, "links": counts.to_numpy()})


def _top_post_ids(frame: pd.DataFrame) -> list[int]:
    if not len(frame):
        return []
    ranked = frame.assign(rank=frame["engagement"].fillna(-1)).sort_values(
        ["rank", "created_at"], ascending=[False, False]
    )
    return [int(i) for i in ranked["id"].head(TOP_POSTS)]


def build(store: Store, week: IsoWeek, *, timezone: str, domains: list[str], platforms: dict[str, str],
          now: datetime, idle_after: Mapping[str, timedelta] | None = None,
          partial: Mapping[str, str] | None = None) -> WeekReport:  # fmt: skip
    """Compute a week's report and the previous week's figures to compare with.

    ``platforms`` maps each configured connector to its platform (to tell which comparisons a connector's
    coverage gap makes unreliable); ``idle_after`` is passed to :func:`reports.coverage.coverage`;
    ``partial`` names the connectors whose platform shows only part of what is posted, and why.
    """
    start, end = week.bounds(timezone)
    previous_start, previous_end = week.previous().bounds(timezone)
    dialect = store.dialect
    with store.read() as conn:
        frame = _with_author_key(queries.week_mentions(conn, dialect, start, end))
        link_frame = queries.week_links(conn, dialect, start, end)
        this_counts = queries.week_counts(conn, dialect, start, end)
        previous_counts = queries.week_counts(conn, dialect, previous_start, previous_end)
        earlier = queries.linked_before(conn, dialect, start, end)
        known = _known_communities(conn, start)
        top_posts = queries.top_post_rows(conn, _top_post_ids(frame))
        this_coverage = coverage(conn, start, min(end, now), idle_after)
        previous_coverage = coverage(conn, previous_start, previous_end, idle_after)
    affected = {platforms.get(item.connector, "") for item in (*this_coverage, *previous_coverage)}
    unreliable_all = bool(this_coverage or previous_coverage)
    names = list(HEADLINE_METRICS)
    names += [f"mentions:{domain}" for domain in domains]
    platform_names = sorted({key.split(":", 1)[1] for key in (*this_counts, *previous_counts)
                             if key.startswith("mentions:") and key.split(":", 1)[1] not in domains})  # fmt: skip
    names += [f"mentions:{platform}" for platform in platform_names]
    summary = [
        Summary(
            name,
            this_counts.get(name, 0),
            previous_counts.get(name, 0),
            unreliable=unreliable_all if ":" not in name or name[len("mentions:") :] in domains
            else name[len("mentions:") :] in affected,
        )
        for name in names
    ]  # fmt: skip
    return WeekReport(
        week=week,
        timezone=timezone,
        start=start,
        end=end,
        generated_at=now,
        summary=summary,
        daily=_daily(frame, week, timezone),
        top_pages=_top_pages(frame, link_frame, earlier),
        top_posts=top_posts,
        top_authors=_top_authors(frame),
        communities=_communities(frame, known),
        anchors=_anchors(link_frame),
        domains=domains,
        coverage=this_coverage,
        previous_coverage=previous_coverage,
        partial=dict(partial or {}),
    )


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as plain dicts with None for missing values (for templates and CSV)."""
    cleaned = frame.astype(object).where(frame.notna(), None)
    return list(cleaned.to_dict("records"))
