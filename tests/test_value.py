"""A link's value (tracker.value): each component's effect, stated by its rule, and the value stored at ingest and
on every engagement refresh that changed something."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.conftest import Clock, database_at
from tests.support.factories import matched, mention
from tests.test_store import write
from tracker.record import Link, Metrics
from tracker.schema import mentions
from tracker.store import Store
from tracker.value import WEIGHTS, Signals, anchor_specificity, rate

POSTED = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
# A reply on X with nothing known: the floor every other case is compared with.
BASE = Signals(platform="x", kind="reply", created_at=POSTED, observed_at=POSTED + timedelta(hours=10))


def points(signals: Signals) -> dict[str, float]:
    return dict(rate(signals).parts)


def gain(change: dict[str, object], component: str) -> float:
    """How many points ``change`` adds to ``component`` over BASE."""
    return points(replace(BASE, **change))[component] - points(BASE)[component]  # type: ignore[arg-type]


def test_weights_add_up_to_one_hundred() -> None:
    assert sum(WEIGHTS.values()) == 100


def test_the_floor_is_the_platform_and_position_alone() -> None:
    # x: permanence 0.2 of 20 = 4; a reply: 0.4 of 10 = 4; nothing else known.
    assert rate(BASE).value == 8


def test_reach_counts_on_a_log_scale_full_at_a_million() -> None:
    assert gain({"reach": 999_999}, "reach") == WEIGHTS["reach"]
    assert gain({"reach": 5_000_000}, "reach") == WEIGHTS["reach"]  # capped
    assert round(gain({"reach": 999}, "reach"), 6) == WEIGHTS["reach"] / 2  # 3 of 6 decades
    assert gain({"reach": None}, "reach") == 0


def test_engagement_counts_on_a_log_scale_full_at_ten_thousand() -> None:
    assert gain({"engagement": 9_999, "observed_at": POSTED + timedelta(days=400)}, "engagement") == 20
    assert round(gain({"engagement": 99}, "engagement"), 6) == 10


def test_velocity_is_engagement_per_hour_since_posting() -> None:
    fast = replace(BASE, engagement=999, observed_at=POSTED + timedelta(hours=1))
    slow = replace(BASE, engagement=999, observed_at=POSTED + timedelta(days=100))
    assert points(fast)["velocity"] == WEIGHTS["velocity"]  # 999 an hour: 3 decades, full
    assert points(slow)["velocity"] < 2
    assert points(fast)["engagement"] == points(slow)["engagement"]  # the same engagement otherwise
    # less than an hour old counts as an hour, not as a burst
    assert points(replace(fast, observed_at=POSTED + timedelta(minutes=1)))["velocity"] == WEIGHTS["velocity"]


def test_a_million_member_community_gives_its_whole_weight() -> None:
    assert gain({"community_size": 1_000_000}, "community") == WEIGHTS["community"]
    assert round(gain({"community_size": 999}, "community"), 6) == WEIGHTS["community"] / 2


def test_a_wiki_article_or_an_answer_outlives_a_timeline_post() -> None:
    wiki = points(replace(BASE, platform="wikipedia", kind="article"))
    answer = points(replace(BASE, platform="stackexchange", kind="answer"))
    tweet = points(replace(BASE, kind="post"))
    assert wiki["permanence"] == 20 > answer["permanence"] == 18 > tweet["permanence"] == 4
    assert points(replace(BASE, platform="a-plugin"))["permanence"] == 8  # an unknown platform: middling


def test_a_link_in_the_post_itself_beats_one_in_a_reply() -> None:
    assert points(replace(BASE, kind="post"))["position"] == 10
    assert points(replace(BASE, kind="answer"))["position"] == 8
    assert points(BASE)["position"] == points(replace(BASE, kind="comment"))["position"] == 4


def test_a_descriptive_anchor_beats_a_bare_url() -> None:
    assert anchor_specificity("How to tune PostgreSQL autovacuum") == 1.0
    assert anchor_specificity("autovacuum") == 0.5
    assert anchor_specificity("click here") == anchor_specificity("Here.") == 0.2
    assert anchor_specificity("https://example.com/guide") == 0.0
    assert anchor_specificity("example.com/guide") == anchor_specificity("www.example.com") == 0.0
    assert anchor_specificity(None) == anchor_specificity("  ") == 0.0
    assert gain({"anchor_text": "How to tune autovacuum"}, "anchor") == WEIGHTS["anchor"]


def test_the_quality_case_of_the_seed() -> None:
    """An answer in a million-member community that people engage with is worth far more than a reply in a
    dead thread."""
    answer = Signals(
        platform="reddit", kind="post", reach=1_200_000, engagement=850, community_size=1_200_000,
        created_at=POSTED, observed_at=POSTED + timedelta(hours=24), anchor_text="A guide to autovacuum",
    )  # fmt: skip
    dead = replace(BASE, platform="reddit", kind="comment", anchor_text="https://example.com/x")
    assert rate(answer).value >= 75
    assert rate(dead).value <= 20
    assert 0 <= rate(dead).value <= rate(answer).value <= 100


def test_why_names_the_largest_components_first() -> None:
    rating = rate(replace(BASE, platform="wikipedia", kind="article", reach=1_000_000))
    assert rating.why() == "audience 25, lasting platform 20, in the post itself 10"
    assert rating.why(1) == "audience 25"


def stored(store: Store, platform_id: str) -> tuple[int | None, str | None]:
    with store.read() as conn:
        row = conn.execute(
            select(mentions.c.value, mentions.c.value_why).where(mentions.c.platform_id == platform_id)
        ).one()
    return row[0], row[1]


def test_value_is_stored_at_ingest_and_follows_each_engagement_refresh(store: Store, clock: Clock) -> None:
    posted = clock() - timedelta(hours=2)
    item = mention(
        "1", created_at=posted, links=(Link("https://example.com/guide", "text", "A guide to autovacuum"),),
        author_followers=999,
    )  # fmt: skip
    write(store, clock, matched(item))
    expected = rate(
        Signals(platform="hackernews", kind="post", reach=999, created_at=posted, observed_at=clock(),
                anchor_text="A guide to autovacuum")
    )  # fmt: skip
    assert stored(store, "1") == (expected.value, expected.why())
    assert expected.value == round(12.5 + 14 + 10 + 5)  # reach 3 of 6 decades, HN, a post, a good anchor
    clock.advance(hours=1)
    write(store, clock, matched(replace(item, metrics=Metrics(score=99))))  # a refresh: engagement arrived
    value, why = stored(store, "1")
    assert value is not None and value > expected.value
    assert why is not None and "engagement" in why
    clock.advance(hours=1)
    write(store, clock, matched(replace(item, metrics=Metrics(score=99))))  # nothing new: kept as it was
    assert stored(store, "1")[0] == value
    (record,) = store.iter_mentions()
    assert record.value == value and record.to_dict()["value"] == value


def test_migration_0007_rates_the_mentions_already_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with database_at(url, "0006") as conn:
        conn.exec_driver_sql(
            "INSERT INTO mentions (platform, platform_id, kind, permalink, created_at, first_seen_at, last_seen_at, "
            "engagement, reach) VALUES ('wikipedia', 'en.wikipedia.org:1', 'article', 'https://en.wikipedia.org/a', "
            "'2026-11-01 10:00:00.000000', '2026-11-01 10:00:00.000000', '2026-11-02 10:00:00.000000', NULL, 999999)"
        )
        conn.exec_driver_sql(
            "INSERT INTO links (mention_id, position, url, canonical_url, domain, anchor_text, source) "
            "VALUES (1, 0, 'https://example.com/a', 'https://example.com/a', 'example.com', 'The A guide', 'text')"
        )
    store = Store.open(url)
    try:
        assert stored(store, "en.wikipedia.org:1") == (
            60, "audience 25, lasting platform 20, in the post itself 10",
        )  # fmt: skip  # a million views, a wiki article, a descriptive anchor: 25 + 20 + 10 + 5
    finally:
        store.close()
