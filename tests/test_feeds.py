"""Atom feeds per own domain and of all of them: valid Atom 1.0 (read back with feedparser), newest 100."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import feedparser

from tests.conftest import Clock, make_config
from tests.support.factories import matched, mention
from tracker.connector import Page
from tracker.feeds import FeedWriter, write_feeds
from tracker.record import Link
from tracker.store import Store


def test_feeds_hold_the_newest_100_mentions_of_each_own_domain(
    tmp_path: Path, store: Store, clock: Clock
) -> None:
    config = make_config(tmp_path, """
        [reports]
        output_dir = "out"
        [[domains]]
        name = "example.com"
        [[domains]]
        name = "example.org"
        [[domains]]
        name = "rival.com"
        role = "competitor"
        """)  # fmt: skip
    items = [
        matched(mention(str(i), created_at=clock() - timedelta(minutes=i), author_handle="al<ice>",
                        text=f"post {i} & more \x07", links=(Link(f"https://example.com/p/{i}", "text", "the <page>"),)))
        for i in range(120)
    ]  # fmt: skip
    items.append(
        matched(
            mention("org", created_at=clock() - timedelta(days=1), url="https://example.org/"), "example.org"
        )
    )
    items.append(matched(mention("rival", url="https://rival.com/"), "rival.com"))
    store.write_page(connector="hn", platform="hackernews", run_id=None, page=Page("k"),
                     mentions_to_store=items, now=clock())  # fmt: skip
    store.write_page(connector="hn", platform="hackernews", run_id=None, page=Page("k", deleted=["0"]),
                     mentions_to_store=[], now=clock())  # fmt: skip
    written = write_feeds(config, store, clock())
    folder = tmp_path / "out" / "feeds"
    assert sorted(p.name for p in written) == ["all.atom", "example.com.atom", "example.org.atom"]
    assert sorted(p.name for p in folder.iterdir()) == ["all.atom", "example.com.atom", "example.org.atom"]

    feed = feedparser.parse((folder / "example.com.atom").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert len(feed.entries) == 100
    first = feed.entries[0]
    assert first.id == "hackernews:1"  # the newest live one: 0 was deleted
    assert first.link == "https://news.ycombinator.com/item?id=1"
    assert "https://example.com/p/1" in first.summary and "“the <page>”" in first.summary
    assert first.author == "al<ice>"
    assert [e.id for e in feedparser.parse((folder / "example.org.atom").read_bytes()).entries] == [
        "hackernews:org"
    ]
    everything = feedparser.parse((folder / "all.atom").read_bytes())
    assert not everything.bozo and len(everything.entries) == 100
    assert "hackernews:rival" not in {e.id for e in everything.entries}


def test_the_feeds_are_rewritten_only_when_something_new_was_stored(
    tmp_path: Path, store: Store, clock: Clock
) -> None:
    config = make_config(tmp_path, '[[domains]]\nname = "example.com"\n')
    writer = FeedWriter(config, store)
    assert writer.maybe_write(clock())  # missing: written, empty
    assert not writer.maybe_write(clock())
    store.write_page(connector="hn", platform="hackernews", run_id=None, page=Page("k"),
                     mentions_to_store=[matched(mention("1"))], now=clock())  # fmt: skip
    assert writer.maybe_write(clock())
    feed = feedparser.parse((config.reports.output_dir / "feeds" / "all.atom").read_bytes())
    assert [e.id for e in feed.entries] == ["hackernews:1"]
