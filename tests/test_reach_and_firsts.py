"""What the page writer keeps besides the mention: its reach (views, else followers, else community size; kept
up to date as metrics are refreshed), when each page was first linked and each author first seen. Migration
0006 works these out for a database that had mentions before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.conftest import Clock, database_at
from tests.support.factories import matched, mention
from tests.test_store import write
from tracker.record import Metrics, reach
from tracker.schema import author_firsts, mentions, pages
from tracker.store import Store


def stored(store: Store, platform_id: str) -> dict[str, object]:
    with store.read() as conn:
        row = conn.execute(
            select(mentions.c.reach, mentions.c.community_size, mentions.c.value).where(
                mentions.c.platform_id == platform_id
            )
        ).one()
    return dict(row._mapping)


def test_reach_is_views_else_followers_else_community_size() -> None:
    assert reach(1200, 50, 9000) == 1200
    assert reach(None, 50, 9000) == 50
    assert reach(None, None, 9000) == 9000
    assert reach(None, None, None) is None
    assert reach(0, 50, None) == 0  # zero views is known, not unknown


def test_reach_is_stored_at_ingest_and_follows_refreshed_metrics(store: Store, clock: Clock) -> None:
    write(
        store, clock,
        matched(mention("views", metrics=Metrics(views=700), author_followers=40)),
        matched(mention("followers", author_followers=40, community="r/x", community_size=5000)),
        matched(mention("community", community="r/x", community_size=5000)),
        matched(mention("unknown")),
    )  # fmt: skip
    assert [stored(store, i)["reach"] for i in ("views", "followers", "community", "unknown")] == [
        700,
        40,
        5000,
        None,
    ]
    assert (
        stored(store, "unknown")["value"] == 29
    )  # an HN post with a descriptive anchor (tests/test_value.py)
    clock.advance(hours=1)
    write(
        store, clock,
        matched(mention("views", metrics=Metrics(views=900))),  # a refresh: more views
        matched(mention("community", community="r/x", community_size=5200)),  # the subreddit grew
        matched(mention("unknown", metrics=Metrics(likes=1))),  # still nothing known about its audience
    )  # fmt: skip
    assert stored(store, "views")["reach"] == 900
    assert stored(store, "followers")["reach"] == 40
    assert (stored(store, "community")["reach"], stored(store, "community")["community_size"]) == (5200, 5200)
    assert stored(store, "unknown")["reach"] is None
    clock.advance(hours=1)
    write(store, clock, matched(mention("community", community="r/x")))  # seen again without a size: kept
    assert stored(store, "community")["reach"] == 5200
    (record,) = [m for m in store.iter_mentions() if m.platform_id == "community"]
    assert (record.community_size, record.reach, record.to_dict()["reach"]) == (5200, 5200, 5200)
    assert record.value is not None and record.to_dict()["value"] == record.value


def test_a_page_remembers_its_first_link_and_an_earlier_find_moves_it_back(
    store: Store, clock: Clock
) -> None:
    monday = datetime(2026, 11, 16, 12, tzinfo=UTC)
    write(store, clock, matched(mention("2", url="https://example.com/p?utm_source=x", created_at=monday)))
    write(
        store,
        clock,
        matched(mention("3", url="https://example.com/p", created_at=monday + timedelta(days=2))),
    )
    write(
        store,
        clock,
        matched(mention("1", url="https://www.example.com/p", created_at=monday - timedelta(days=30))),
    )
    with store.read() as conn:
        rows = conn.execute(select(pages.c.canonical_url, pages.c.domain, pages.c.first_linked_at)).all()
    assert [tuple(r) for r in rows] == [("https://example.com/p", "example.com", monday - timedelta(days=30))]


def test_an_author_remembers_their_first_mention(store: Store, clock: Clock) -> None:
    monday = datetime(2026, 11, 16, 12, tzinfo=UTC)
    write(store, clock, matched(mention("1", author_id="u1", author_handle="ann", created_at=monday)))
    write(store, clock, matched(mention("2", author_handle="bob", created_at=monday)))  # no id: the handle
    write(store, clock, matched(mention("3", author_id="u1", created_at=monday - timedelta(days=3))))
    with store.read() as conn:
        rows = conn.execute(select(author_firsts).order_by(author_firsts.c.author_key)).all()
    assert [(r.platform, r.author_key, r.first_mention_at) for r in rows] == [
        ("hackernews", "bob", monday), ("hackernews", "u1", monday - timedelta(days=3)),
    ]  # fmt: skip


def test_migration_0006_works_out_reach_first_links_and_first_mentions_of_stored_mentions(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with database_at(url, "0003") as conn:
        for index, (followers, views, created) in enumerate(
            [(10, None, "2026-11-02"), (None, 99, "2026-11-01")]
        ):
            conn.exec_driver_sql(
                "INSERT INTO mentions (platform, platform_id, kind, permalink, created_at, first_seen_at, last_seen_at, "
                "author_id, author_followers, views) VALUES ('x', ?, 'post', 'https://x.com/a/status/1', ?, ?, ?, 'a1', ?, ?)",
                (str(index), f"{created} 10:00:00.000000", f"{created} 10:00:00.000000", f"{created} 10:00:00.000000",
                 followers, views),
            )  # fmt: skip
            conn.exec_driver_sql(
                "INSERT INTO links (mention_id, position, url, canonical_url, domain, source) "
                "VALUES (?, 0, 'https://example.com/a', 'https://example.com/a', 'example.com', 'text')",
                (index + 1,),
            )
    store = Store.open(url)
    with store.read() as conn:
        assert [r.reach for r in conn.execute(select(mentions.c.reach).order_by(mentions.c.id))] == [10, 99]
        assert conn.execute(select(pages.c.first_linked_at)).scalar() == datetime(2026, 11, 1, 10, tzinfo=UTC)
        assert conn.execute(select(author_firsts.c.first_mention_at)).scalar() == datetime(
            2026, 11, 1, 10, tzinfo=UTC
        )
    store.close()
