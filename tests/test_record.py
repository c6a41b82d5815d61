"""The mention record: an immutable, validated value with UTC times and a derived engagement."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.support.factories import mention
from tracker.record import Link, Metrics, RecordError, format_utc, parse_iso


def test_a_mention_is_immutable() -> None:
    record = mention()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.text = "changed"  # type: ignore[misc]


def test_times_are_converted_to_utc_and_naive_times_are_rejected() -> None:
    berlin = timezone(timedelta(hours=1))
    record = mention(created_at=datetime(2026, 11, 17, 10, 15, tzinfo=berlin))
    assert record.created_at == datetime(2026, 11, 17, 9, 15, tzinfo=UTC)
    assert record.created_at.tzinfo is UTC
    with pytest.raises(RecordError, match="no timezone"):
        mention(created_at=datetime(2026, 11, 17, 10, 15))


@pytest.mark.parametrize(
    ("metrics", "engagement"),
    [
        (Metrics(), None),
        (Metrics(views=1000), None),
        (Metrics(likes=3), 3),
        (Metrics(likes=3, reposts=2, replies=1, quotes=4, score=10, views=999), 20),
        (Metrics(likes=0), 0),
    ],
)
def test_engagement_sums_the_known_metrics_except_views(metrics: Metrics, engagement: int | None) -> None:
    assert mention(metrics=metrics).engagement == engagement


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "repost"}, "kind 'repost'"),
        ({"permalink": "http://insecure.test/1"}, "not an https URL"),
        ({"platform": ""}, "needs a platform"),
    ],
)
def test_invalid_records_are_rejected(fields: dict[str, str], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        mention(**fields)


def test_a_link_source_must_be_one_of_the_contract_values() -> None:
    with pytest.raises(RecordError, match="link source"):
        Link("https://example.com", "bio")


def test_to_dict_gives_the_contract_fields_with_z_times() -> None:
    record = mention(metrics=Metrics(likes=2, views=9))
    data = record.to_dict()
    assert data["created_at"] == "2026-11-16T12:00:00Z"
    assert (data["likes"], data["views"], data["engagement"], data["reposts"]) == (2, 9, 2, None)
    assert data["links"] == [
        {
            "url": "https://example.com/page",
            "canonical_url": None,
            "domain": None,
            "anchor_text": "a page",
            "source": "text",
        }
    ]


def test_iso_parsing_and_formatting_round_trip_in_utc() -> None:
    assert parse_iso("2014-05-30T16:36:04.000Z") == datetime(2014, 5, 30, 16, 36, 4, tzinfo=UTC)
    assert parse_iso("2014-05-30T18:36:04+02:00") == datetime(2014, 5, 30, 16, 36, 4, tzinfo=UTC)
    assert format_utc(datetime(2026, 11, 17, 9, 15, 2, 999, tzinfo=UTC)) == "2026-11-17T09:15:02Z"
    with pytest.raises(RecordError):
        parse_iso("yesterday")
