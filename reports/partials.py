"""The week's figures, gathered slice by slice from the same rows that mentions.csv and links.csv are written
from (one read of the week), then merged: every figure of the report is a sum, a minimum, a maximum or a
union of its slices' (a mention falls in one slice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reports.queries import (
    AUTHOR_KEY,
    COMMUNITY,
    CREATED,
    ENGAGEMENT_VALUE,
    FOLLOWERS_VALUE,
    LINK_ANCHOR,
    LINK_CANONICAL,
    LINK_DOMAIN,
    PLATFORM,
    REACH_VALUE,
    VALUE_VALUE,
)
from reports.rows import MentionRows
from tracker.csv_format import needs_guard

TOP_POSTS = 50


@dataclass
class Partials:
    """A slice's (or the week's, merged) figures."""

    daily: pd.Series  # (date, platform) -> mentions
    platforms: pd.DataFrame  # platform -> mentions, engagement, reach
    domains: pd.DataFrame  # domain -> mentions, engagement, reach
    authors: pd.DataFrame  # (platform, author_key) -> mentions, engagement, followers, latest_at, latest_id
    communities: pd.DataFrame  # (platform, community) -> mentions, engagement
    pages: pd.DataFrame  # canonical_url -> domain, mentions, engagement, value (summed), first_at
    page_platforms: pd.DataFrame  # (canonical_url, platform), once each
    anchors: pd.Series  # anchor text -> links
    top: pd.DataFrame  # the highest by engagement: id, rank (engagement, unknown as -1), created_at

    @property
    def mentions(self) -> int:
        return int(self.platforms["mentions"].sum())


def _numbers(values: pa.Array) -> np.ndarray[Any, Any]:
    """Numbers (null for unknown) as float64 with NaN for unknown (exact up to 2**53, the nearest above)."""
    exact = values.cast(pa.float64(), safe=False)  # above 2**53: the nearest float, as before
    return np.asarray(exact.to_numpy(zero_copy_only=False), dtype=np.float64)


def _utc_seconds(cells: pa.Array) -> np.ndarray[Any, Any]:
    """ISO 8601 UTC cells ("2026-11-16T08:00:00Z") as datetime64 seconds."""
    return np.asarray(
        pc.strptime(cells, format="%Y-%m-%dT%H:%M:%SZ", unit="s").to_numpy(zero_copy_only=False)
    )


def _integers(values: np.ndarray[Any, Any]) -> pd.Series:
    return pd.Series(pd.array(values, dtype="Float64")).astype("Int64")


def _unguarded(cell: str) -> str:
    """The text of a CSV cell the formula guard prefixed with ' (any other cell is its text)."""
    return cell[1:] if cell.startswith("'") and needs_guard(cell[1:]) else cell


class _Strings:
    """A column of strings, kept as Arrow arrays until the figures are made."""

    def __init__(self, *, cells: bool = False) -> None:
        self.cells = cells  # CSV cells: the formula guard is taken off
        self.chunks: list[pa.Array] = []

    def add(self, values: pa.Array) -> None:
        self.chunks.append(values)

    def categorical(self) -> pd.Categorical:
        encoded = pc.dictionary_encode(pa.chunked_array(self.chunks, type=pa.string()))
        dictionary = encoded.chunks[0].dictionary if encoded.num_chunks else pa.array([], pa.string())
        texts: list[str | None] = [
            (_unguarded(text) if self.cells else text) if text else None for text in dictionary.to_pylist()
        ]  # '' is unknown
        codes = (
            np.concatenate([chunk.indices.fill_null(-1).to_numpy() for chunk in encoded.chunks])
            if encoded.num_chunks
            else np.array([], dtype=np.int32)
        )
        remap, uniques = pd.factorize(np.array(texts, dtype=object))  # None: -1; two cells may read alike
        codes = np.append(remap, -1)[codes]  # -1 (null) stays -1
        return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


