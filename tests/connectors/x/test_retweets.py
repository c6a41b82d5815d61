"""Reposts are not mentions: the search asks X to leave them out, and the connector drops any X sends anyway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.http_server import RecordingServer
from tests.support.x_api import XRig, recorded_page

KPOP = datetime(2021, 9, 22, 16, 40, tzinfo=UTC)  # a minute after the kpop page was recorded
# In the recorded kpop page: the one post linking to youtu.be, two retweets of others linking there, and
# retweets linking to tiktok.com (no post of its own does).
YOUTU_BE_POST = "1440716599145631744"
RETWEETS = {"1440716736123191307", "1440716504048168964", "1440717136192626696", "1440715929965383686"}


@pytest.fixture
def rig(server: RecordingServer, tmp_path: Path) -> Iterator[XRig]:
    made = XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__kpop.jsonl")],
        now=KPOP,
        domains=("youtu.be", "tiktok.com"),
    )
    yield made
    made.store.close()
    assert made.api.problems == [] and server.unexpected == []


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def test_a_retweet_the_search_returns_is_not_recorded(rig: XRig) -> None:
    rig.api.retweets_leak = True  # X answers as it did to the recorded query, which had no -is:retweet
    result = rig.poll()
    assert {post_id for page in rig.api.served for post_id in page} >= RETWEETS  # they reached the connector
    assert (result.status, result.new, result.skipped) == ("ok", 1, 0)
    assert set(rig.mentions()) == {YOUTU_BE_POST}


def test_the_search_asks_x_to_leave_retweets_out(rig: XRig) -> None:
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert all("-is:retweet" in search.param("query").split() for search in rig.api.searches())
    assert not RETWEETS & {post_id for page in rig.api.served for post_id in page}
