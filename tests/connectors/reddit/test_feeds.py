"""The Reddit connector without an API key (``auth = "none"``): the public Atom feeds.

No recording of Reddit's feeds exists, so the local Reddit renders its recorded listings as Reddit's Atom
(see ``tests/support/reddit_api.py``), and one hand-written feed checks the parsing of each kind of entry.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.reddit.feeds import entry_mention, is_gone_entry, parse_feed
from tests.support.http_server import RecordingServer, Reply
from tests.support.recordings import recording
from tests.support.reddit_api import (
    ALL_COMMENTS,
    ALL_NEW,
    DATA,
    DOMAIN_NEW,
    SEARCH,
    USER_AGENT,
    RedditRig,
    recorded,
    synthetic_posts,
)
from tracker.status import collect

NOW = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)
WATCH = ("videos", "smashbros", "The_Donald")


def pool() -> list[dict[str, object]]:
    return recorded(DOMAIN_NEW) + recorded(ALL_NEW) + recorded(SEARCH) + recorded(ALL_COMMENTS)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def rig(server: RecordingServer, tmp_path: Path) -> Iterator[RedditRig]:
    made = RedditRig(server, tmp_path, pool(), now=NOW, watch=WATCH, auth="none")
    yield made
    made.close()
    assert made.fake.problems == []
    assert server.unexpected == []


def test_the_feeds_find_the_same_posts_and_comments_as_the_api(
    rig: RedditRig, server: RecordingServer, tmp_path: Path
) -> None:
    result = rig.poll()
    assert (result.status, result.error, result.skipped) == ("ok", None, 0)
    by_feed = rig.mentions()
    api = RedditRig(server, tmp_path / "api", pool(), now=NOW, watch=WATCH)
    api.poll()
    by_api = api.mentions()
    assert set(by_feed) == set(by_api)
    assert len(by_feed) == 115
    for fullname, mention in by_api.items():
        fed = by_feed[fullname]
        assert (fed.kind, fed.permalink, fed.community, fed.title) == (
            mention.kind, mention.permalink, mention.community, mention.title
        )  # fmt: skip
        assert (fed.author_handle, fed.created_at, fed.thread_id) == (
            mention.author_handle, mention.created_at, mention.thread_id
        )  # fmt: skip
        assert [(link.canonical_url, link.anchor_text) for link in fed.links] == [
            (link.canonical_url, link.anchor_text) for link in mention.links
        ], fullname
        assert fed.metrics.is_empty  # the feeds carry no score or comment count
    api.close()


def test_the_feeds_are_read_without_credentials_with_the_configured_user_agent(rig: RedditRig) -> None:
    rig.poll()
    assert rig.fake.token_requests() == [] and rig.fake.api_requests() == []
    reads = [(r.path, {k: v[0] for k, v in r.query.items()}) for r in rig.fake.feed_requests()]
    query = 'site:youtube.com OR selftext:"youtube.com"'
    assert reads == [
        ("/feeds/domain/youtube.com/new/.rss", {"limit": "100"}),
        ("/feeds/domain/youtube.com/new/.rss", {"limit": "100", "after": "t3_5d7oqb"}),
        ("/feeds/search.rss", {"q": query, "sort": "new", "limit": "100"}),
        ("/feeds/search.rss", {"q": query, "sort": "new", "limit": "100", "after": "t3_5d7or7"}),
        ("/feeds/r/videos+smashbros+The_Donald/comments/.rss", {"limit": "100"}),
    ]
    assert {r.headers["user-agent"] for r in rig.fake.feed_requests()} == {USER_AGENT}


def test_a_later_pass_of_the_feeds_reads_only_what_is_new(rig: RedditRig) -> None:
    first = rig.poll()
    rig.fake.add(synthetic_posts(recorded(DOMAIN_NEW)[0], 2, start=NOW.timestamp() + 60))
    rig.clock.advance(minutes=30)
    before = len(rig.fake.feed_requests())
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 2)
    assert len(rig.fake.feed_requests()) - before == 3  # one page per source
    rig.clock.advance(minutes=30)
    assert rig.poll().new == 0
    assert len(rig.mentions()) == first.new + 2


def test_the_feeds_stay_within_ten_requests_a_minute(server: RecordingServer, tmp_path: Path) -> None:
    things = synthetic_posts(recorded(DOMAIN_NEW)[0], 500, start=NOW.timestamp() - 500 * 60)
    rig = RedditRig(server, tmp_path, things, now=NOW, auth="none")
    result = rig.poll()  # 6 pages of the listing (the last one empty), 6 of the search
    assert (result.status, result.new) == ("ok", 500)
    assert len(rig.fake.feed_requests()) == 12
    assert rig.sleeps == [60.0, 60.0]  # the frozen clock never moves: the 11th and 12th wait a minute
    rig.close()


def test_a_403_from_reddits_anti_bot_wall_is_reported_plainly(rig: RedditRig) -> None:
    rig.fake.script = [
        Reply(403, "<!doctype html><html><body>blocked</body></html>", {"Content-Type": "text/html"})
    ]
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "/domain/youtube.com/new/.rss: Reddit's anti-bot wall refused the public feeds (HTTP 403); it blocks "
        "addresses and user agents it takes for bots for a while: keep a descriptive user_agent, a long "
        'interval (30m or more), or get an API key and use auth = "oauth"'
    )
    assert len(rig.fake.feed_requests()) == 1


def test_a_429_from_the_feeds_is_retried_within_bounds_then_reported_plainly(rig: RedditRig) -> None:
    rig.fake.fault = "rate_limit"
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None and "anti-bot wall refused the public feeds (HTTP 429)" in result.error
    assert len(rig.fake.feed_requests()) == 5 and rig.sleeps == [2.0, 2.0, 2.0, 2.0]
    rig.fake.fault = None
    rig.clock.advance(minutes=30)
    assert rig.poll().status == "ok"


def test_an_html_page_instead_of_a_feed_is_retried(rig: RedditRig) -> None:
    rig.fake.script = [
        Reply(
            200,
            "<!DOCTYPE html><html><body>whoa there, pardner!</body></html>",
            {"Content-Type": "text/html"},
        )
    ]
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 115)
    assert len(rig.sleeps) == 1


def test_a_malformed_feed_fails_the_pass_after_bounded_retries(rig: RedditRig) -> None:
    rig.fake.fault = "malformed"
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None and "the feed was not well-formed XML" in result.error
    assert "gave up after 5 attempts" in result.error


def test_a_hand_written_reddit_feed_is_read_entry_by_entry() -> None:
    items = parse_feed((DATA / "hand_written__domain_example.com_new.atom").read_bytes())
    assert [item.fullname for item in items] == ["t3_1gq2x7a", "t3_1gq1zzz", "t3_1gq0aaa"]
    link_post, self_post, removed = items
    post = entry_mention(link_post.payload)
    assert (post.kind, post.community, post.author_handle) == ("post", "r/programming", "site_fan")
    assert (
        post.permalink
        == "https://www.reddit.com/r/programming/comments/1gq2x7a/how_we_cut_our_build_times_in_half/"
    )
    assert post.created_at == datetime(2026, 11, 17, 8, 41, 5, tzinfo=UTC)
    assert [(link.url, link.source, link.anchor_text) for link in post.links] == [
        (
            "https://example.com/blog/build-times?utm_source=reddit&id=7",
            "url_field",
            "How we cut our build times in half",
        )
    ]
    assert (post.text, post.metrics.is_empty) == (None, True)
    question = entry_mention(self_post.payload)
    assert question.text == (
        "I followed the setup guide but pip fails. Also tried the notes at example.com/faq & still stuck."
    )
    assert [(link.url, link.source, link.anchor_text) for link in question.links] == [
        ("https://docs.example.com/tutorial/step-2#setup", "text", "the setup guide"),
        ("example.com/faq", "text", None),
    ]
    assert is_gone_entry(removed.payload) and not is_gone_entry(self_post.payload)


def test_a_removed_entry_is_reported_deleted_not_recorded(server: RecordingServer, tmp_path: Path) -> None:
    things = recorded(DOMAIN_NEW)
    things[0]["data"].update(
        is_self=True, selftext_html='<!-- SC_OFF --><div class="md"><p>[removed]</p>\n</div><!-- SC_ON -->'
    )
    rig = RedditRig(server, tmp_path, things, now=NOW, auth="none", extra="search = false\n")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 99)
    assert "t3_5d7qul" not in rig.mentions()
    rig.close()


def test_feed_mode_cannot_refresh_and_says_why(rig: RedditRig) -> None:
    rig.poll()
    poller = rig.poller()
    assert poller.connector("reddit").refresh_kinds == frozenset()
    result = poller.refresh("reddit", ["t3_5d7qul"])
    poller.close()
    assert result.status == "failed"
    assert (
        result.error
        == 'the public Reddit feeds cannot look posts up; engagement refresh needs auth = "oauth"'
    )


def test_status_and_check_say_which_mode_runs(
    rig: RedditRig, server: RecordingServer, tmp_path: Path
) -> None:
    rig.poll()
    (status,) = collect(rig.config, rig.store, rig.clock())
    assert (status.mode, status.health, status.requests_this_month) == ("feeds", "healthy", 5)
    connector = rig.poller().connector("reddit")
    assert connector.describe(rig.config.domains) == (
        "reads Reddit new link posts, searches for self posts and new comments in r/videos, r/smashbros, "
        "r/The_Donald linking to youtube.com, through the public Atom feeds (no API key, no metrics); at least 3 "
        "request(s) a pass"
    )
    assert rig.config.connectors["reddit"].interval.total_seconds() == 30 * 60  # gentler by default
    api = RedditRig(server, tmp_path / "api", [], now=NOW)
    (api_status,) = collect(api.config, api.store, api.clock())
    assert api_status.mode == "oauth"
    assert api.config.connectors["reddit"].interval.total_seconds() == 10 * 60
    api.close()


def test_feed_mode_runs_without_importing_praw(tmp_path: Path) -> None:
    code = f"""
import sys
from datetime import UTC, datetime
from pathlib import Path
from tests.support.http_server import RecordingServer
from tests.support.reddit_api import DOMAIN_NEW, RedditRig, recorded
with RecordingServer() as server:
    rig = RedditRig(server, Path({str(tmp_path)!r}), recorded(DOMAIN_NEW), now=datetime(2016, 12, 22, tzinfo=UTC), auth="none")
    result = rig.poll()
    rig.close()
print(result.status, result.new, "praw" in sys.modules, "prawcore" in sys.modules)
"""
    recording("reddit", DOMAIN_NEW)  # the child reads it: skip here without the recordings
    root = Path(__file__).parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip().splitlines()[-1] == "ok 100 False False"
