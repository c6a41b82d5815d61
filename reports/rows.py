"""mentions.csv and links.csv rows from the (mention, link) rows of :func:`reports.queries.mention_link_select`:
a mention's row carries its first link in scope and how many links it has there; a link's row its mention's
platform and id. A week's slices come as Arrow columns (:class:`MentionRows`), the top posts as tuples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from reports import queries
from reports.columnar import quoted
from reports.queries import (
    LINK_ANCHOR,
    LINK_CANONICAL,
    LINK_DOMAIN,
    LINK_SOURCE,
    LINK_URL,
    MENTION_HEAD,
    PLATFORM,
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


class MentionRows:
    """A slice's (mention, link) rows (a table in the layout of :func:`reports.queries.mention_link_select`,
    as CSV cells): each mention's first row, where its mentions.csv row comes from, and its count of links."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        # Each column copied once into one array, which the files and the figures share. A copy: the figures
        # keep some columns to the end, and keeping the driver's own buffers instead took the 1M-mention
        # benchmark's peak from 951 MB to 1,335 MB.
        self._links: dict[int, pa.Array] = {}
        ids = self.link(0)
        first = pa.concat_arrays([pa.array([True]), pc.not_equal(ids[1:], ids[:-1])])
        self.starts = pc.indices_nonzero(first.slice(0, len(ids)))
        ends = pa.concat_arrays([self.starts.slice(1), pa.array([len(ids)], pa.uint64())])
        self.link_counts = pc.subtract(ends.slice(0, len(self.starts)), self.starts)
        self.firsts = table.take(self.starts).combine_chunks()  # one chunk per column, or none when empty

    def mention(self, index: int) -> pa.Array:
        """Column ``index`` of each mention's first row."""
        column = self.firsts.column(index)
        return column.chunk(0) if column.num_chunks else column.combine_chunks()

    def link(self, index: int) -> pa.Array:
        """Column ``index`` of every row."""
        if index not in self._links:
            self._links[index] = self.table.column(index).combine_chunks()
        return self._links[index]

    def mention_cells(self) -> list[pa.Array]:
        """mentions.csv's columns, quoted where needed (the nine numbers are one cell that needs none)."""
        head = [quoted(self.mention(index)) for index in range(MENTION_HEAD.start, MENTION_HEAD.stop)]
        return [
            *head, quoted(self.mention(LINK_CANONICAL)), quoted(self.mention(LINK_DOMAIN)),
            quoted(self.mention(LINK_ANCHOR)), self.link_counts.cast(pa.string()), self.mention(TAIL),
            quoted(self.mention(LINK_URL)),
        ]  # fmt: skip

    def link_cells(self) -> list[pa.Array]:
        """links.csv's columns, quoted where needed."""
        return [
            quoted(self.link(index)) for index in (PLATFORM, PLATFORM + 1, *range(LINK_URL, LINK_SOURCE + 1))
        ]


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
    """mentions.csv rows (as :func:`top_post_rows` makes them with ``for_csv``) as CSV lines."""
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
