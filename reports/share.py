"""Share of voice (CONTRACT §5): the own domains beside the competitor domains of the config.

Three roll-ups, read straight from the store:

- shares: mentions, engagement and value per domain and platform (and ``all``), this week and the week before,
  with each domain's share of the mentions among the listed domains;
- community gaps: the communities that linked a competitor in the last 12 weeks and never an own domain,
  ranked by the competitor's value there, then mentions, then engagement;
- competitor pages: the competitor pages whose links gained the most value this week.

A mention counts once for each domain it links to (two links to one domain are one mention of it), as in the
rest of the report; deleted mentions are left out; a value not rated yet (NULL) counts as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from reports.queries import chunks, marks, utc_series
from tracker.csv_format import write_csv
from tracker.periods import IsoWeek
from tracker.record import format_utc
from tracker.settings import Config
from tracker.sql import Driver
from tracker.store import Store

GAP_WEEKS = 12
SITE_COMMUNITIES = {"hackernews": "Hacker News", "lobsters": "Lobsters"}
"""Platforms that are one community as a whole (their posts' ``community`` field, if any, is ignored)."""
COMMUNITY_PLATFORMS = ("reddit", "lemmy", "stackexchange", "github", "wikipedia")
"""Platforms whose ``community`` is a place people post in: a subreddit, a Lemmy community, a Stack Exchange
site, a GitHub repository, a wiki. (A Mastodon post's community is its author's instance, not a place.)"""
SHARE_COLUMNS = (
    "domain", "role", "platform", "mentions", "engagement", "value", "share",
    "previous_mentions", "previous_engagement", "previous_value", "previous_share",
)  # fmt: skip
GAP_COLUMNS = (
    "platform", "community", "domain", "mentions", "engagement", "value", "last_linked", "top_post",
)  # fmt: skip
PAGE_COLUMNS = ("canonical_url", "domain", "mentions", "engagement", "value", "top_post", "top_platform")
SHARE_FILE = "share_of_voice.csv"
GAPS_FILE = "community_gaps.csv"
_LIVE = "m.deleted_at IS NULL AND m.created_at >= ? AND m.created_at < ?"
_COMPETITOR_LINKS = (
    "FROM pages p CROSS JOIN links l{indexed} CROSS JOIN mentions m WHERE l.canonical_url = p.canonical_url "
    "AND m.id = l.mention_id AND p.domain IN ({domains}) AND " + _LIVE
)
"""The links to competitor pages (the ``pages`` table knows each page's domain), so the cost follows the
competitors' links, not every mention of the weeks read. On SQLite, CROSS JOIN keeps this order and INDEXED BY
the canonical URL index (else it may build a temporary index of every link); PostgreSQL plans it itself. The
links' own domain is checked in Python."""


def _competitor_links(driver: Driver, columns: str, count: int) -> str:
    indexed = "" if driver.postgres else " INDEXED BY ix_links_canonical_url"
    return f"SELECT DISTINCT {columns} " + _COMPETITOR_LINKS.format(indexed=indexed, domains=marks(count))


@dataclass(frozen=True)
class ShareOfVoice:
    """A week's share of voice. ``shares`` holds SHARE_COLUMNS (``share`` a fraction of 1, NaN when no listed
    domain had a mention on that platform), ``gaps`` GAP_COLUMNS and ``pages`` PAGE_COLUMNS, best first."""

    own: tuple[str, ...]
    competitors: tuple[str, ...]
    shares: pd.DataFrame
    gaps: pd.DataFrame
    pages: pd.DataFrame


def competitor_domains(config: Config) -> tuple[str, ...]:
    """The domains configured with ``role = "competitor"``."""
    return tuple(d.name for d in config.domains if d.role == "competitor")


def build(
    store: Store, week: IsoWeek, *, timezone: str, own: Sequence[str], competitors: Sequence[str]
) -> ShareOfVoice | None:
    """The week's share of voice; None without competitor domains."""
    if not competitors:
        return None
    start, end = week.bounds(timezone)
    previous_start, previous_end = week.previous().bounds(timezone)
    since = start - timedelta(weeks=GAP_WEEKS - 1)  # the gaps' 12 weeks hold the week before too
    with store.read() as conn:
        driver = Driver(conn, store.dialect)
        try:
            this = _counts(driver, start, end, own)
            before = _counts(driver, previous_start, previous_end, own)
            links = _competitor_rows(driver, since, end, competitors)  # read once for the three roll-ups
            mentions = links.drop_duplicates(["id", "domain"])
            this.update(_frame_counts(mentions, start, end))
            before.update(_frame_counts(mentions, previous_start, previous_end))
            gaps = _gaps(driver, mentions, end, own)
        finally:
            driver.cursor.close()
    pages = _pages(links[links["created_at"] >= pd.Timestamp(start)])
    return ShareOfVoice(tuple(own), tuple(competitors), _shares(this, before, own, competitors), gaps, pages)


Counts = dict[tuple[str, str], tuple[int, int, int]]  # (domain, platform) -> mentions, engagement, value


def _counts(driver: Driver, start: datetime, end: datetime, domains: Sequence[str]) -> Counts:
    """Mentions, engagement and value per (domain, platform) of the mentions created in ``[start, end)``."""
    found: Counts = {}
    if len(domains) == 1:  # the common case: no DISTINCT over the week's rows, one test per mention
        sql = (
            "SELECT m.platform, COUNT(*), COALESCE(SUM(m.engagement), 0), COALESCE(SUM(m.value), 0) FROM mentions m "
            f"WHERE {_LIVE} AND EXISTS (SELECT 1 FROM links x WHERE x.mention_id = m.id AND x.domain = ?) "
            "GROUP BY m.platform"
        )
        rows = driver.rows(sql, (driver.when(start), driver.when(end), domains[0]))
        return {(domains[0], str(p)): (int(n), int(e), int(v)) for p, n, e, v in rows}
    for chunk in chunks(domains):
        sql = (
            "SELECT domain, platform, COUNT(*), COALESCE(SUM(engagement), 0), COALESCE(SUM(value), 0) FROM ("
            "SELECT DISTINCT l.mention_id, l.domain, m.platform, m.engagement, m.value "
            f"FROM mentions m JOIN links l ON l.mention_id = m.id WHERE {_LIVE} "
            f"AND l.domain IN ({marks(len(chunk))})) linked GROUP BY domain, platform"
        )
        for domain, platform, mentions, engagement, value in driver.rows(
            sql, (driver.when(start), driver.when(end), *chunk)
        ):
            found[(str(domain), str(platform))] = (int(mentions), int(engagement), int(value))
    return found


def _share(part: int, total: int) -> float:
    return round(part / total, 4) if total else float("nan")


def _shares(this: Counts, before: Counts, own: Sequence[str], competitors: Sequence[str]) -> pd.DataFrame:
    """One row per domain for ``all`` and per platform either week saw (own domains first, in config
    order); each share is of the platform's mentions among the listed domains."""
    domains = [*own, *competitors]
    owned = set(own)
    platforms = sorted({platform for (_, platform) in (*this, *before)})
    this, before = _with_all(this), _with_all(before)
    none = (0, 0, 0)
    rows = []
    for platform in ("all", *platforms):
        all_now = sum(this.get((domain, platform), none)[0] for domain in domains)
        all_then = sum(before.get((domain, platform), none)[0] for domain in domains)
        for domain in domains:
            now, then = this.get((domain, platform), none), before.get((domain, platform), none)
            rows.append(
                (domain, "own" if domain in owned else "competitor", platform,
                 *now, _share(now[0], all_now), *then, _share(then[0], all_then))
            )  # fmt: skip
    return pd.DataFrame(rows, columns=list(SHARE_COLUMNS))


def _with_all(counts: Counts) -> Counts:
    """``counts`` and each domain's sum over its platforms, as platform ``all``."""
    summed = dict(counts)
    for (domain, _platform), (mentions, engagement, value) in counts.items():
        known = summed.get((domain, "all"), (0, 0, 0))
        summed[(domain, "all")] = (known[0] + mentions, known[1] + engagement, known[2] + value)
    return summed


def _community_of(platform: str, community: str) -> str | None:
    """The community a post was made in, in the sense of the gaps (None: the platform has none)."""
    if platform in SITE_COMMUNITIES:
        return SITE_COMMUNITIES[platform]
    if platform not in COMMUNITY_PLATFORMS or not community:
        return None
    if platform == "reddit" and not community.lower().startswith("r/"):
        return None  # a post on a user's profile (u/...) was made in no community
    return community


def _best_first(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each group's most valuable mention first: value, then engagement, then the newest."""
    return frame.sort_values(
        [*keys, "value", "engagement", "created_at"], ascending=[True] * len(keys) + [False, False, False]
    )


def _competitor_rows(
    driver: Driver, since: datetime, end: datetime, competitors: Sequence[str]
) -> pd.DataFrame:
    """One row per (mention, competitor page) of the live mentions created in ``[since, end)``: its id, the
    page and its domain, the platform and community as posted ('' for none), engagement and value (0 for
    unknown), when (UTC) and the permalink."""
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks(competitors):
        sql = _competitor_links(
            driver, "l.mention_id, l.canonical_url, l.domain, m.platform, m.community, COALESCE(m.engagement, 0), "
            "COALESCE(m.value, 0), m.created_at, m.permalink", len(chunk),
        )  # fmt: skip
        rows += driver.rows(sql, (*chunk, driver.when(since), driver.when(end)))
    columns = [
        "id", "canonical_url", "domain", "platform", "community", "engagement", "value", "created_at", "permalink",
    ]  # fmt: skip
    found = pd.DataFrame(rows, columns=columns)
    found = found[found["domain"].isin(competitors)]
    return found.assign(
        community=found["community"].fillna("").astype(str),
        created_at=utc_series(found["created_at"]),
        engagement=found["engagement"].astype("int64"),
        value=found["value"].astype("int64"),
    )


def _frame_counts(mentions: pd.DataFrame, start: datetime, end: datetime) -> Counts:
    """:func:`_counts` of competitor ``mentions`` (one row per mention and domain)."""
    week = mentions[
        (mentions["created_at"] >= pd.Timestamp(start)) & (mentions["created_at"] < pd.Timestamp(end))
    ]
    grouped = week.groupby(["domain", "platform"]).agg(
        mentions=("id", "size"), engagement=("engagement", "sum"), value=("value", "sum")
    )
    return {
        (str(domain), str(platform)): (int(row.mentions), int(row.engagement), int(row.value))
        for (domain, platform), row in zip(grouped.index, grouped.itertuples(index=False), strict=True)
    }


def _gaps(driver: Driver, mentions: pd.DataFrame, end: datetime, own: Sequence[str]) -> pd.DataFrame:
    """The (community, competitor) pairs of competitor ``mentions`` (one row per mention and domain) in
    communities with no own-domain mention ever (before ``end``)."""
    found = mentions
    if not len(found):
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    places = found[["platform", "community"]].drop_duplicates()  # as posted -> as a gap names it
    places["place"] = [
        _community_of(p, c) for p, c in zip(places["platform"], places["community"], strict=True)
    ]
    places = places[places["place"].notna()]
    linked_own = _linked_own(
        driver, sorted(set(zip(places["platform"], places["place"], strict=True))), end, own
    )
    places = places[
        [pair not in linked_own for pair in zip(places["platform"], places["place"], strict=True)]
    ]
    found = found.merge(places, on=["platform", "community"]).drop(columns="community")
    found = found.rename(columns={"place": "community"})
    if not len(found):
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    keys = ["platform", "community", "domain"]
    grouped = found.groupby(keys).agg(
        mentions=("id", "size"), engagement=("engagement", "sum"), value=("value", "sum"),
        last_linked=("created_at", "max"),
    )  # fmt: skip
    grouped["top_post"] = _best_first(found, keys).groupby(keys)["permalink"].first()
    grouped = grouped.reset_index().sort_values(
        ["value", "mentions", "engagement", "platform", "community", "domain"],
        ascending=[False, False, False, True, True, True],
    )
    return grouped[list(GAP_COLUMNS)].reset_index(drop=True)


def _linked_own(
    driver: Driver, pairs: Sequence[tuple[str, str]], end: datetime, own: Sequence[str]
) -> set[tuple[str, str]]:
    """Those of (platform, community) ``pairs`` where a live mention made before ``end`` links an own
    domain: one seek each (the platform, community, created_at index)."""
    if not own:
        return set()
    linking = f"EXISTS (SELECT 1 FROM links x WHERE x.mention_id = m.id AND x.domain IN ({marks(len(own))}))"
    linked = set()
    for platform, community in pairs:
        if platform in SITE_COMMUNITIES:
            where, params = "m.platform = ?", [platform]
        else:
            where, params = "m.platform = ? AND m.community = ?", [platform, community]
        sql = (
            f"SELECT 1 FROM mentions m WHERE {where} AND m.created_at < ? AND m.deleted_at IS NULL AND {linking} "
            "LIMIT 1"
        )
        if driver.rows(sql, (*params, driver.when(end), *own)):
            linked.add((platform, community))
    return linked


def _pages(found: pd.DataFrame) -> pd.DataFrame:
    """The competitor pages of these (mention, page) rows, the most value gained first."""
    if not len(found):
        return pd.DataFrame(columns=list(PAGE_COLUMNS))
    keys = ["canonical_url", "domain"]
    grouped = found.groupby(keys).agg(
        mentions=("id", "size"), engagement=("engagement", "sum"), value=("value", "sum")
    )
    best = _best_first(found, keys).groupby(keys)[["permalink", "platform"]].first()
    grouped["top_post"], grouped["top_platform"] = best["permalink"], best["platform"]
    grouped = grouped.reset_index().sort_values(
        ["value", "mentions", "engagement", "canonical_url"], ascending=[False, False, False, True]
    )
    return grouped[list(PAGE_COLUMNS)].reset_index(drop=True)


def _cell(value: Any) -> Any:
    """A roll-up value as a CSV cell: '' for unknown, whole numbers as digits, times ISO 8601 UTC with a Z."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return format_utc(value.to_pydatetime())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def _write(path: Path, columns: Sequence[str], frame: pd.DataFrame) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv(
            out, columns, ([_cell(v) for v in row] for row in frame[list(columns)].itertuples(index=False))
        )


def write_files(share: ShareOfVoice, folder: Path) -> None:
    """share_of_voice.csv and community_gaps.csv (through the guarded CSV writer)."""
    _write(folder / SHARE_FILE, SHARE_COLUMNS, share.shares)
    _write(folder / GAPS_FILE, GAP_COLUMNS, share.gaps)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with None for missing values (for the page)."""
    return [
        {key: _cell(value) if not isinstance(value, pd.Timestamp) else value for key, value in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]


def _percent(share: Any) -> str:
    return "" if share is None else f"{100 * share:.1f}%".replace(".0%", "%")


def _points(now: Any, before: Any) -> str:
    """The change of a share in percentage points ("+12.5 pts"); empty when either week had no mentions."""
    if now is None or before is None:
        return ""
    change = round(100 * (now - before), 1)
    if change == 0:
        return "±0 pts"
    return f"{change:+.1f} pts".replace(".0 pts", " pts")


def page(
    share: ShareOfVoice | None, *, gaps: int = 25, pages: int = 10, domains: int = 50, platforms: int = 150
) -> dict[str, Any] | None:
    """What the page shows (None without competitor domains): each domain overall; on each platform, the own
    domains and the competitors with a mention in either week (in config order, or, beyond ``domains`` and
    ``platforms`` rows, the most mentioned); the first ``gaps`` community gaps and ``pages`` competitor
    pages."""
    if share is None:
        return None
    rows = []
    for row in records(share.shares):
        rows.append({**row, "share_text": _percent(row["share"]),
                     "previous_share_text": _percent(row["previous_share"]),
                     "share_change": _points(row["share"], row["previous_share"]),
                     "change": row["mentions"] - row["previous_mentions"]})  # fmt: skip
    overall = [row for row in rows if row["platform"] == "all"]
    per_platform = [
        row
        for row in rows
        if row["platform"] != "all" and (row["role"] == "own" or row["mentions"] or row["previous_mentions"])
    ]
    return {
        "overall": _most_mentioned(overall, domains),
        "platforms": _most_mentioned(per_platform, platforms),
        "rows_left_out": len(overall) > domains or len(per_platform) > platforms,
        "gaps": records(share.gaps.head(gaps)),
        "gap_count": len(share.gaps),
        "pages": records(share.pages.head(pages)),
        "competitors": share.competitors,
    }


def _most_mentioned(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """``rows`` as they are when they fit in ``limit``, else the ``limit`` with the most mentions this week,
    then the week before (in their order)."""
    if len(rows) <= limit:
        return rows
    kept = sorted(range(len(rows)), key=lambda i: (-rows[i]["mentions"], -rows[i]["previous_mentions"], i))
    return [rows[i] for i in sorted(kept[:limit])]
