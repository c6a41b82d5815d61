"""The CSV conventions of CONTRACT §5 that every CSV writer shares (reports, roll-ups, `tracker export`):
UTF-8 with a BOM, RFC 4180 quoting with CRLF line ends, the formula-injection guard, and the mention columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import IO, Any

# What a spreadsheet may read as the start of a formula: = + - @ and their full-width look-alikes, which
# some spreadsheets fold to the ASCII ones.
FORMULA_STARTERS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Skipped before looking for a starter (" =1+1" runs too); a cell that starts with a tab or CR is guarded
# whatever follows, as before.
BLANKS = " \t\r\n"
GUARDED_FIRST = ("\t", "\r")

MENTION_COLUMNS = (
    "platform", "platform_id", "kind", "permalink", "created_at", "author_handle", "author_name",
    "author_followers", "community", "title", "text", "canonical_url", "domain", "anchor_text", "link_count",
    "likes", "reposts", "replies", "quotes", "score", "engagement", "views", "reach", "value", "url",
)  # fmt: skip
# `tracker export` adds the rest of the record after the report's columns.
EXPORT_EXTRA_COLUMNS = (
    "lang", "author_id", "community_size", "thread_id", "parent_id", "first_seen_at", "last_seen_at", "links",
)  # fmt: skip


def needs_guard(text: str) -> bool:
    """Whether a spreadsheet could run this text cell as a formula."""
    return text.startswith(GUARDED_FIRST) or text.lstrip(BLANKS).startswith(FORMULA_STARTERS)


def guard_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading ``'``; numbers pass."""
    if isinstance(value, str) and needs_guard(value):
        return "'" + value
    return value


def csv_writer(stream: IO[str]) -> Any:
    """A csv writer with RFC 4180 quoting and CRLF line ends (the BOM is the caller's first write)."""
    return csv.writer(stream, dialect="excel", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")


def csv_lines(rows: Sequence[Sequence[str]], width: int, *, joined: int | None = None) -> str:
    """Rows whose cells are all text (NULL already ''), as the lines ``csv_writer`` would write.

    Several times faster for a million rows: a row is joined whole, and only when it holds a quote, comma, CR or
    LF are its cells quoted one by one. ``width`` is the number of columns of every line; cell ``joined``, when
    given, already holds several columns joined by commas that need no quoting (numbers).
    """
    if width < 2:  # the csv module quotes a lone empty cell; leave such rows to it
        out = io.StringIO()
        csv_writer(out).writerows(rows)
        return out.getvalue()
    commas = width - 1
    lines: list[str] = []
    append = lines.append
    for row in rows:
        line = ",".join(row)
        if line.count(",") != commas or '"' in line or "\r" in line or "\n" in line:
            line = ",".join(
                [
                    '"' + cell.replace('"', '""') + '"'
                    if ('"' in cell or "," in cell or "\n" in cell or "\r" in cell) and index != joined
                    else cell
                    for index, cell in enumerate(row)
                ]
            )
        append(line)
    append("")
    return "\r\n".join(lines)


def write_csv(
    stream: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True
) -> int:
    """Write a guarded CSV; returns the number of data rows."""
    if bom:
        stream.write("\ufeff")
    writer = csv_writer(stream)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if cell is None else guard_cell(cell) for cell in row])
        count += 1
    return count