class Gatherer:
    """Collects the columns the figures need from a process's (mention, link) rows, slice by slice (as Arrow
    and NumPy arrays: the rows themselves are not kept), and turns them into figures once, at the end."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self.numbers: dict[str, list[np.ndarray[Any, Any]]] = {
            name: [] for name in ("id", "followers", "engagement", "reach", "value", "mention_id")
        }
        self.created: list[np.ndarray[Any, Any]] = []
        self.strings = {
            name: _Strings(cells=name in ("community", "anchor_text"))
            for name in ("platform", "author_key", "community", "canonical_url", "domain", "anchor_text")
        }

    def add(self, rows: MentionRows) -> None:
        """A slice's (mention, link) rows (the layout of :func:`reports.queries.mention_link_select` with the
        raw extras)."""
        if not rows.table.num_rows:
            return
        numbers, strings = self.numbers, self.strings
        numbers["id"].append(rows.mention(0).to_numpy())
        numbers["followers"].append(_numbers(rows.mention(FOLLOWERS_VALUE)))
        numbers["engagement"].append(_numbers(rows.mention(ENGAGEMENT_VALUE)))
        numbers["reach"].append(_numbers(rows.mention(REACH_VALUE)))
        numbers["value"].append(_numbers(rows.mention(VALUE_VALUE)))
        numbers["mention_id"].append(rows.link(0).to_numpy())
        self.created.append(_utc_seconds(rows.mention(CREATED)))
        strings["platform"].add(rows.mention(PLATFORM))
        strings["author_key"].add(rows.mention(AUTHOR_KEY))
        strings["community"].add(rows.mention(COMMUNITY))
        strings["canonical_url"].add(rows.link(LINK_CANONICAL))
        strings["domain"].add(rows.link(LINK_DOMAIN))
        strings["anchor_text"].add(rows.link(LINK_ANCHOR))

    def figures(self) -> Partials:
        def joined(name: str, dtype: Any) -> np.ndarray[Any, Any]:
            parts = self.numbers[name]
            return np.concatenate(parts) if parts else np.array([], dtype=dtype)

        created = np.concatenate(self.created) if self.created else np.array([], dtype="datetime64[s]")
        mentions = pd.DataFrame(
            {
                "id": joined("id", np.int64),
                "platform": self.strings["platform"].categorical(),
                "author_key": self.strings["author_key"].categorical(),
                "created_at": pd.to_datetime(created, utc=True),
                "followers": _integers(joined("followers", np.float64)),
                "community": self.strings["community"].categorical(),
                "engagement": _integers(joined("engagement", np.float64)),
                "reach": _integers(joined("reach", np.float64)),
                "value": _integers(joined("value", np.float64)),
            }
        )
        linked = pd.DataFrame(
            {
                "mention_id": joined("mention_id", np.int64),
                "canonical_url": self.strings["canonical_url"].categorical(),
                "domain": self.strings["domain"].categorical(),
                "anchor_text": self.strings["anchor_text"].categorical(),
            }
        )
        return _figures(mentions, linked, self.timezone)


def _figures(mentions: pd.DataFrame, linked: pd.DataFrame, timezone: str) -> Partials:
    known = mentions.assign(
        engagement=mentions["engagement"].fillna(0), reach=mentions["reach"].fillna(0),
        value=mentions["value"].fillna(0),
    )  # fmt: skip
    local_day = mentions["created_at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    daily = mentions.assign(date=local_day).groupby(["date", "platform"], observed=True).size()
    daily.index = daily.index.set_levels(
        daily.index.levels[0].strftime("%Y-%m-%d"), level=0
    )  # text once a day
    platforms = known.groupby("platform", observed=True).agg(
        mentions=("id", "size"), engagement=("engagement", "sum"), reach=("reach", "sum")
    )
    latest = mentions.sort_values(["created_at", "id"]).dropna(subset=["author_key"])
    authors = latest.assign(engagement=latest["engagement"].fillna(0)).groupby(
        ["platform", "author_key"], observed=True
    ).agg(
        mentions=("id", "size"), engagement=("engagement", "sum"), followers=("followers", "max"),
        latest_at=("created_at", "last"), latest_id=("id", "last"),
    )  # fmt: skip
    communities = (
        known.dropna(subset=["community"])
        .groupby(["platform", "community"], observed=True)
        .agg(mentions=("id", "size"), engagement=("engagement", "sum"))
    )
    per_mention = linked.drop_duplicates(["mention_id", "canonical_url"]).merge(
        known[["id", "platform", "engagement", "reach", "value", "created_at"]],
        left_on="mention_id",
        right_on="id",
    )
    pages = per_mention.groupby("canonical_url", observed=True).agg(
        domain=("domain", "first"), mentions=("id", "size"), engagement=("engagement", "sum"),
        value=("value", "sum"), first_at=("created_at", "min"),
    )  # fmt: skip
    page_platforms = per_mention[["canonical_url", "platform"]].drop_duplicates()
    by_domain = (
        per_mention.drop_duplicates(["id", "domain"])
        .groupby("domain", observed=True)
        .agg(mentions=("id", "size"), engagement=("engagement", "sum"), reach=("reach", "sum"))
    )
    anchors = linked["anchor_text"].dropna().astype(str)
    anchors = anchors[anchors.str.strip() != ""].value_counts()
    rank = mentions["engagement"].fillna(-1).astype("int64")
    top = pd.DataFrame({"id": mentions["id"], "rank": rank, "created_at": mentions["created_at"]})
    return Partials(
        daily=daily, platforms=platforms, domains=by_domain, authors=authors, communities=communities,
        pages=pages, page_platforms=page_platforms, anchors=anchors, top=_highest(top),
    )  # fmt: skip


def _highest(top: pd.DataFrame) -> pd.DataFrame:
    """The TOP_POSTS highest by engagement (unknown last), newest first among equals."""
    ranked = top.sort_values(["rank", "created_at", "id"], ascending=[False, False, False])
    return ranked.head(TOP_POSTS).reset_index(drop=True)


def _as_strings(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Categorical keys as plain strings, so slices with different categories concatenate."""
    for column in columns:
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    return frame


