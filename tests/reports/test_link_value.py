"""The report's link value and page health: "Most valuable links" (top 20 by stored value, with why),
"Pages that need attention" (broken, redirected, noindex, another canonical), value in the CSV files, top
pages by summed value, and pages.csv with each page's latest check."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from sqlalchemy import select

from reports import write_report
from tests.reports.fixtures import fill
from tests.reports.test_page import text_of
from tests.reports.test_rollups import NOW, W47, config_for
from tracker.page_checks import record_check
from tracker.page_probe import Hop, PageCheck
from tracker.schema import mentions
from tracker.settings import Config
from tracker.store import Store


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def checked_config(tmp_path: Path) -> tuple[Config, dict[str, int]]:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    try:
        fill(store)
        checks = [
            (PageCheck("https://example.com/a", 200, "https://example.com/a", title="A",
                       canonical_tag="https://example.com/a"), "example.com"),
            (PageCheck("https://example.com/c", 404, "https://example.com/c"), "example.com"),
            (PageCheck("https://example.org/b", 200, "https://example.org/b-new",
                       (Hop(301, "https://example.org/b-new"),)), "example.org"),
            (PageCheck("https://docs.example.org/x", 200, "https://docs.example.org/x", noindex=True,
                       canonical_tag="https://docs.example.org/y"), "example.org"),
        ]  # fmt: skip
        for check, domain in checks:
            record_check(store.engine, check, domain, NOW)
        with store.read() as conn:
            values = {
                row.platform_id: row.value
                for row in conn.execute(select(mentions.c.platform_id, mentions.c.value))
            }
    finally:
        store.close()
    return config, values


def test_the_report_shows_the_most_valuable_links_with_why_and_the_pages_that_need_attention(
    tmp_path: Path,
) -> None:
    config, values = checked_config(tmp_path)
    written = write_report(config, week=W47, now=NOW)
    html = written.html.read_text(encoding="utf-8")
    text = text_of(html.replace("<wbr>", ""))
    assert "<h2>Most valuable links</h2>" in html and "<h2>Pages that need attention</h2>" in html
    valuable = text[text.index("Most valuable links") : text.index("Top posts")]
    # The week's four live mentions, highest value first, each with the components that carried it.
    section = html[html.index('<section id="valuable">') :]
    section = section[: section.index("</section>")]
    shown = [int(cell.replace(",", "")) for cell in re.findall(r'data-label="value">([\d,]+)<', section)]
    week = ("1", "t3_2", "at://did:plc:carol/app.bsky.feed.post/3", "t1_4")
    assert shown == sorted((values[i] for i in week), reverse=True) and len(set(shown)) > 1
    assert valuable.count("lasting platform") >= 3  # the platform's permanence carries most of them
    assert f"{values['t1_4']}" in valuable and "see the docs" in valuable
    attention = text[text.index("Pages that need attention") : text.index("Top posts")]
    assert "example.com/c" in attention and "broken (HTTP 404)" in attention
    assert "example.org/b" in attention and "redirects" in attention and "301" in attention
    assert "docs.example.org/x" in attention and "noindex, names another canonical URL" in attention
    assert "example.com/a" not in attention.replace("example.com/a/", "")  # a healthy page is not listed

    pages = {row["canonical_url"]: row for row in read(written.folder / "pages.csv")}
    assert (pages["https://example.com/c"]["status"], pages["https://example.com/c"]["checked_at"]) == (
        "404", "2026-11-24T08:00:00Z",
    )  # fmt: skip
    moved = pages["https://example.org/b"]
    assert (moved["status"], moved["final_url"], moved["redirects"], moved["noindex"]) == (
        "200", "https://example.org/b-new", "301 https://example.org/b-new", "false",
    )  # fmt: skip
    assert (pages["https://docs.example.org/x"]["noindex"], pages["https://docs.example.org/x"]["canonical_tag"]) == (
        "true", "https://docs.example.org/y",
    )  # fmt: skip
    # pages by summed value: /a is linked by HN post 1 and Reddit post t3_2 this week
    assert pages["https://example.com/a"]["value"] == str(values["1"] + values["t3_2"])
    summed = [int(row["value"]) for row in read(written.folder / "pages.csv")]
    assert summed == sorted(summed, reverse=True)
    by_id = {row["platform_id"]: row for row in read(written.folder / "mentions.csv")}
    assert {pid: int(row["value"]) for pid, row in by_id.items()} == {pid: values[pid] for pid in by_id}
    assert all(row["value"] for row in read(written.folder / "top_posts.csv"))


def test_without_page_checks_no_page_needs_attention(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    html = write_report(config, week=W47, now=NOW).html.read_text(encoding="utf-8")
    assert "<h2>Most valuable links</h2>" in html
    assert "Pages that need attention" not in html
