"""`tracker export`: mentions in a time range as CSV, JSON lines or Parquet (the CSV conventions are
:mod:`tracker.csv_format`'s)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlsplit

from tracker.csv_format import EXPORT_EXTRA_COLUMNS, MENTION_COLUMNS, write_csv
from tracker.record import Link, Mention, format_utc


def mention_row(mention: Mention, *, extra: bool = False, domains: DomainFilter | None = None) -> list[Any]:
    """A mention as the columns of ``mentions.csv``: its first link (to one of ``domains``, when given)
    stands for the post."""
    links = [link for link in mention.links if domains is None or domains.matches(link)]
    first = links[0] if links else None
    metrics = mention.metrics
    row: list[Any] = [
        mention.platform,
        mention.platform_id,
        mention.kind,
        mention.permalink,
        format_utc(mention.created_at),
        mention.author_handle,
        mention.author_name,
        mention.author_followers,
        mention.community,
        mention.title,
        mention.text,
        first.canonical_url if first else None,
        first.domain if first else None,
        first.anchor_text if first else None,
        len(links),
        metrics.likes,
        metrics.reposts,
        metrics.replies,
        metrics.quotes,
        metrics.score,
        mention.engagement,
        metrics.views,
        mention.reach,
        mention.value,
        first.url if first else None,
    ]
    if extra:
        row += [
            mention.lang,
            mention.author_id,
            mention.community_size,
            mention.thread_id,
            mention.parent_id,
            format_utc(mention.first_seen_at),
            format_utc(mention.last_seen_at),
            " ".join(link.canonical_url or link.url for link in mention.links),
        ]
    return row


class DomainFilter:
    """``--domain D`` (repeatable): a link counts when it matched D, or its page is on D or a subdomain."""

    def __init__(self, domains: Iterable[str]) -> None:
        self.names = frozenset(domains)

    def matches(self, link: Link) -> bool:
        if link.domain in self.names:
            return True
        try:
            host = (urlsplit(link.canonical_url or link.url).hostname or "").lower()
        except ValueError:
            return False
        return any(host == name or host.endswith("." + name) for name in self.names)

    def select(self, items: Iterable[Mention]) -> Iterator[Mention]:
        """The mentions with a link to one of the domains."""
        return (mention for mention in items if any(self.matches(link) for link in mention.links))


def jsonl_lines(items: Iterable[Mention]) -> Iterator[str]:
    """One JSON object per mention (CONTRACT §1); ``raw`` is embedded as parsed JSON when it is JSON."""
    for mention in items:
        record = mention.to_dict()
        if record["raw"]:
            try:
                record["raw"] = json.loads(record["raw"])
            except ValueError:
                pass
        yield json.dumps(record, ensure_ascii=False) + "\n"


def write_parquet(path_or_stream: Any, items: Iterable[Mention], domains: DomainFilter | None = None) -> int:
    """Write mentions to Parquet (needs pyarrow); returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = (*MENTION_COLUMNS, *EXPORT_EXTRA_COLUMNS)
    rows = [mention_row(mention, extra=True, domains=domains) for mention in items]
    data = {name: [row[index] for row in rows] for index, name in enumerate(columns)}
    pq.write_table(pa.table(data), path_or_stream)
    return len(rows)


def export_csv(stream: IO[str], items: Iterable[Mention], domains: DomainFilter | None = None) -> int:
    rows = (mention_row(m, extra=True, domains=domains) for m in items)
    return write_csv(stream, (*MENTION_COLUMNS, *EXPORT_EXTRA_COLUMNS), rows)


def parse_range_bound(value: str, timezone: str, *, end: bool) -> datetime:
    """``YYYY-MM-DD`` (a whole day in ``timezone``; as an end bound, that day is included) or an ISO time."""
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo

    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
    try:
        if end:
            day += timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))
    except OverflowError:
        raise ValueError(f"{value} is past the last day this calendar can count") from None