def merge(parts: Sequence[Partials]) -> Partials:
    """The week's figures from its slices'."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return empty()

    def stacked(name: str, *keys: str) -> pd.DataFrame:
        frames = [_as_strings(getattr(part, name).reset_index(), *keys) for part in parts]
        return pd.concat([frame for frame in frames if len(frame)] or frames[:1], ignore_index=True)

    daily = stacked("daily", "date", "platform").groupby(["date", "platform"])[0].sum()
    platforms = (
        stacked("platforms", "platform").groupby("platform")[["mentions", "engagement", "reach"]].sum()
    )
    domains = stacked("domains", "domain").groupby("domain")[["mentions", "engagement", "reach"]].sum()
    authors = (
        stacked("authors", "platform", "author_key")
        .sort_values(["latest_at", "latest_id"])
        .groupby(["platform", "author_key"])
        .agg(
            mentions=("mentions", "sum"), engagement=("engagement", "sum"), followers=("followers", "max"),
            latest_at=("latest_at", "last"), latest_id=("latest_id", "last"),
        )
    )  # fmt: skip
    communities = (
        stacked("communities", "platform", "community")
        .groupby(["platform", "community"])[["mentions", "engagement"]]
        .sum()
    )
    pages = (
        stacked("pages", "canonical_url", "domain")
        .groupby("canonical_url")
        .agg(domain=("domain", "first"), mentions=("mentions", "sum"), engagement=("engagement", "sum"),
             value=("value", "sum"), first_at=("first_at", "min"))
    )  # fmt: skip
    page_platforms = pd.concat(
        [_as_strings(part.page_platforms.copy(), "canonical_url", "platform") for part in parts],
        ignore_index=True,
    ).drop_duplicates()
    anchors = pd.concat([part.anchors.rename_axis("anchor_text") for part in parts]).groupby(level=0).sum()
    top = _highest(pd.concat([part.top for part in parts], ignore_index=True))
    return Partials(
        daily=daily, platforms=platforms, domains=domains, authors=authors, communities=communities, pages=pages,
        page_platforms=page_platforms, anchors=anchors, top=top,
    )  # fmt: skip


def empty() -> Partials:
    """The figures of a week without mentions."""
    return Gatherer("UTC").figures()
