"""mentions.csv and links.csv rows from the (mention, link) rows of :func:`reports.queries.mention_link_select`:
a mention's row carries its first link in scope and how many links it has there; a link's row its mention's
platform and id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Connection

from reports import queries
from reports.queries import (
    LINK_ANCHOR,
    LINK_CANONICAL,
    LINK_DOMAIN,
    LINK_URL,
    MENTION_HEAD,
    RAW_ANCHOR,
    RAW_CANONICAL,
    RAW_DOMAIN,
    RAW_LINK_URL,
    RAW_TAIL,
    TAIL,
    THREAD,
    Scope,
)
from tracker.csv_format import MENTION_COLUMNS, csv_lines

LINK_COLUMNS = ("platform", "platform_id", "url", "canonical_url", "domain", "anchor_text", "source")


def start_file(out: IO[str], columns: Sequence[str]) -> None:
    """The BOM and the header line of a CSV file."""
    out.write("\ufeff")
    out.write(csv_lines([columns], len(columns)))


@dataclass
class Group:
    """Complete mentions' rows: their mentions.csv and links.csv rows, each mention's first (mention, link)
    row and all of them."""

    mentions: list[tuple[str, ...]]
    links: list[tuple[str, ...]]
    firsts: list[Sequence[Any]]
    rows: Sequence[Sequence[Any]]


def grouped(chunks: Iterable[Sequence[Sequence[Any]]]) -> Iterator[Group]:
    """(mention, link) rows in the layout of :func:`reports.queries.mention_link_select`, chunk by chunk, as
    groups of whole mentions (a mention whose links run into the next chunk waits for it)."""
    carry: list[Sequence[Any]] = []
    for chunk in chunks:
        rows = [*carry, *chunk] if carry else chunk
        if not rows:
            continue
        cut = len(rows) - 1
        while cut > 0 and rows[cut - 1][0] == rows[-1][0]:
            cut -= 1
        carry = list(rows[cut:])
        if cut:
            yield _group(rows[:cut])
    if carry:
        yield _group(carry)


def _group(rows: Sequence[Sequence[Any]]) -> Group:
    mentions: list[tuple[str, ...]] = []
    links: list[tuple[str, ...]] = []
    firsts = []
    first: Sequence[Any] | None = None
    count = 0
    for row in rows:
        if first is None or row[0] != first[0]:
            if first is not None:
                mentions.append(_mention_row(first, str(count)))
            first, count = row, 0
            firsts.append(row)
        count += 1
        links.append(
            (row[1], row[2], row[13], row[14], row[15], row[16], row[17])
        )  # LINK_URL ... LINK_SOURCE
    if first is not None:
        mentions.append(_mention_row(first, str(count)))
    return Group(mentions, links, firsts, rows)


MENTION_CELLS = 17  # a mentions.csv row as cells: its nine numbers are one (see reports.queries.TAIL)
JOINED = 15  # the cell holding them


def _mention_row(first: Sequence[Any], link_count: str) -> tuple[Any, ...]:
    return (
        *first[MENTION_HEAD], first[LINK_CANONICAL], first[LINK_DOMAIN], first[LINK_ANCHOR], link_count,
        first[TAIL], first[LINK_URL],
    )  # fmt: skip


def _raw_mention_row(first: Sequence[Any], link_count: int) -> tuple[Any, ...]:
    return (
        *first[MENTION_HEAD], first[RAW_CANONICAL], first[RAW_DOMAIN], first[RAW_ANCHOR], link_count,
        *first[RAW_TAIL], first[RAW_LINK_URL], first[THREAD],
    )  # fmt: skip


def mention_lines(rows: Sequence[Sequence[str]]) -> str:
    """mentions.csv rows (as :func:`grouped` makes them) as CSV lines."""
    return csv_lines(rows, len(MENTION_COLUMNS), joined=JOINED)


def top_post_rows(
    conn: Connection, ids: Sequence[int], scope: Scope, *, for_csv: bool
) -> list[tuple[Any, ...]]:
    """mentions.csv rows of these mentions, in this order, as CSV cells (write them with :func:`mention_lines`)
    or raw values (then with the thread id after them)."""
    firsts: dict[Any, Sequence[Any]] = {}
    counts: dict[Any, int] = {}
    for row in queries.mention_link_rows_by_id(conn, conn.dialect.name, ids, scope, for_csv=for_csv):
        firsts.setdefault(row[0], row)
        counts[row[0]] = counts.get(row[0], 0) + 1
    if for_csv:
        return [_mention_row(firsts[i], str(counts[i])) for i in ids if i in firsts]
    return [_raw_mention_row(firsts[i], counts[i]) for i in ids if i in firsts]
