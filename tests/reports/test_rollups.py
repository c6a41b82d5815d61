"""Roll-ups of a small fixed store, against figures worked out by hand (see fixtures.py)."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reports import write_report
from reports.rollups import build
from reports.writer import writer_lock
from tests.conftest import make_config
from tests.reports.fixtures import at, fill
from tracker.connector import Gap, Page
from tracker.periods import IsoWeek
from tracker.settings import Config
from tracker.store import Store

W47 = IsoWeek(2026, 47)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def config_for(
    tmp_path: Path, database_url: str, timezone: str = "UTC", competitors: tuple[str, ...] = ()
) -> Config:
    """The two own domains of the roll-up tests (and ``competitors``, for the share-of-voice sections)."""
    rivals = "".join(
        f'        [[domains]]\n        name = "{name}"\n        role = "competitor"\n' for name in competitors
    )
    return make_config(
        tmp_path,
        f"""
        [tracker]
        database_url = "{database_url}"
        timezone = "{timezone}"
        [[domains]]
        name = "example.com"
        [[domains]]
        name = "example.org"
{rivals}        [reports]
        output_dir = "out"
        [connectors.hn]
        type = "hackernews"
        """,
    )


@pytest.fixture
def filled(tmp_path: Path, database_url: str) -> tuple[Config, Store]:
    config = config_for(tmp_path, database_url)
    store = Store.open(config.database_url)
    fill(store)
    yield config, store
    store.close()


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_summary_figures_match_the_hand_count(filled: tuple[Config, Store]) -> None:
    _config, store = filled
    report = build(store, W47, timezone="UTC", domains=["example.com", "example.org"], platforms={}, now=NOW)
    rows = {s.metric: (s.this_week, s.previous_week, s.change, s.change_pct) for s in report.summary}
    assert rows == {
        "mentions": (4, 2, 2, 100.0),  # the deleted post is left out
        "pages_linked": (4, 2, 2, 100.0),
        "authors": (3, 2, 1, 50.0),  # bob posted twice
        "communities": (1, 1, 0, 0.0),
        "engagement": (26, 3, 23, 766.7),  # 15 + 7 + 4 + unknown
        "reach": (500, 0, 500, None),  # carol's 500 followers; the others' audience is unknown
        "mentions:example.com": (3, 2, 1, 50.0),
        "mentions:example.org": (2, 0, 2, None),
        "mentions:bluesky": (1, 0, 1, None),
        "mentions:hackernews": (1, 1, 0, 0.0),
        "mentions:reddit": (2, 1, 1, 100.0),
    }
    assert [s.metric for s in report.summary][:6] == [
        "mentions",
        "pages_linked",
        "authors",
        "communities",
        "engagement",
        "reach",
    ]


def test_daily_counts_use_the_day_in_the_report_time_zone(filled: tuple[Config, Store]) -> None:
    _, store = filled
    report = build(store, W47, timezone="UTC", domains=["example.com", "example.org"], platforms={}, now=NOW)
    nonzero = [tuple(r) for r in report.daily.itertuples(index=False) if r.mentions]
    assert nonzero == [
        ("2026-11-16", "hackernews", 1), ("2026-11-17", "reddit", 1),
        ("2026-11-18", "reddit", 1), ("2026-11-22", "bluesky", 1),
    ]  # fmt: skip
    assert len(report.daily) == 7 * 3  # every day for every platform, zeros included


def test_pages_authors_and_communities(filled: tuple[Config, Store]) -> None:
    _, store = filled
    report = build(store, W47, timezone="UTC", domains=["example.com", "example.org"], platforms={}, now=NOW)
    top = report.top_pages.iloc[0]
    assert (top.canonical_url, top.mentions, top.engagement, top.platforms) == (
        "https://example.com/a", 2, 22, "hackernews, reddit",
    )  # fmt: skip
    assert top.first_seen == at(10)  # first linked the week before
    authors = [
        tuple(r)
        for r in report.top_authors[["platform", "author_handle", "mentions", "engagement"]].itertuples(
            index=False
        )
    ]
    assert authors[0] == ("reddit", "bob", 2, 7)
    assert set(authors[1:]) == {("hackernews", "alice", 1, 15), ("bluesky", "carol.test", 1, 4)}
    (community,) = report.communities.itertuples(index=False)
    assert (community.platform, community.community, community.mentions, community.engagement, community.new) == (
        "reddit", "r/python", 2, 7, False,  # r/python had a mention in October, within 12 weeks
    )  # fmt: skip
    assert list(report.top_posts["platform_id"])[:3] == [
        "1",
        "t3_2",
        "at://did:plc:carol/app.bsky.feed.post/3",
    ]
    assert dict(zip(report.anchors.anchor_text, report.anchors.links, strict=True)) == {
        "A": 1, "the A page": 1, "=cmd|' /C calc'!A0": 1,
    }  # fmt: skip


def test_the_files_carry_the_contract_columns_bom_and_formula_guard(filled: tuple[Config, Store]) -> None:
    config, _ = filled
    written = write_report(config, week=W47, now=NOW)
    folder = written.folder
    assert sorted(p.name for p in folder.iterdir()) == [
        "communities.csv", "daily.csv", "links.csv", "mentions.csv", "pages.csv", "report.html", "summary.csv",
        "top_authors.csv", "top_pages.csv", "top_posts.csv",
    ]  # fmt: skip
    raw = (folder / "mentions.csv").read_bytes()
    assert raw.startswith(
        b"\xef\xbb\xbfplatform,platform_id,kind,permalink,created_at,author_handle,author_name,"
    )
    header = raw.decode("utf-8-sig").splitlines()[0]
    assert header == (
        "platform,platform_id,kind,permalink,created_at,author_handle,author_name,author_followers,community,"
        "title,text,canonical_url,domain,anchor_text,link_count,likes,reposts,replies,quotes,score,engagement,"
        "views,reach,value,url"
    )
    rows = read(folder / "mentions.csv")
    assert [r["platform_id"] for r in rows] == [
        "at://did:plc:carol/app.bsky.feed.post/3",
        "t1_4",
        "t3_2",
        "1",
    ]
    bluesky = rows[0]
    assert bluesky["text"] == '\'=HYPERLINK("http://evil.test","click") and ünïcödé ✨'
    assert bluesky["anchor_text"] == "'=cmd|' /C calc'!A0"
    assert (bluesky["created_at"], bluesky["author_followers"], bluesky["engagement"]) == (
        "2026-11-22T23:30:00Z",
        "500",
        "4",
    )
    assert (bluesky["views"], bluesky["reach"]) == ("", "500")  # reach: followers
    assert bluesky["value"] == "36"  # as stored at ingest (tests/test_value.py states the formula)
    assert bluesky["url"] == "https://example.org/b"
    two_links = rows[2]
    assert (two_links["canonical_url"], two_links["domain"], two_links["link_count"]) == (
        "https://example.com/a",
        "example.com",
        "2",
    )
    assert rows[1]["engagement"] == ""  # unknown stays empty, never 0
    assert [(r["platform_id"], r["canonical_url"]) for r in read(folder / "links.csv") if r["platform_id"] == "t3_2"] == [
        ("t3_2", "https://example.com/a"), ("t3_2", "https://docs.example.org/x"),
    ]  # fmt: skip
    assert read(folder / "summary.csv")[1] == {
        "metric": "pages_linked", "this_week": "4", "previous_week": "2", "change": "2", "change_pct": "100.0",
    }  # fmt: skip
    assert read(folder / "summary.csv")[7]["change_pct"] == ""  # example.org had none the week before
    assert list(read(folder / "daily.csv")[0]) == ["date", "platform", "mentions"]
    assert list(read(folder / "top_pages.csv")[0]) == [
        "canonical_url",
        "domain",
        "mentions",
        "engagement",
        "platforms",
        "first_seen",
    ]
    assert read(folder / "top_pages.csv")[0]["first_seen"] == "2026-11-10T12:00:00Z"
    pages = read(folder / "pages.csv")
    assert list(pages[0]) == [
        "canonical_url", "domain", "mentions", "engagement", "value", "first_linked", "new", "status", "final_url",
        "redirects", "noindex", "canonical_tag", "checked_at",
    ]  # fmt: skip
    by_url = {p["canonical_url"]: p for p in pages}
    assert [(p["first_linked"], p["new"], p["status"]) for p in map(by_url.get, ("https://example.com/a", "https://docs.example.org/x"))] == [
        ("2026-11-10T12:00:00Z", "false", ""),  # linked the week before: not new
        ("2026-11-17T12:00:00Z", "true", ""),  # no page check yet: empty
    ]  # fmt: skip
    values = [int(p["value"]) for p in pages]
    assert values == sorted(values, reverse=True) and values[0] > 0  # by summed value
    assert list(read(folder / "communities.csv")[0].values()) == ["reddit", "r/python", "2", "7", "false"]
    assert read(folder / "top_authors.csv")[0]["author_handle"] == "bob"
    assert b"\r\n" in (folder / "daily.csv").read_bytes()  # RFC 4180 line ends
    top_posts = read(folder / "top_posts.csv")
    assert list(top_posts[0]) == list(rows[0])
    assert [r["platform_id"] for r in top_posts] == [
        "1",
        "t3_2",
        "at://did:plc:carol/app.bsky.feed.post/3",
        "t1_4",
    ]
    assert top_posts[2]["text"] == bluesky["text"]


def test_rerunning_a_week_replaces_it_and_the_index_lists_every_week(filled: tuple[Config, Store]) -> None:
    config, _store = filled
    first = write_report(config, week=W47, now=NOW)
    (first.folder / "summary.csv").write_text("from an old run")
    write_report(config, week=IsoWeek(2026, 46), now=NOW)
    again = write_report(config, week=W47, now=NOW)
    assert (again.folder / "summary.csv").read_text(encoding="utf-8-sig").startswith("metric,")
    output = config.reports.output_dir
    assert sorted(p.name for p in output.iterdir()) == [
        ".lock", ".mention-tracker", "2026-W46", "2026-W47", "index.html",
    ]  # fmt: skip
    index = (output / "index.html").read_text()
    assert index.index("2026-W47") < index.index("2026-W46")
    assert 'href="2026-W47/report.html"' in index


def test_a_big_week_writes_the_same_files_from_a_second_process(
    filled: tuple[Config, Store], tmp_path: Path
) -> None:
    config, _store = filled
    alone = write_report(config, week=W47, now=NOW, out_dir=tmp_path / "alone", parallel_from=10**12)
    beside = write_report(config, week=W47, now=NOW, out_dir=tmp_path / "beside", parallel_from=0)
    for name in ("mentions.csv", "links.csv", "summary.csv", "top_posts.csv", "report.html"):
        assert (beside.folder / name).read_bytes() == (alone.folder / name).read_bytes(), name
    assert len(read(beside.folder / "mentions.csv")) == 4


def test_the_second_process_failing_is_one_clear_error(filled: tuple[Config, Store], tmp_path: Path) -> None:
    from reports.queries import Scope
    from reports.slices import Helper, Pass
    from tracker.errors import TrackerError

    _, store = filled
    start, end = W47.bounds("UTC")
    (tmp_path / "not-a-database").write_text("notes\n" * 100)
    week_pass = Pass(start, end, Scope(("example.com",)), "UTC", tmp_path)
    files = Helper(
        store,
        week_pass,
        W47.previous().bounds("UTC"),
        database_url=f"sqlite:///{tmp_path / 'not-a-database'}",
    )
    with pytest.raises(TrackerError) as caught:
        files.run()
    assert str(caught.value).startswith("writing mentions.csv and links.csv failed: DatabaseError: ")
    assert "\n" not in str(caught.value)


def test_a_second_writer_of_the_same_folder_waits_for_the_first(filled: tuple[Config, Store]) -> None:
    config, _store = filled
    output = config.reports.output_dir
    output.mkdir(parents=True)
    written: list[Path] = []
    with writer_lock(output):  # as the daemon's weekly run would hold it
        second = threading.Thread(
            target=lambda: written.append(write_report(config, week=W47, now=NOW).folder)
        )
        second.start()
        second.join(timeout=1)
        assert second.is_alive()
        assert not (output / "2026-W47").exists()
        assert not list(output.glob(".2026-W47-*"))  # it has not even started its staging folder
    second.join(timeout=60)
    assert written == [output / "2026-W47"]
    assert (output / "2026-W47" / "report.html").is_file()


def test_a_week_with_a_gap_or_downtime_marks_the_comparison_unreliable(filled: tuple[Config, Store]) -> None:
    _, store = filled
    gap = Gap("story:example.com", at(18), at(19), "more than 1000 hits in one second")
    store.write_page(connector="hn", platform="hackernews", run_id=None, page=Page("story:example.com", gaps=[gap]),
                     mentions_to_store=[], now=at(19))  # fmt: skip
    failed = store.start_run("hn", "poll", at(20, 6))
    store.finish_run(failed, "failed", at(20, 6, 1), "HTTP 503 from the server; gave up after 5 attempts")
    recovered = store.start_run("hn", "poll", at(20, 9))
    store.finish_run(recovered, "ok", at(20, 9, 1))
    report = build(
        store, W47, timezone="UTC", domains=["example.com"], platforms={"hn": "hackernews"}, now=NOW
    )
    kinds = [(item.connector, item.kind, item.hours) for item in report.coverage]
    assert kinds == [("hn", "gap", 24.0), ("hn", "downtime", 3.0)] or sorted(kinds) == sorted(
        [("hn", "gap", 24.0), ("hn", "downtime", 3.0)]
    )
    assert report.comparison_unreliable
    flags = {s.metric: s.unreliable for s in report.summary}
    assert flags["mentions"] and flags["mentions:hackernews"]
    assert not flags["mentions:reddit"]


def test_days_without_any_run_are_reported_as_not_running(filled: tuple[Config, Store]) -> None:
    _, store = filled
    for started in (at(16, 8), at(16, 8, 10), at(19, 14), at(19, 14, 10)):  # stopped Monday, back Thursday
        store.finish_run(store.start_run("hn", "poll", started), "ok", started + timedelta(seconds=30))
    report = build(
        store, W47, timezone="UTC", domains=["example.com"], platforms={"hn": "hackernews"}, now=NOW,
        idle_after={"hn": timedelta(hours=1)},
    )  # fmt: skip
    (quiet, after) = report.coverage
    assert (quiet.kind, quiet.start, quiet.end) == (
        "downtime",
        at(16, 8, 10) + timedelta(seconds=30),
        at(19, 14),
    )
    assert quiet.detail == "not running: no run for 78 h (was the daemon stopped?)"
    assert (after.start, after.end) == (at(19, 14, 10) + timedelta(seconds=30), W47.bounds("UTC")[1])
    assert report.comparison_unreliable
    assert build(store, W47, timezone="UTC", domains=["example.com"], platforms={}, now=NOW).coverage == []


def test_weeks_across_a_dst_change_follow_local_midnight(tmp_path: Path, database_url: str) -> None:
    config = config_for(tmp_path, database_url, timezone="Europe/Berlin")
    store = Store.open(config.database_url)
    from tests.reports.fixtures import link, post

    monday_early = post(
        "hackernews",
        "100",
        datetime(2026, 10, 18, 22, 30, tzinfo=UTC),
        (link("https://example.com/1", "example.com"),),
    )
    next_monday_early = post(
        "hackernews",
        "101",
        datetime(2026, 10, 25, 23, 30, tzinfo=UTC),
        (link("https://example.com/2", "example.com"),),
    )
    for item in (monday_early, next_monday_early):
        store.write_page(
            connector="hn",
            platform="hackernews",
            run_id=None,
            page=Page("k"),
            mentions_to_store=[item],
            now=NOW,
        )
    week = IsoWeek(2026, 43)  # ends Sunday 25 October, when clocks go back an hour
    start, end = week.bounds("Europe/Berlin")
    assert (start, end) == (datetime(2026, 10, 18, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
    assert end - start == timedelta(hours=169)
    report = build(store, week, timezone="Europe/Berlin", domains=["example.com"], platforms={}, now=NOW)
    assert report.total == 1  # 00:30 on Monday 19 October local; the other is Monday 26 October local
    assert [(r.date, r.mentions) for r in report.daily.itertuples(index=False) if r.mentions] == [
        ("2026-10-19", 1)
    ]
    assert (
        build(
            store, week.next(), timezone="Europe/Berlin", domains=["example.com"], platforms={}, now=NOW
        ).total
        == 1
    )
    store.close()


def test_iso_week_53_and_its_neighbours() -> None:
    week = IsoWeek.parse("2026-W53")
    assert week.days()[0].isoformat() == "2026-12-28"
    assert week.days()[-1].isoformat() == "2027-01-03"
    assert (str(week.previous()), str(week.next())) == ("2026-W52", "2027-W01")
    assert str(IsoWeek.containing(datetime(2027, 1, 2, 12, tzinfo=UTC), "UTC")) == "2026-W53"
    with pytest.raises(ValueError, match="2025 has no ISO week 53"):
        IsoWeek.parse("2025-W53")
    with pytest.raises(ValueError, match="not an ISO week"):
        IsoWeek.parse("2026-47")


def test_an_empty_week_says_so_plainly(tmp_path: Path, database_url: str) -> None:
    config = config_for(tmp_path, database_url)
    written = write_report(config, week=W47, now=NOW)
    page = written.html.read_text()
    assert "No mentions were found in this week." in page
    assert "<svg" not in page
    assert read(written.folder / "summary.csv")[0] == {
        "metric": "mentions", "this_week": "0", "previous_week": "0", "change": "0", "change_pct": "",
    }  # fmt: skip
    assert read(written.folder / "mentions.csv") == []


def test_missed_weeks_are_caught_up_back_to_the_first_run_at_most_eight(tmp_path: Path) -> None:
    from reports import missing_weeks

    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    now = datetime(2026, 11, 24, 8, tzinfo=UTC)  # Tuesday of W48
    assert missing_weeks(config, now, since=None) == []
    assert [str(w) for w in missing_weeks(config, now, since=datetime(2026, 11, 5, tzinfo=UTC))] == [
        "2026-W45", "2026-W46", "2026-W47",
    ]  # fmt: skip
    assert len(missing_weeks(config, now, since=datetime(2025, 1, 1, tzinfo=UTC))) == 8
    (config.reports.output_dir / "2026-W46").mkdir(parents=True)
    (config.reports.output_dir / "2026-W46" / "summary.csv").write_text("metric\n")
    assert [str(w) for w in missing_weeks(config, now, since=datetime(2026, 11, 5, tzinfo=UTC))] == [
        "2026-W45",
        "2026-W47",
    ]


def test_one_domain_is_counted_alike_in_both_weeks(filled: tuple[Config, Store]) -> None:
    _, store = filled
    report = build(store, W47, timezone="UTC", domains=["example.com"], platforms={}, now=NOW)
    rows = {s.metric: (s.this_week, s.previous_week) for s in report.summary}
    # example.com this week: HN 1 (/a), Reddit t3_2 (/a), Reddit t1_4 (/c); the week before: /a and /d
    assert (rows["mentions"], rows["pages_linked"], rows["mentions:example.com"]) == ((3, 2), (2, 2), (3, 2))
    assert (rows["authors"], rows["communities"], rows["engagement"]) == ((2, 2), (1, 1), (22, 3))
