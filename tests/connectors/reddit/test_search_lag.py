"""Reddit's search index lags behind its listings: the search reads back ``search_overlap`` past the newest
post it has read, so a post indexed late is still found behind posts read before, and none is stored twice."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_server import RecordingServer
from tests.support.reddit_api import SEARCH, RedditRig, recorded

NOW = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def self_post(number: int, posted: datetime, url: str) -> dict[str, Any]:
    """A self post in r/redditdev whose text links to ``url`` (a copy of a recorded one): only the search
    finds it, the domain's listing holds link posts alone."""
    template = next(t for t in recorded(SEARCH) if t["data"]["name"] == "t3_3gpbiu")
    post = copy.deepcopy(template)
    post["data"].update(
        id=f"zlag{number}", name=f"t3_zlag{number}", created_utc=posted.timestamp(), created=posted.timestamp(),
        selftext=f"Notes on the setup: {url}", selftext_html=None,
        permalink=f"/r/redditdev/comments/zlag{number}/notes/",
    )  # fmt: skip
    return post


def test_a_post_the_search_indexes_late_is_found_behind_one_already_read(
    server: RecordingServer, tmp_path: Path
) -> None:
    read_first = self_post(1, NOW - timedelta(minutes=5), "https://example.com/first")
    rig = RedditRig(server, tmp_path, [read_first], now=NOW, domains=("example.com",))
    assert (rig.poll().new, set(rig.mentions())) == (1, {"t3_zlag1"})
    # posted before the one already read, but in the search index only now (well within the 1h overlap)
    rig.fake.add([self_post(2, NOW - timedelta(minutes=20), "https://example.com/late")])
    rig.clock.advance(minutes=10)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert set(rig.mentions()) == {"t3_zlag1", "t3_zlag2"}
    assert rig.fake.served[-1] == ["t3_zlag1", "t3_zlag2"]  # one page: the seen post, then the late one
    assert rig.fake.problems == [] and server.unexpected == []
    rig.close()


def test_the_search_reads_back_no_further_than_its_overlap(server: RecordingServer, tmp_path: Path) -> None:
    rig = RedditRig(
        server, tmp_path, [self_post(1, NOW - timedelta(minutes=5), "https://example.com/first")], now=NOW,
        domains=("example.com",), extra='search_overlap = "30m"\n',
    )  # fmt: skip
    rig.poll()
    rig.fake.add(
        [
            self_post(2, NOW - timedelta(minutes=25), "https://example.com/within"),
            self_post(3, NOW - timedelta(minutes=50), "https://example.com/beyond"),
        ]
    )
    rig.clock.advance(minutes=10)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert set(rig.mentions()) == {"t3_zlag1", "t3_zlag2"}
    rig.close()
