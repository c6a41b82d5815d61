"""The Reddit connector's sources, records and cursors, against a local Reddit serving recorded listings to
real praw."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.http_server import RecordingServer, Reply
from tests.support.reddit_api import (
    ALL_COMMENTS,
    ALL_NEW,
    DOMAIN_NEW,
    SEARCH,
    USER_AGENT,
    RedditRig,
    recorded,
    synthetic_posts,
)
from tracker.schema import coverage_gaps, mentions
from tracker.settings import DomainSettings

NOW = datetime(2016, 12, 22, 3, 0, tzinfo=UTC)  # 42 minutes after the newest recorded post
WATCH = ("videos", "smashbros", "The_Donald")
R_ALL_NEW_YOUTUBE = {
    "t3_5jo10d", "t3_5jo10g", "t3_5jo10q", "t3_5jo10y", "t3_5jo11z", "t3_5jo120", "t3_5jo12e", "t3_5jo13c",
    "t3_5jo13j", "t3_5jo13w", "t3_5jo13y",
}  # fmt: skip
COMMENTS_YOUTUBE = {"t1_dbhn0zu", "t1_dbhn12f", "t1_dbhn14x"}  # in r/smashbros, r/videos, r/The_Donald


def pool() -> list[dict[str, object]]:
    return recorded(DOMAIN_NEW) + recorded(ALL_NEW) + recorded(SEARCH) + recorded(ALL_COMMENTS)


def names(listing: str) -> set[str]:
    return {str(thing["data"]["name"]) for thing in recorded(listing)}  # type: ignore[index]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def rig(server: RecordingServer, tmp_path: Path) -> Iterator[RedditRig]:
    made = RedditRig(server, tmp_path, pool(), now=NOW, watch=WATCH)
    yield made
    made.close()
    assert made.fake.problems == []
    assert server.unexpected == []


def test_link_posts_self_posts_and_comments_linking_to_the_domain_are_found(rig: RedditRig) -> None:
    result = rig.poll()
    assert (result.status, result.error, result.skipped) == ("ok", None, 0)
    found = rig.mentions()
    # the domain listing (m.youtube.com included), link posts of r/all/new, a self post found by the search
    # (its text links to YouTube) and three comments in the watched subreddits
    assert set(found) == names(DOMAIN_NEW) | R_ALL_NEW_YOUTUBE | {"t3_3gpbiu"} | COMMENTS_YOUTUBE
    assert result.new == len(found) == 115
    assert found["t3_5d7qfn"].links[0].url == "https://m.youtube.com/watch?v=vnPg0oh-SJU"


def test_a_link_post_is_recorded_with_its_url_title_community_and_raw_payload(rig: RedditRig) -> None:
    rig.poll()
    post = rig.mentions()["t3_5d7qul"]
    assert (post.platform, post.kind, post.thread_id) == ("reddit", "post", "t3_5d7qul")
    assert post.permalink == (
        "https://www.reddit.com/r/ghostrobo/comments/5d7qul/watch_dogs_2_dlc_gameplay_the_ultimate_pack_all/"
    )
    assert (post.community, post.author_handle, post.text) == ("r/ghostrobo", "ChannelBot", None)
    assert (
        post.title
        == "Watch Dogs 2 DLC Gameplay - THE ULTIMATE PACK!! ALL SKINS / OUTFITS / CARS on PS4 PRO!!"
    )
    assert post.created_at == datetime(2016, 11, 16, 6, 17, 3, tzinfo=UTC)
    (link,) = post.links
    assert (link.url, link.source, link.anchor_text) == (
        "https://www.youtube.com/watch?v=J8VSHDDKMas",
        "url_field",
        post.title,
    )
    assert (link.canonical_url, link.domain) == ("https://youtube.com/watch?v=J8VSHDDKMas", "youtube.com")
    # Reddit hides the score of a new post in this subreddit: unknown, not 1; no comments yet
    assert (post.metrics.score, post.metrics.replies) == (None, 0)
    recorded_data = next(t["data"] for t in recorded(DOMAIN_NEW) if t["data"]["name"] == "t3_5d7qul")
    assert json.loads(post.raw or "") == recorded_data


def test_a_self_post_is_recorded_with_its_text_score_and_comment_count(rig: RedditRig) -> None:
    rig.poll()
    post = rig.mentions()["t3_3gpbiu"]
    assert post.permalink == (
        "https://www.reddit.com/r/redditdev/comments/3gpbiu/prawoauth2util_problem_using_get_banned_raise/"
    )
    assert post.text is not None and post.text.startswith("# solved\n\nProblem solved with this:")
    assert (post.metrics.score, post.metrics.replies, post.engagement) == (0, 21, 21)
    assert [(link.url, link.source, link.anchor_text) for link in post.links] == [
        ("https://www.youtube.com/watch?v=0N0rplcH32g&t=241", "text", None),
        ("https://www.youtube.com/watch?v=l1HUk2LEJxU", "text", None),
    ]


def test_comments_keep_their_thread_parent_and_markdown_anchor_texts(rig: RedditRig) -> None:
    rig.poll()
    found = rig.mentions()
    gavin = found["t1_dbhn12f"]
    assert (gavin.kind, gavin.community, gavin.author_handle) == ("comment", "r/videos", "Gaelfling")
    assert gavin.permalink == "https://www.reddit.com/r/videos/comments/5jm6k4/_/dbhn12f/"
    assert (gavin.thread_id, gavin.parent_id) == ("t3_5jm6k4", "t1_dbhjxhc")
    assert gavin.title == "Why aren't Slow Mo Guys videos 60fps?"  # the post it was made on (link_title)
    assert gavin.text is not None and gavin.text.endswith("His name is Gavin Free.")
    assert [(link.anchor_text, link.canonical_url) for link in gavin.links] == [
        ("Here", "https://youtube.com/channel/UCkxctb0jr8vwa4Do6c6su0Q"),
        ("here", "https://youtube.com/channel/UCsB0LwkHPWyjfZ-JwvtwEXw"),
        ("here", "https://youtube.com/channel/UCzH3iADRIq1IJlIXjfNgTpA"),
    ]
    assert gavin.metrics.score is None  # score_hidden
    video = found["t1_dbhn14x"].links[0]
    assert (video.anchor_text, video.source) == ("Here's a video", "text")
    assert video.url == "https://www.youtube.com/watch?v=tqazyJpEAHM&feature=youtu.be&t=14m56s"
    bare = found["t1_dbhn0zu"].links[0]
    assert (bare.url, bare.anchor_text) == ("https://www.youtube.com/watch?v=8B0AY3EA4Xc", None)
    assert found["t1_dbhn14x"].metrics.score == 1


def test_self_posts_are_found_through_the_search_with_their_anchor_texts(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = RedditRig(server, tmp_path, pool(), now=NOW, domains=("github.com",))
    result = rig.poll()
    assert result.status == "ok"
    found = rig.mentions()
    assert set(found) == {"t3_4at068", "t3_3b4erh"}  # no link post in the recordings goes to GitHub
    anchors = [(link.anchor_text, link.url) for link in found["t3_4at068"].links]
    assert anchors == [
        (
            "最近（去年の 12 月）コミットされた",
            "https://github.com/reddit/reddit/commit/c88036cdaf8367421f1532163a1e919c93a8489b#diff-deac0950e3b444d3903780f9fc5d73caR64",
        ),
        (
            "隔離（quarantine）されたサブレにおいて",
            "https://github.com/reddit/reddit/commit/fae672ea8ef4cdb862e4458dea114775f9775813#diff-b30ccce2e7c1e5715267c9bb69830c74R593",
        ),
        (None, "https://github.com/reddit/reddit/compare/b71d8b...20759d"),
    ]
    assert found["t3_4at068"].title == "たびたび話題になるサイドバーの閲覧中ユーザ数について（また）調べた"
    rig.close()


def test_each_source_is_read_through_its_documented_endpoint(rig: RedditRig, server: RecordingServer) -> None:
    rig.poll()
    (token,) = rig.fake.token_requests()
    assert token.body == b"grant_type=client_credentials"
    assert token.headers["authorization"].startswith("Basic ")  # the fake checks client id and secret
    assert token.headers["user-agent"].startswith(USER_AGENT + " PRAW/")
    reads = [(r.path, {k: v[0] for k, v in r.query.items()}) for r in rig.fake.api_requests()]
    query = 'site:youtube.com OR selftext:"youtube.com"'
    search = {"q": query, "sort": "new", "t": "all", "restrict_sr": "False", "syntax": "lucene"}
    assert reads == [
        ("/oauth/domain/youtube.com/new", {"limit": "100", "raw_json": "1"}),
        ("/oauth/domain/youtube.com/new", {"limit": "100", "raw_json": "1", "after": "t3_5d7oqb"}),
        ("/oauth/r/all/search/", {**search, "limit": "100", "raw_json": "1"}),
        ("/oauth/r/all/search/", {**search, "limit": "100", "raw_json": "1", "after": "t3_5d7or7"}),
        ("/oauth/r/videos+smashbros+The_Donald/comments/", {"limit": "100", "raw_json": "1"}),
        # comments come without their subreddit's size (posts carry it): one lookup for the three
        ("/oauth/api/info/", {"sr_name": "smashbros,the_donald,videos", "raw_json": "1"}),
    ]
    assert rig.fake.served[0][-1] == "t3_5d7oqb"  # each `after` is the last item of the page before
    assert all(r.headers["authorization"] == f"bearer {rig.fake.token}" for r in rig.fake.api_requests())
    assert rig.fake.tokens_issued == 1


def test_a_second_pass_reads_only_what_is_new_and_stops_at_the_first_seen_item(
    rig: RedditRig, server: RecordingServer
) -> None:
    rig.poll()
    template = recorded(DOMAIN_NEW)[0]
    rig.fake.add(synthetic_posts(template, 2, start=NOW.timestamp() + 60))
    rig.clock.advance(minutes=10)
    before = len(server.requests)
    result = rig.poll()
    assert (result.status, result.new, result.fetched) == ("ok", 2, 4)  # the listing and the search
    second = server.requests[before:]
    # a token, then one page per source: each page reaches an item read before, so no `after` is needed
    assert [r.path for r in second] == [
        "/www/api/v1/access_token",
        "/oauth/domain/youtube.com/new",
        "/oauth/r/all/search/",
        "/oauth/r/videos+smashbros+The_Donald/comments/",
    ]
    assert all("after" not in r.query for r in second)
    assert len(rig.mentions()) == 117


def test_overlapping_passes_store_each_mention_once(
    server: RecordingServer, tmp_path: Path, database_url: str
) -> None:
    rig = RedditRig(server, tmp_path, pool(), now=NOW, watch=WATCH, database_url=database_url)
    rig.poll()
    for _ in range(2):
        rig.clock.advance(minutes=5)
        again = rig.poll()
        assert (again.status, again.new, again.fetched) == ("ok", 0, 0)
    with rig.store.read() as conn:
        rows = conn.execute(select(func.count()).select_from(mentions)).scalar()
    assert rows == len(rig.mentions()) == 115
    rig.close()


def test_a_pass_cut_short_resumes_without_losing_or_duplicating(
    server: RecordingServer, tmp_path: Path, database_url: str
) -> None:
    template = recorded(DOMAIN_NEW)[0]
    things = synthetic_posts(template, 250, start=NOW.timestamp() - 250 * 60)
    rig = RedditRig(server, tmp_path, things, now=NOW, extra="search = false\n", database_url=database_url)
    broken = [Reply(503, "<html>down</html>", {"Content-Type": "text/html"})] * 5
    rig.fake.fail_when = lambda request: broken.pop() if request.param("after") and broken else None
    first = rig.poll()
    assert first.status == "failed" and "gave up after 5 attempts" in (first.error or "")
    assert len(rig.mentions()) == 100  # the first page is stored; its cursor is not
    assert rig.cursors() == {}
    rig.clock.advance(minutes=10)
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 150)
    with rig.store.read() as conn:
        rows = conn.execute(select(func.count()).select_from(mentions)).scalar()
    assert rows == len(rig.mentions()) == 250
    rig.close()


def test_more_than_a_page_of_new_posts_is_read_page_by_page_with_after(
    server: RecordingServer, tmp_path: Path
) -> None:
    template = recorded(DOMAIN_NEW)[0]
    things = synthetic_posts(template, 250, start=NOW.timestamp() - 250 * 60)
    rig = RedditRig(server, tmp_path, things, now=NOW, extra="search = false\n")
    result = rig.poll()
    assert (result.status, result.new, result.pages) == ("ok", 250, 3)
    afters = [r.param("after") for r in rig.fake.api_requests()]
    assert afters == [None, "t3_zz0150", "t3_zz0050"]
    state = rig.cursors()["domain:youtube.com"]
    assert state["newest"] == ["t3_zz0249", NOW.timestamp() - 60]
    assert len(state["seen"]) == 100
    rig.close()


def test_a_vanished_cursor_item_falls_back_to_the_time_bound(server: RecordingServer, tmp_path: Path) -> None:
    template = recorded(DOMAIN_NEW)[0]
    things = synthetic_posts(template, 253, start=NOW.timestamp() - 250 * 60)  # the last 3 come later
    rig = RedditRig(server, tmp_path, things[:250], now=NOW, extra="search = false\n")
    rig.poll()
    for thing in things[150:250]:
        rig.fake.unlist(thing["data"]["name"])  # the newest post and every other one the cursor remembers
    rig.fake.add(things[250:])
    rig.clock.advance(minutes=10)
    before = len(rig.fake.api_requests())
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 3)
    reads = rig.fake.api_requests()[before:]
    assert len(reads) == 1  # the first older post ends the pass: nothing is read again
    assert rig.fake.served[-1][:4] == ["t3_zz0252", "t3_zz0251", "t3_zz0250", "t3_zz0149"]
    rig.close()


def test_a_pass_that_cannot_reach_its_bound_records_a_coverage_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    template = recorded(DOMAIN_NEW)[0]
    things = synthetic_posts(template, 250, start=NOW.timestamp() - 250 * 60)
    rig = RedditRig(server, tmp_path, things, now=NOW, extra="search = false\nmax_items = 200\n")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 200)
    with rig.store.read() as conn:
        (gap,) = conn.execute(select(coverage_gaps)).mappings().all()
    assert gap["source_key"] == "domain:youtube.com"
    assert "max_items = 200" in gap["reason"]
    assert gap["gap_end"] == datetime.fromtimestamp(NOW.timestamp() - 200 * 60, UTC)
    assert rig.cursors()["domain:youtube.com"]["newest"][0] == "t3_zz0249"
    rig.close()


def test_a_backfill_reads_back_to_its_date_with_cursors_of_its_own(
    server: RecordingServer, tmp_path: Path
) -> None:
    template = recorded(DOMAIN_NEW)[0]
    things = synthetic_posts(
        template, 120, start=NOW.timestamp() - 120 * 3600, url="https://youtube.com/v/{n}"
    )
    for thing in things:  # one an hour
        n = int(thing["data"]["id"][2:])
        thing["data"]["created_utc"] = NOW.timestamp() - (120 - n) * 3600
    rig = RedditRig(server, tmp_path, things, now=NOW, extra="search = false\n", lookback="1h")
    rig.poll()
    assert set(rig.mentions()) == {"t3_zz0119"}
    since = datetime.fromtimestamp(NOW.timestamp() - 48.5 * 3600, UTC)
    result = rig.poll(kind="backfill", since=since)
    assert (result.status, result.new) == ("ok", 47)
    assert len(rig.mentions()) == 48
    cursors = rig.cursors()
    assert cursors["backfill:domain:youtube.com"]["since"] == since.timestamp()
    assert cursors["domain:youtube.com"]["newest"][0] == "t3_zz0119"
    rig.close()


def test_a_crosspost_is_a_mention_of_its_own(server: RecordingServer, tmp_path: Path) -> None:
    original = recorded(DOMAIN_NEW)[0]
    crosspost = json.loads(json.dumps(original))
    data = crosspost["data"]
    data.update(
        id="zzcross",
        name="t3_zzcross",
        subreddit="Games",
        permalink="/r/Games/comments/zzcross/watch_dogs_2_dlc/",
        created_utc=data["created_utc"] + 600,
        crosspost_parent="t3_5d7qul",
        crosspost_parent_list=[original["data"]],
    )
    rig = RedditRig(server, tmp_path, [original, crosspost], now=NOW)
    rig.poll()
    found = rig.mentions()
    assert set(found) == {"t3_5d7qul", "t3_zzcross"}
    assert (found["t3_zzcross"].community, found["t3_zzcross"].thread_id) == ("r/Games", "t3_zzcross")
    assert found["t3_zzcross"].links[0].canonical_url == found["t3_5d7qul"].links[0].canonical_url
    rig.close()


def test_a_deleted_account_keeps_its_posts_and_removed_posts_are_not_recorded(
    server: RecordingServer, tmp_path: Path
) -> None:
    things = recorded(SEARCH) + recorded(DOMAIN_NEW)
    by_name = {t["data"]["name"]: t["data"] for t in things}
    by_name["t3_3gpbiu"]["author"] = "[deleted]"  # the account was deleted; the post stays up
    by_name["t3_5d7qul"]["removed_by_category"] = "moderator"  # still listed, but removed
    rig = RedditRig(server, tmp_path, things, now=NOW)
    result = rig.poll()
    assert (result.status, result.skipped) == ("ok", 0)
    found = rig.mentions()
    assert set(found) == (names(DOMAIN_NEW) - {"t3_5d7qul"}) | {"t3_3gpbiu"}
    assert (found["t3_3gpbiu"].author_handle, found["t3_3gpbiu"].author_id) == (None, None)
    rig.close()


def test_an_item_that_cannot_be_read_is_skipped_with_its_reason(
    server: RecordingServer, tmp_path: Path
) -> None:
    things = recorded(DOMAIN_NEW)
    things[3]["data"]["created_utc"] = "yesterday"
    broken = things[3]["data"]["name"]
    rig = RedditRig(server, tmp_path, things, now=NOW, extra="search = false\n")
    result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 99, 1)
    assert result.problems == [f"Reddit {broken}: RecordError: created_utc is 'yesterday', not a timestamp"]
    rig.close()


def test_refresh_reads_current_metrics_100_fullnames_a_request(
    server: RecordingServer, tmp_path: Path
) -> None:
    template = recorded(DOMAIN_NEW)[0]
    things = synthetic_posts(template, 150, start=NOW.timestamp() - 150 * 60)
    rig = RedditRig(server, tmp_path, things, now=NOW, extra="search = false\n")
    rig.poll()
    for thing in things:
        thing_data = rig.fake.things[thing["data"]["name"]]["data"]
        thing_data.update(score=42, num_comments=7, hide_score=False)
    ids = sorted(rig.mentions())
    poller = rig.poller()
    result = poller.refresh("reddit", ids)
    poller.close()
    assert (result.status, result.updated, result.pages) == ("ok", 150, 2)
    lookups = [r.param("id") for r in rig.fake.api_requests() if r.path == "/oauth/api/info/"]
    assert [len((ids_param or "").split(",")) for ids_param in lookups] == [100, 50]
    assert lookups[0] == ",".join(ids[:100])
    assert {(m.metrics.score, m.metrics.replies) for m in rig.mentions().values()} == {(42, 7)}
    rig.close()


def test_refresh_reports_deleted_and_removed_things_deleted(server: RecordingServer, tmp_path: Path) -> None:
    rig = RedditRig(server, tmp_path, pool(), now=NOW, watch=WATCH)
    rig.poll()
    rig.fake.unlist("t1_dbhn12f")  # deleted by its author
    rig.fake.things["t3_5d7qul"]["data"].update(removed_by_category="moderator")
    rig.fake.things["t3_5jo10d"]["data"]["author"] = "[deleted]"  # account gone, post up
    poller = rig.poller()
    result = poller.refresh("reddit", ["t1_dbhn12f", "t3_5d7qul", "t3_5jo10d", "x_123", "t3_notthere"])
    poller.close()
    assert (result.status, result.deleted, result.skipped) == ("ok", 2, 1)
    assert result.problems == ["'x_123' is not a Reddit post or comment id"]
    live = rig.mentions()
    assert "t1_dbhn12f" not in live and "t3_5d7qul" not in live
    assert "t3_5jo10d" in live
    rig.close()


def test_many_watched_subreddits_are_read_forty_to_a_request(server: RecordingServer, tmp_path: Path) -> None:
    watched = ["videos", *(f"sub_{n:02d}" for n in range(44))]
    rig = RedditRig(
        server, tmp_path, recorded(ALL_COMMENTS), now=NOW, watch=watched,
        comment_groups=[watched[:40], watched[40:]], extra="search = false\n",
    )  # fmt: skip
    result = rig.poll()
    assert result.status == "ok"
    assert set(rig.mentions()) == {"t1_dbhn12f"}
    comments = [r.path for r in rig.fake.api_requests() if r.path.endswith("/comments/")]
    assert comments == [
        f"/oauth/r/{'+'.join(watched[:40])}/comments/",
        f"/oauth/r/{'+'.join(watched[40:])}/comments/",
    ]
    assert {key for key in rig.cursors() if key.startswith("comments:")} == {
        "comments:" + "+".join(watched[:40]),
        "comments:" + "+".join(watched[40:]),
    }
    rig.close()


def test_a_recorded_comment_whose_only_link_is_to_an_alias_is_found(
    server: RecordingServer, tmp_path: Path
) -> None:
    hosts = ("discord.com", "discord.gg", "discordapp.com")
    rig = RedditRig(server, tmp_path, pool(), now=NOW, domains=hosts, watch=("GamerPals",))
    # Discord's invitation short domain and its former domain count for discord.com
    aliased = DomainSettings(name="discord.com", aliases=("discord.gg", "discordapp.com"))
    rig.config = dataclasses.replace(rig.config, domains=(aliased,))
    try:
        result = rig.poll()
        assert (result.status, result.error) == ("ok", None)
        found = rig.mentions()
        assert set(found) == {"t1_dbhn100"}  # "come join us at https://discord.gg/dAKZM6y" in r/GamerPals
        (link,) = found["t1_dbhn100"].links
        assert (link.url, link.canonical_url, link.domain) == (
            "https://discord.gg/dAKZM6y", "https://discord.gg/dAKZM6y", "discord.com",
        )  # fmt: skip
        searched = {r.path for r in server.requests if "/domain/" in r.path}
        assert {path.split("/")[-2] for path in searched} >= set(hosts)  # each alias's link listing is read
    finally:
        rig.close()
    assert rig.fake.problems == []
