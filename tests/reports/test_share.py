"""Share of voice: one own domain (example.com) and two competitors (rival.com, other.net). Every expected
figure below is worked out by hand from the fixture (week 47 of 2026: Mon 16 to Sun 22 November, UTC)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from reports import share, write_report
from tests.conftest import make_config
from tests.reports.fixtures import at, link
from tests.reports.test_page import text_of
from tests.reports.test_rollups import NOW, W47, read
from tests.support.factories import mention
from tracker.connector import Page
from tracker.record import Mention, Metrics
from tracker.settings import Config
from tracker.store import Store

OWN, RIVAL, OTHER = "example.com", "rival.com", "other.net"


def item(
    platform: str, platform_id: str, created: datetime, *urls: tuple[str, str], value: int | None = None,
    **fields: object,
) -> tuple[Mention, int | None]:  # fmt: skip
    permalink = f"https://{platform}.test/{platform_id.replace('#', '/')}"
    links = tuple(link(url, domain) for url, domain in urls)
    made = mention(
        platform_id, platform=platform, created_at=created, links=links, permalink=permalink, **fields
    )
    return made, value


# fmt: off
MENTIONS = [
    # week 47
    item("hackernews", "101", at(16), ("https://example.com/a", OWN), value=40, metrics=Metrics(score=10)),
    item("reddit", "t3_m2", at(17), ("https://example.com/b", OWN), ("https://rival.com/x", RIVAL), value=20,
         community="r/python", metrics=Metrics(score=5)),
    item("bluesky", "at://did:plc:a/app.bsky.feed.post/m3", at(18), ("https://example.com/a", OWN),
         metrics=Metrics(likes=2)),  # value not rated yet: counts 0
    item("reddit", "t3_r1", at(18), ("https://rival.com/x", RIVAL), ("https://www.rival.com/x?utm_source=a", RIVAL),
         value=70, community="r/rust", metrics=Metrics(score=30)),  # two links to one page: one mention
    item("reddit", "t1_r2", at(19), ("https://rival.com/y", RIVAL), value=10, community="r/rust", kind="comment",
         metrics=Metrics(score=4)),
    item("hackernews", "201", at(20), ("https://rival.com/x", RIVAL), value=50, metrics=Metrics(score=50)),
    item("stackexchange", "stackoverflow:q1", at(19), ("https://other.net/docs", OTHER), value=60,
         community="stackoverflow", kind="question", metrics=Metrics(score=3)),
    item("github", "acme/tool#5", at(21), ("https://other.net/docs", OTHER), community="acme/tool", kind="issue",
         metrics=Metrics(likes=1)),
    item("github", "acme/lib#9", at(17), ("https://other.net/lib", OTHER), value=90, community="acme/lib",
         kind="issue", metrics=Metrics(likes=2)),
    item("reddit", "t3_o3", at(20), ("https://other.net/z", OTHER), value=5, community="r/python",
         metrics=Metrics(score=2)),
    item("reddit", "t3_gone", at(19), ("https://other.net/z", OTHER), value=99, community="r/golang"),  # deleted
    # week 46
    item("hackernews", "100", at(10), ("https://example.com/a", OWN), value=5, metrics=Metrics(score=1)),
    item("reddit", "t3_p2", at(11), ("https://rival.com/x", RIVAL), value=30, community="r/rust",
         metrics=Metrics(score=6)),
    item("reddit", "t3_p4", at(12), ("https://example.com/b", OWN), community="r/python", metrics=Metrics(score=3)),
    # earlier in the 12 weeks (from Mon 31 August)
    item("wikipedia", "en.wikipedia.org:123", at(2, month=10), ("https://rival.com/w", RIVAL), value=80,
         community="en.wikipedia.org", kind="article", metrics=Metrics(views=1000)),
    item("lemmy", "https://lemmy.world/post/1", at(3, month=10), ("https://other.net/l", OTHER),
         community="!selfhosted@lemmy.world", metrics=Metrics(score=1)),
    item("lemmy", "https://lemmy.world/post/2", at(4, month=10), ("https://other.net/l", OTHER),
         community="!selfhosted@lemmy.world", metrics=Metrics(score=1)),
    item("lemmy", "https://lemmy.world/post/3", at(7, month=10), ("https://other.net/l", OTHER),
         community="=1+1@lemmy.world"),  # a text cell a spreadsheet would run: guarded in the CSV
    item("reddit", "t3_u", at(5, month=10), ("https://rival.com/u", RIVAL), value=75,
         community="u/rivalteam"),  # a profile, not a community
    item("mastodon", "https://mastodon.social/@a/1", at(6, month=10), ("https://other.net/m", OTHER), value=75,
         community="mastodon.social"),  # the author's instance, not a community
    # before the 12 weeks
    item("wikipedia", "de.wikipedia.org:9", at(1, month=7), ("https://rival.com/w", RIVAL), value=85,
         community="de.wikipedia.org", kind="article"),
    item("github", "acme/lib#1", at(1, month=6), ("https://example.com/a", OWN), community="acme/lib", kind="issue"),
    # after week 47: does not close the r/rust gap in week 47's report
    item("reddit", "t3_later", at(23), ("https://example.com/a", OWN), community="r/rust"),
]
# fmt: on


def fill(store: Store) -> None:
    for made, _value in MENTIONS:
        store.write_page(connector=made.platform, platform=made.platform, run_id=None, page=Page("k"),
                         mentions_to_store=[made], now=NOW)  # fmt: skip
    store.write_page(connector="reddit", platform="reddit", run_id=None, page=Page("k", deleted=["t3_gone"]),
                     mentions_to_store=[], now=NOW)  # fmt: skip
    with store.engine.begin() as conn:  # the value score is set directly: its rating is another module's
        for made, value in MENTIONS:
            conn.execute(
                text("UPDATE mentions SET value = :value WHERE platform = :platform AND platform_id = :id"),
                {"value": value, "platform": made.platform, "id": made.platform_id},
            )


def config_of(tmp_path: Path, database_url: str, competitors: tuple[str, ...] = (RIVAL, OTHER)) -> Config:
    domains = f'[[domains]]\nname = "{OWN}"\n' + "".join(
        f'[[domains]]\nname = "{name}"\nrole = "competitor"\n' for name in competitors
    )
    return make_config(
        tmp_path, f'[tracker]\ndatabase_url = "{database_url}"\n{domains}[reports]\noutput_dir = "out"\n'
    )


@pytest.fixture
def folder(tmp_path: Path, database_url: str) -> Path:
    config = config_of(tmp_path, database_url)
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    return write_report(config, week=W47, now=NOW).folder


def rows_of(folder: Path, name: str) -> list[dict[str, str]]:
    return read(folder / name)


def test_shares_per_domain_and_platform_match_the_hand_count(folder: Path) -> None:
    rows = rows_of(folder, "share_of_voice.csv")
    assert list(rows[0]) == [
        "domain", "role", "platform", "mentions", "engagement", "value", "share",
        "previous_mentions", "previous_engagement", "previous_value", "previous_share",
    ]  # fmt: skip
    table = {
        (r["platform"], r["domain"]): [v for k, v in r.items() if k not in ("platform", "domain")]
        for r in rows
    }
    # fmt: off
    assert table == {
        # week 47: example.com 101, t3_m2, m3 | rival.com t3_m2, t3_r1, t1_r2, 201 | other.net q1, #5, #9, t3_o3
        # 11 mentions; week 46: example.com 100, t3_p4 | rival.com t3_p2: 3 mentions
        ("all", OWN): ["own", "3", "17", "60", "0.2727", "2", "4", "5", "0.6667"],
        ("all", RIVAL): ["competitor", "4", "89", "150", "0.3636", "1", "6", "30", "0.3333"],
        ("all", OTHER): ["competitor", "4", "8", "155", "0.3636", "0", "0", "0", "0"],
        ("bluesky", OWN): ["own", "1", "2", "0", "1", "0", "0", "0", ""],
        ("bluesky", RIVAL): ["competitor", "0", "0", "0", "0", "0", "0", "0", ""],
        ("bluesky", OTHER): ["competitor", "0", "0", "0", "0", "0", "0", "0", ""],
        ("github", OWN): ["own", "0", "0", "0", "0", "0", "0", "0", ""],
        ("github", RIVAL): ["competitor", "0", "0", "0", "0", "0", "0", "0", ""],
        ("github", OTHER): ["competitor", "2", "3", "90", "1", "0", "0", "0", ""],
        ("hackernews", OWN): ["own", "1", "10", "40", "0.5", "1", "1", "5", "1"],
        ("hackernews", RIVAL): ["competitor", "1", "50", "50", "0.5", "0", "0", "0", "0"],
        ("hackernews", OTHER): ["competitor", "0", "0", "0", "0", "0", "0", "0", "0"],
        ("reddit", OWN): ["own", "1", "5", "20", "0.2", "1", "3", "0", "0.5"],
        ("reddit", RIVAL): ["competitor", "3", "39", "100", "0.6", "1", "6", "30", "0.5"],
        ("reddit", OTHER): ["competitor", "1", "2", "5", "0.2", "0", "0", "0", "0"],
        ("stackexchange", OWN): ["own", "0", "0", "0", "0", "0", "0", "0", ""],
        ("stackexchange", RIVAL): ["competitor", "0", "0", "0", "0", "0", "0", "0", ""],
        ("stackexchange", OTHER): ["competitor", "1", "3", "60", "1", "0", "0", "0", ""],
    }
    # fmt: on
    assert [(r["platform"], r["domain"]) for r in rows[:4]] == [
        ("all", OWN),
        ("all", RIVAL),
        ("all", OTHER),
        ("bluesky", OWN),
    ]  # fmt: skip


def test_community_gaps_are_ranked_by_the_competitors_value_then_mentions(folder: Path) -> None:
    gaps = rows_of(folder, "community_gaps.csv")
    assert list(gaps[0]) == [
        "platform", "community", "domain", "mentions", "engagement", "value", "last_linked", "top_post",
    ]  # fmt: skip
    # not gaps: r/python and Hacker News (example.com linked there), acme/lib (example.com in June),
    # r/golang (deleted), de.wikipedia.org (before the 12 weeks), u/rivalteam and mastodon.social (no community)
    assert [(g["platform"], g["community"], g["domain"], g["mentions"], g["engagement"], g["value"]) for g in gaps] == [
        ("reddit", "r/rust", RIVAL, "3", "40", "110"),  # t3_r1, t1_r2, t3_p2; example.com only on 23 Nov
        ("wikipedia", "en.wikipedia.org", RIVAL, "1", "0", "80"),
        ("stackexchange", "stackoverflow", OTHER, "1", "3", "60"),
        ("lemmy", "!selfhosted@lemmy.world", OTHER, "2", "2", "0"),  # value 0: two mentions rank it first
        ("github", "acme/tool", OTHER, "1", "1", "0"),
        ("lemmy", "'=1+1@lemmy.world", OTHER, "1", "0", "0"),
    ]  # fmt: skip
    r_rust = gaps[0]
    assert (r_rust["last_linked"], r_rust["top_post"]) == (
        "2026-11-19T12:00:00Z",
        "https://reddit.test/t3_r1",
    )


def test_the_page_shows_shares_gaps_and_competitor_pages_by_value(folder: Path) -> None:
    html = (folder / "report.html").read_text(encoding="utf-8")
    page = text_of(html)
    assert "Share of voice" in page and "Community gaps" in page
    overall = text_of(re.search(r'<table class="stack" id="share-overall">.*?</table>', html, re.DOTALL)[0])
    assert "example.com you 3 (+1) 27.3% (-39.4 pts) 66.7% 17 60" in overall
    assert "rival.com 4 (+3) 36.4% (+3 pts) 33.3% 89 150" in overall
    assert "other.net 4 (+4) 36.4% (+36.4 pts) 0% 8 155" in overall
    platforms = text_of(
        re.search(r'<table class="stack" id="share-platforms">.*?</table>', html, re.DOTALL)[0]
    )
    assert "Stack Exchange &middot; example.com you 0 (±0) 0% - 0 0" in platforms  # where you are absent
    assert (
        "Stack Exchange &middot; rival.com" not in platforms
    )  # a competitor without a mention there either week
    assert "Reddit &middot; rival.com 3 (+2) 60% 50% 39 100" in platforms
    competitor_pages = text_of(re.search(r'<section id="competitor-pages">.*?</section>', html, re.DOTALL)[0])
    # rival.com/x: t3_m2 (20) + t3_r1 (70) + 201 (50); other.net/lib: #9 (90); other.net/docs: q1 (60) + #5 (0)
    order = [competitor_pages.index(page) for page in ("rival.com/ x", "other.net/ lib", "other.net/ docs",
                                                        "rival.com/ y", "other.net/ z")]  # fmt: skip
    assert order == sorted(order)
    assert "rival.com/ x 3 140 85" in competitor_pages
    # the report itself stays on the own domain: no competitor-only post in it
    assert [r["platform_id"] for r in rows_of(folder, "mentions.csv")] == [
        "at://did:plc:a/app.bsky.feed.post/m3", "t3_m2", "101",
    ]  # fmt: skip


def test_without_competitors_the_page_says_so_in_one_line_and_no_file_is_written(
    tmp_path: Path, database_url: str
) -> None:
    config = config_of(tmp_path, database_url, competitors=())
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    written = write_report(config, week=W47, now=NOW).folder
    assert not (written / "share_of_voice.csv").exists() and not (written / "community_gaps.csv").exists()
    html = (written / "report.html").read_text(encoding="utf-8")
    assert 'id="no-competitors"' in html
    assert "Community gaps" not in html and "rival.com" not in html


def test_a_long_list_of_domains_shows_the_most_mentioned_on_the_page(
    tmp_path: Path, database_url: str
) -> None:
    config = config_of(tmp_path, database_url)
    store = Store.open(config.database_url)
    fill(store)
    built = share.build(store, W47, timezone="UTC", own=[OWN], competitors=[RIVAL, OTHER])
    store.close()
    shown = share.page(built, domains=2, platforms=3)
    assert shown is not None and shown["rows_left_out"]
    assert [row["domain"] for row in shown["overall"]] == [RIVAL, OTHER]  # 4 and 4 mentions; example.com 3
    # reddit rival.com 3, github other.net 2, then of the ones with 1 those with 1 the week before, the first
    # of them (hackernews example.com before reddit example.com); in their order
    assert [(row["platform"], row["domain"]) for row in shown["platforms"]] == [
        ("github", OTHER), ("hackernews", OWN), ("reddit", RIVAL),
    ]  # fmt: skip
    assert not share.page(built)["rows_left_out"]  # type: ignore[index]


def test_a_competitor_never_linked_has_no_share_and_no_gap(tmp_path: Path, database_url: str) -> None:
    config = config_of(tmp_path, database_url, competitors=("nobody.test",))
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    written = write_report(config, week=W47, now=NOW).folder
    overall = [(r["domain"], r["mentions"], r["share"]) for r in rows_of(written, "share_of_voice.csv")][:2]
    assert overall == [(OWN, "3", "1"), ("nobody.test", "0", "0")]
    assert rows_of(written, "community_gaps.csv") == []
    html = text_of((written / "report.html").read_text(encoding="utf-8"))
    assert "Every community that linked a competitor in the last 12 weeks has linked you too." in html
    assert "No competitor page was linked this week." in html


def test_with_two_own_domains_each_is_counted_on_its_own(tmp_path: Path, database_url: str) -> None:
    domains = f'[[domains]]\nname = "{OWN}"\n[[domains]]\nname = "{OTHER}"\n[[domains]]\nname = "{RIVAL}"\nrole = "competitor"\n'
    config = make_config(
        tmp_path, f'[tracker]\ndatabase_url = "{database_url}"\n{domains}[reports]\noutput_dir = "out"\n'
    )
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    written = write_report(config, week=W47, now=NOW).folder
    overall = [
        (r["domain"], r["role"], r["mentions"], r["engagement"], r["value"], r["share"], r["previous_share"])
        for r in rows_of(written, "share_of_voice.csv")
        if r["platform"] == "all"
    ]
    assert overall == [
        (OWN, "own", "3", "17", "60", "0.2727", "0.6667"),
        (OTHER, "own", "4", "8", "155", "0.3636", "0"),
        (RIVAL, "competitor", "4", "89", "150", "0.3636", "0.3333"),
    ]
    # other.net is now yours: r/python, stackoverflow, acme/tool, !selfhosted and acme/lib linked you
    gaps = [(g["community"], g["domain"], g["value"]) for g in rows_of(written, "community_gaps.csv")]
    assert gaps == [("r/rust", RIVAL, "110"), ("en.wikipedia.org", RIVAL, "80")]
