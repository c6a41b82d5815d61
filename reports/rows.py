"""mentions.csv and links.csv rows from the (mention, link) rows of :func:`reports.queries.mention_link_select`:
a mention's row carries its first link in scope and how many it has; a link's row its mention's platform and
id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection

from reports import queries
from reports.queries import (
    LINK_ANCHOR,
    LINK_CANONICAL,
    LINK_DOMAIN,
    LINK_SOURCE,
    LINK_URL,
    MENTION_HEAD,
    MENTION_TAIL,
    THREAD,
    Scope,
)


def mention_and_link_rows(
    chunks: Iterable[Sequence[Sequence[str]]],
) -> Iterator[tuple[list[tuple[str, ...]], list[tuple[str, ...]]]]:
    """mentions.csv and links.csv rows from (mention, link) rows in the layout of
    :func:`reports.queries.mention_link_select`, chunk by chunk: a mention's row carries its first link and
    how many it has (in scope); a link's row its mention's platform and id."""
    current: Sequence[str] | None = None
    count = 0
    for chunk in chunks:
        mentions: list[tuple[str, ...]] = []
        links = []
        for row in chunk:
            if current is None or row[0] != current[0]:
                if current is not None:
                    mentions.append(_mention_row(current, str(count)))
                current, count = row, 0
            count += 1
            links.append((row[1], row[2], *row[LINK_URL : LINK_SOURCE + 1]))
        yield mentions, links
    if current is not None:
        yield [_mention_row(current, str(count))], []


def _mention_row(first: Sequence[Any], link_count: int | str) -> tuple[Any, ...]:
    return (
        *first[MENTION_HEAD], first[LINK_CANONICAL], first[LINK_DOMAIN], first[LINK_ANCHOR], link_count,
        *first[MENTION_TAIL], first[LINK_URL],
    )  # fmt: skip


def top_post_rows(
    conn: Connection, ids: Sequence[int], scope: Scope, *, for_csv: bool
) -> list[tuple[Any, ...]]:
    """mentions.csv rows of these mentions, in this order, as CSV cells or raw values (then with the thread id
    after them)."""
    firsts: dict[Any, Sequence[Any]] = {}
    counts: dict[Any, int] = {}
    for row in queries.mention_link_rows_by_id(conn, conn.dialect.name, ids, scope, for_csv=for_csv):
        firsts.setdefault(row[0], row)
        counts[row[0]] = counts.get(row[0], 0) + 1
    if for_csv:
        return [_mention_row(firsts[i], str(counts[i])) for i in ids if i in firsts]
    return [(*_mention_row(firsts[i], counts[i]), firsts[i][THREAD]) for i in ids if i in firsts]
