"""The formula guard of the CSV files written cell by cell in Python (CONTRACT §5): `tracker export` and the
report's roll-ups. A text cell a spreadsheet would run as a formula (it starts with =, +, -, @, tab or CR)
starts with ' instead; a number never does. The expected cells are written out by hand from that rule."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from reports import write_report
from tests.conftest import make_config
from tests.reports.fixtures import at, link, post
from tracker.cli import cli
from tracker.connector import Page
from tracker.periods import IsoWeek
from tracker.record import Metrics
from tracker.settings import Config
from tracker.store import Store

HANDLE = '=HYPERLINK("http://evil.test","click")'
NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
COMMUNITY = "+cmd|' /C calc'!A0"
TITLE = "-2+3+cmd|' /C calc'!A0"
TEXT = "\t=1+1"
ANCHOR = "\r=1+1"
HOSTILE = post(
    "reddit", "t3_hostile", at(17, 12), (link("https://example.com/a", "example.com", ANCHOR),),
    author_id="hostile", author_handle=HANDLE, author_name=NAME, community=COMMUNITY, title=TITLE, text=TEXT,
    metrics=Metrics(score=-3, replies=1),
)  # fmt: skip
PLAIN = post(
    "hackernews", "1", at(18, 9), (link("https://example.com/b", "example.com", "b"),),
    author_id="alice", author_handle="alice", title="Show HN: B", metrics=Metrics(score=10),
)  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Config:
    made = make_config(
        tmp_path,
        f"""
        [tracker]
        database_url = "sqlite:///{tmp_path / "tracker.db"}"
        [[domains]]
        name = "example.com"
        [reports]
        output_dir = "out"
        [connectors.hn]
        type = "hackernews"
        """,
    )
    store = Store.open(made.database_url)
    for item in (HOSTILE, PLAIN):
        store.write_page(connector=item.platform, platform=item.platform, run_id=None, page=Page("k"),
                         mentions_to_store=[item], now=at(23))  # fmt: skip
    store.close()
    return made


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_tracker_export_guards_formula_text_and_leaves_numbers_alone(config: Config, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(
        cli,
        ["--config", str(config.path), "export", "--format", "csv", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    hostile = next(row for row in rows(out) if row["platform_id"] == "t3_hostile")
    assert (hostile["author_handle"], hostile["author_name"]) == ("'" + HANDLE, "'" + NAME)
    assert (hostile["community"], hostile["title"], hostile["text"]) == (
        "'" + COMMUNITY,
        "'" + TITLE,
        "'" + TEXT,
    )
    assert hostile["anchor_text"] == "'" + ANCHOR
    assert (hostile["score"], hostile["engagement"]) == ("-3", "-2")  # numbers stay numbers
    plain = next(row for row in rows(out) if row["platform_id"] == "1")
    assert (plain["author_handle"], plain["title"]) == ("alice", "Show HN: B")


def test_the_report_roll_ups_guard_formula_text_and_leave_numbers_alone(config: Config) -> None:
    written = write_report(config, week=IsoWeek(2026, 47), now=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    authors = {row["platform"]: row for row in rows(written.folder / "top_authors.csv")}
    assert (authors["reddit"]["author_handle"], authors["reddit"]["author_name"]) == (
        "'" + HANDLE,
        "'" + NAME,
    )
    assert authors["reddit"]["engagement"] == "-2"
    assert authors["hackernews"]["author_handle"] == "alice"
    (community,) = rows(written.folder / "communities.csv")
    assert (community["platform"], community["community"], community["engagement"]) == (
        "reddit",
        "'" + COMMUNITY,
        "-2",
    )
