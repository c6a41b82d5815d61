"""What report.html says, written for the person who reads it on Monday: plain names, the first week said
plainly, coverage by platform, links as posted, comments with their thread, text without Markdown, times in
the report's time zone, what is new, one section per domain."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from reports import write_report
from reports.coverage import coverage
from tests.conftest import make_config
from tests.reports.fixtures import at, fill, link, post
from tests.reports.test_rollups import NOW, W47, config_for
from tracker.connector import Gap, Page
from tracker.record import Metrics
from tracker.settings import Config
from tracker.store import Store


def page_of(config: Config) -> str:
    return write_report(config, week=W47, now=NOW).html.read_text(encoding="utf-8")


def filled_config(tmp_path: Path, timezone: str = "UTC") -> Config:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", timezone=timezone)
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    return config


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_figures_are_named_for_people_with_engagement_and_reach_defined(tmp_path: Path) -> None:
    html = page_of(filled_config(tmp_path))
    text = text_of(html)
    assert "mentions:" not in text
    assert "Mentions linking to example.com" in text and "Mentions on Hacker News" in text
    assert "Reddit score (upvotes minus downvotes) + comments" in text
    assert "Hacker News points + comments" in text
    assert "Bluesky likes + reposts + replies + quotes" in text
    assert "X likes" not in text  # no X post this week: not defined
    assert html.count("<h2>Top pages</h2>") == 1
    assert re.search(r'id="card-reach">.*?<div class="value">500</div>', html, re.DOTALL)


def test_posts_link_to_the_url_as_posted_with_the_page_beside_it(tmp_path: Path) -> None:
    html = page_of(filled_config(tmp_path))
    assert 'href="https://example.com/a?utm_source=hn"' in html  # as posted, tracking parameter and all
    assert "(the page: example.com/<wbr>a)" in html


def test_a_comment_names_its_thread_and_markdown_and_entities_read_as_text(tmp_path: Path) -> None:
    config = filled_config(tmp_path)
    store = Store.open(config.database_url)
    comment = post(
        "hackernews", "99", at(18, 9), (link("https://example.com/c", "example.com"),),
        kind="comment", thread_id="98", title="Ask HN: What are you reading?", text="I liked this &#x2F; that",
        metrics=Metrics(score=400),
    )  # fmt: skip
    reddit = post(
        "reddit", "t3_md", at(18, 10), (link("https://example.com/md", "example.com"),),
        title="**Bold** &amp; [linked](https://x.test) title", text="See **this** and [that](https://example.com/md)",
        metrics=Metrics(score=300),
    )  # fmt: skip
    for item in (comment, reddit):
        store.write_page(connector=item.platform, platform=item.platform, run_id=None, page=Page("k"),
                         mentions_to_store=[item], now=NOW)  # fmt: skip
    store.close()
    text = text_of(page_of(config))
    html = page_of(config)
    assert "I liked this / that" in text
    assert "comment on Ask HN: What are you reading?" in text
    assert 'href="https://news.ycombinator.com/item?id=98"' in html
    assert "Bold &amp; linked title" in html
    assert "See this and that" in text
    assert "**" not in text and "](" not in text


def test_times_are_shown_in_the_report_time_zone_for_people(tmp_path: Path) -> None:
    html = page_of(filled_config(tmp_path, timezone="Europe/Berlin"))
    assert "Mon 16 Nov, 11:00" in html  # the Hacker News post, 10:00 UTC
    assert "Mon 16 Nov to Sun 22 Nov (Europe/Berlin)" in html
    assert "2026-11-16T10:00:00Z" not in html


def test_new_pages_authors_and_communities_are_marked(tmp_path: Path) -> None:
    config = filled_config(tmp_path)
    report_html = page_of(config)
    text = text_of(report_html)
    # pages first linked this week: example.com/c, docs.example.org/x, example.org/b (example.com/a was
    # linked the week before); carol is the one author never seen before; r/python had a mention in October
    assert "Pages linked for the first time ever (3)" in text
    assert "Authors linking for the first time (1)" in text
    assert "carol.test" in text
    assert "Communities new in the last 12 weeks" not in text
    assert re.search(r'id="card-pages_linked">.*?<span class="badge">3 new</span>', report_html, re.DOTALL)
    folder = config.reports.output_dir / "2026-W47"
    pages = (folder / "top_pages.csv").read_text(encoding="utf-8-sig")
    assert "https://example.com/a" in pages


def test_several_own_domains_get_a_section_each(tmp_path: Path) -> None:
    html = page_of(filled_config(tmp_path))
    assert 'id="domains"' in html
    sections = re.findall(r'<div class="panel" id="domain-\d">\s*<h3>([^<]+)</h3>', html)
    assert sections == ["example.com", "example.org"]
    (tmp_path / "one").mkdir()
    one = make_config(
        tmp_path / "one",
        f'[tracker]\ndatabase_url = "sqlite:///{tmp_path / "tracker.db"}"\n[[domains]]\nname = "example.com"\n'
        '[reports]\noutput_dir = "out"\n',
    )
    assert 'id="domains"' not in page_of(one)


def test_the_first_week_tracked_says_so_instead_of_comparing(tmp_path: Path) -> None:
    config = filled_config(tmp_path)
    store = Store.open(config.database_url)
    store.finish_run(
        store.start_run("hn", "poll", at(17, 8)), "ok", at(17, 8, 1)
    )  # tracking began on Tuesday
    store.close()
    html = page_of(config)
    text = text_of(html)
    assert "First week tracked: no comparison with the week before." in text
    assert " vs " not in text  # no "+4 vs 0"
    assert "week before</th>" not in html
    assert "&#9888;" not in html


def test_a_previous_week_tracked_in_part_marks_the_changes(tmp_path: Path) -> None:
    config = filled_config(tmp_path)
    store = Store.open(config.database_url)
    store.finish_run(
        store.start_run("hn", "poll", at(11, 8)), "ok", at(11, 8, 1)
    )  # began on the Wednesday before
    store.close()
    text = text_of(page_of(config))
    assert "Tracking started Wed 11 Nov, 08:00, during the week before" in text
    assert "vs 2" in text


def test_coverage_merges_overlaps_drops_blips_and_names_the_platform(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        f'[tracker]\ndatabase_url = "sqlite:///{tmp_path / "t.db"}"\n[[domains]]\nname = "example.com"\n'
        '[reports]\noutput_dir = "out"\n[connectors.hn]\ntype = "hackernews"\ninterval = "10m"\n',
    )
    store = Store.open(config.database_url)
    for start, end in ((at(18, 1), at(18, 5)), (at(18, 4), at(18, 9)), (at(18, 9), at(18, 10))):
        gap = Gap("story:example.com", start, end, "more than 1000 Hacker News hits within one second")
        store.write_page(connector="hn", platform="hackernews", run_id=None,
                         page=Page("story:example.com", gaps=[gap]), mentions_to_store=[], now=NOW)  # fmt: skip
    other = Gap(
        "comment:example.com", at(18, 2), at(18, 3), "more than 1000 Hacker News hits within one second"
    )
    store.write_page(connector="hn", platform="hackernews", run_id=None,
                     page=Page("comment:example.com", gaps=[other]), mentions_to_store=[], now=NOW)  # fmt: skip
    failed = store.start_run("hn", "poll", at(19, 6))  # failed once, fine five minutes later: a blip
    store.finish_run(failed, "failed", at(19, 6, 1), "HTTP 503")
    store.finish_run(store.start_run("hn", "poll", at(19, 6, 5)), "ok", at(19, 6, 6))
    with store.read() as conn:
        items = coverage(conn, *W47.bounds("UTC"), intervals={"hn": timedelta(minutes=10)})
    store.close()
    assert [(i.kind, i.source, i.start, i.end) for i in items] == [
        ("gap", "story:example.com", at(18, 1), at(18, 10)),
        ("gap", "comment:example.com", at(18, 2), at(18, 3)),
    ]
    html = page_of(config)
    coverage_html = html[html.index('id="coverage"') :]
    assert '<td class="lead">Hacker News</td>' in coverage_html
    assert ">hn<" not in coverage_html and "story:example.com" not in coverage_html
    assert coverage_html.count("Posts missed") == 2
