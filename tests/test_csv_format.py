"""The formula guard (CONTRACT §5): a text cell a spreadsheet would run as a formula gets a leading ', in every
CSV writer: the roll-ups and export (Python) and the report's per-mention files (SQL, on both databases)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reports import write_report
from tests.reports.fixtures import at, link, post
from tests.reports.test_rollups import NOW, W47, config_for
from tracker.connector import Page
from tracker.csv_format import guard_cell, write_csv
from tracker.export import export_csv
from tracker.record import Metrics
from tracker.store import Store

# (text as posted, as the CSV cell must read)
CASES = [
    ("=1+1", "'=1+1"),
    ("+1", "'+1"),
    ("-1", "'-1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\rx", "'\rx"),
    ("＝1+1", "'＝1+1"),  # full-width look-alikes (U+FF1D, U+FF0B, U+FF0D, U+FF20)
    ("＋1", "'＋1"),
    ("－1", "'－1"),
    ("＠x", "'＠x"),
    ("   =1+1", "'   =1+1"),  # the first non-blank character decides
    ("\n\n@x", "'\n\n@x"),
    (" \r\n ＝x", "' \r\n ＝x"),
    ("a=b", "a=b"),
    ("'=1", "'=1"),  # already inert
    ("   hello", "   hello"),
    ("\nplain", "\nplain"),
    ("Zebra", "Zebra"),
    ("✨ =1", "✨ =1"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "cell"), CASES)
def test_guard_cell_follows_the_rule(text: str, cell: str) -> None:
    assert guard_cell(text) == cell


def test_numbers_stay_numbers() -> None:
    assert guard_cell(-5) == -5
    out = io.StringIO()
    write_csv(out, ("score", "note"), [[-5, "-5"]])
    assert out.getvalue() == "\ufeffscore,note\r\n-5,'-5\r\n"


def test_export_guards_every_text_cell() -> None:
    item = post(
        "reddit", "t3_g", at(17), (link("https://example.com/a", "example.com", " =HYPERLINK(1)"),),
        title="＝cmd", text="\n@x", author_handle="-me", community="+r", metrics=Metrics(score=-3),
    )  # fmt: skip
    out = io.StringIO()
    export_csv(out, [item])
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    assert (row["title"], row["text"], row["author_handle"], row["community"], row["anchor_text"]) == (
        "'＝cmd", "'\n@x", "'-me", "'+r", "' =HYPERLINK(1)",
    )  # fmt: skip
    assert (row["score"], row["engagement"]) == ("-3", "-3")


def test_the_report_files_guard_in_sql_as_the_rule_says(tmp_path: Path, database_url: str) -> None:
    config = config_for(tmp_path, database_url)
    store = Store.open(config.database_url)
    items = [
        post(
            "reddit",
            f"t3_c{index}",
            datetime(2026, 11, 17, 12, index, tzinfo=UTC),
            (link(f"https://example.com/{index}", "example.com", text or None),),
            title=text or None,
            text=text or None,
            author_handle=text or None,
            author_name=text or None,
            community=text or None,
            metrics=Metrics(score=-index),
        )
        for index, (text, _) in enumerate(CASES)
    ]
    store.write_page(connector="reddit", platform="reddit", run_id=None, page=Page("k"),
                     mentions_to_store=items, now=NOW)  # fmt: skip
    store.close()
    folder = write_report(config, week=W47, now=NOW).folder
    with (folder / "mentions.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["platform_id"]: row for row in csv.DictReader(handle)}
    for index, (_, cell) in enumerate(CASES):
        row = rows[f"t3_c{index}"]
        for column in ("title", "text", "author_handle", "author_name", "community", "anchor_text"):
            assert row[column] == cell, (index, column, row[column])
        assert row["score"] == str(-index)  # a negative number is not guarded
    with (folder / "links.csv").open(encoding="utf-8-sig", newline="") as handle:
        anchors = {row["platform_id"]: row["anchor_text"] for row in csv.DictReader(handle)}
    assert [anchors[f"t3_c{index}"] for index in range(len(CASES))] == [cell for _, cell in CASES]
    with (folder / "communities.csv").open(encoding="utf-8-sig", newline="") as handle:
        communities = {row["community"] for row in csv.DictReader(handle)}
    assert communities == {cell for text, cell in CASES if text}
