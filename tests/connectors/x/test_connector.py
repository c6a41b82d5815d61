"""The X connector's searches and records, against a local X API v2 serving recorded pages to real tweepy."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.http_server import RecordingServer
from tests.support.x_api import TOKEN, XRig, id_at, recorded_page, synthetic_posts, time_of
from tracker.schema import coverage_gaps

ITALY = datetime(2022, 9, 26, 0, 5, tzinfo=UTC)  # five minutes after the entities_test posts
KPOP = datetime(2021, 9, 22, 16, 40, tzinfo=UTC)  # a minute after the kpop page was recorded
FIELDS = "created_at,author_id,conversation_id,lang,public_metrics,entities,referenced_tweets,note_tweet"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def italy(server: RecordingServer, tmp_path: Path, *domains: str, **options: str) -> XRig:
    return XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__entities_test.jsonl")],
        now=ITALY,
        domains=domains or ("telodogratis.it",),
        **options,
    )


def test_posts_linking_to_the_domains_are_found_with_their_records(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(
        server, tmp_path, "telodogratis.it", "theguardian.com", "youtube.com", "politico.eu", "agi.it"
    )
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    found = rig.mentions()
    assert set(found) == {
        "1574185191349829632", "1574184942736646150", "1574184714101039104",  # telodogratis.it
        "1574184167478378496", "1574183967972098051",  # theguardian.com
        "1574184402111766528",  # youtube.com, through youtu.be unwound
        "1574186239741333504",  # politico.eu, through politi.co unwound
        "1574184489815015424",  # agi.it, through dlvr.it unwound
    }  # fmt: skip
    guardian = found["1574184167478378496"]
    assert (guardian.kind, guardian.permalink) == (
        "post",
        "https://x.com/Albert_J_H/status/1574184167478378496",
    )
    assert (guardian.author_id, guardian.author_handle) == ("990537607410077696", "Albert_J_H")
    assert (guardian.metrics.likes, guardian.metrics.reposts, guardian.metrics.replies) == (7, 2, 1)
    assert (guardian.metrics.quotes, guardian.metrics.views, guardian.engagement) == (1, 0, 11)
    (link,) = guardian.links
    assert (
        link.anchor_text == "Italy: internal rivalry could threaten the stability of a Meloni-led coalition"
    )
    assert (link.domain, link.source) == ("theguardian.com", "facet")
    reply = found["1574184402111766528"]
    assert (reply.kind, reply.parent_id, reply.author_handle) == (
        "reply",
        "1574146121945022466",
        "VikingHugo",
    )
    assert reply.links[0].url == "https://www.youtube.com/watch?v=OFWlVzxPJn8&feature=youtu.be"
    assert reply.links[0].anchor_text == "Giorgia Meloni: We are ready to govern Italy"
    agi = found["1574184489815015424"].links[0]
    assert (
        agi.canonical_url
        == "https://agi.it/politica/news/2022-09-25/centrodestra-elezioni-vittoria-crollo-lega-18210225"
    )
    assert "(on trial for kidnapping migrants),& the scandal" in (found["1574183967972098051"].text or "")
    assert found["1574185191349829632"].raw is not None
    assert '"edit_history_tweet_ids":["1574185191349829632"]' in found["1574185191349829632"].raw


def test_card_titles_are_anchor_texts_else_the_display_url(server: RecordingServer, tmp_path: Path) -> None:
    rig = XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__kpop.jsonl")],
        now=KPOP,
        domains=("open.kakao.com", "airedesantafe.com.ar", "soompi.com"),
    )
    assert rig.poll().new == 12
    found = rig.mentions()
    kakao = [m for m in found.values() if m.links[0].domain == "open.kakao.com"]
    assert len(kakao) == 10
    assert {(m.author_handle, m.author_followers, m.links[0].anchor_text) for m in kakao} == {
        ("xtxxzinfo", 20, "open.kakao.com/o/sD0YQtwd")
    }
    aire = found["1440717124545114123"]
    assert aire.links[0].anchor_text == 'TWICE estrenará "The Feels" en The Tonight Show'
    assert (aire.lang, aire.thread_id, aire.author_followers) == ("es", "1440717124545114123", 43050)
    assert aire.metrics.views is None  # 2021 posts have no impression_count: unknown, not 0
    assert found["1440716983960363017"].links[0].anchor_text == "soompi.com/article/148964…"


def test_quotes_and_replies_take_their_kind_and_parent_from_the_referenced_ids(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "twitter.com")
    rig.poll()
    found = rig.mentions()
    quote = found["1574186940609581056"]
    assert (quote.kind, quote.parent_id) == ("quote", "1573975826508423169")
    both = found["1574183904948277248"]  # a reply that also quotes: a reply to its parent
    assert (both.kind, both.parent_id) == ("reply", "1574182560854335490")
    assert {m.kind for m in found.values()} == {"post", "reply", "quote"}


def test_each_search_carries_the_documented_parameters(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path, "telodogratis.it", "theguardian.com")
    rig.poll()
    (search,) = rig.api.searches()
    assert search.query == {
        "query": ['(url:"telodogratis.it" OR url:"theguardian.com") -is:retweet'],
        "max_results": ["100"],
        "sort_order": ["recency"],
        "tweet.fields": [FIELDS],
        "expansions": ["author_id"],
        "user.fields": ["username,name,public_metrics,verified"],
        "start_time": ["2022-09-19T00:15:00Z"],  # the 7-day window, less a margin for its moving edge
        "end_time": ["2022-09-26T00:04:30Z"],  # 30 s before the pass: X's index settles
    }
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    assert "mention-tracker" in search.headers["user-agent"]
    assert rig.api.problems == []
    assert set(rig.cursors()) == {"search:telodogratis.it,theguardian.com"}


def test_domains_share_queries_up_to_the_length_limit(server: RecordingServer, tmp_path: Path) -> None:
    domains = ("telodogratis.it", "theguardian.com", "youtube.com", "politico.eu", "agi.it")
    rig = italy(server, tmp_path, *domains, extra="max_query_length = 90\n")
    assert rig.poll().new == 8
    queries = [r.param("query") for r in rig.api.searches()]
    assert queries == [
        '(url:"telodogratis.it" OR url:"theguardian.com" OR url:"youtube.com") -is:retweet',
        '(url:"politico.eu" OR url:"agi.it") -is:retweet',
    ]
    assert all(len(q or "") <= 90 for q in queries)
    assert set(rig.cursors()) == {
        "search:telodogratis.it,theguardian.com,youtube.com",
        "search:politico.eu,agi.it",
    }


def test_look_alike_hosts_that_url_search_matches_are_rejected(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "theguardian.com")
    template = rig.api.tweets["1574184167478378496"]
    for n, host in enumerate(("nottheguardian.com", "theguardian.com.evil.example")):
        fake = copy.deepcopy(template)
        fake["id"] = str(int(template["id"]) + n + 1)
        fake["entities"]["urls"][0].update(
            expanded_url=f"https://{host}/world/x", unwound_url=f"https://{host}/world/x"
        )
        rig.api.add([fake])
    result = rig.poll()
    served = {post_id for page in rig.api.served for post_id in page}
    assert len(served) == result.fetched == 4  # X's url: operator matched the look-alikes...
    assert set(rig.mentions()) == {"1574184167478378496", "1574183967972098051"}  # ...ours did not


def test_every_page_is_read_once_with_the_bounds_of_the_first(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "example.com")
    template = rig.api.tweets["1574184167478378496"]
    rig.api.add(synthetic_posts(template, 250, start=ITALY - timedelta(hours=5)))
    result = rig.poll()
    assert (result.status, result.pages, result.new) == ("ok", 3, 250)
    searches = rig.api.searches()
    assert [r.param("next_token") is None for r in searches] == [True, False, False]
    bounds = {(r.param("start_time"), r.param("end_time"), r.param("since_id")) for r in searches}
    assert len(bounds) == 1  # the same bounds on every page, as X requires with next_token
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250
    state = rig.cursors()["search:example.com"]
    assert state["since_id"] == max(served, key=int)  # the newest post of the first page
    assert "pass" not in state


def test_the_next_pass_reads_only_after_the_newest_post(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path)
    rig.poll()
    newest = rig.cursors()["search:telodogratis.it"]["since_id"]
    assert newest == "1574185191349829632"
    template = rig.api.tweets[newest]
    later = copy.deepcopy(template)
    later["id"] = str(id_at(ITALY + timedelta(minutes=3)))
    later["created_at"] = (ITALY + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    rig.api.add([later])
    rig.clock.advance(minutes=15)
    result = rig.poll()
    assert (result.status, result.fetched, result.new) == ("ok", 1, 1)
    search = rig.api.searches()[-1]
    assert search.param("since_id") == newest
    assert search.param("until_id") == str(id_at(rig.clock.now - timedelta(seconds=30)))
    assert search.param("start_time") is None
    assert rig.cursors()["search:telodogratis.it"]["since_id"] == later["id"]


def test_a_pass_cut_short_resumes_its_paging_without_reading_a_page_twice(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "example.com")
    rig.api.add(synthetic_posts(rig.api.tweets["1574184167478378496"], 250, start=ITALY - timedelta(hours=5)))
    poller = rig.poller(on_page=lambda result: poller.stop.set())  # the process stops after one page
    cut = poller.poll("x")
    poller.close()
    assert (cut.status, cut.new) == ("interrupted", 100)
    pending = rig.cursors()["search:example.com"]["pass"]
    first_token = rig.api.searches()[0]
    assert pending["next_token"] and pending["bounds"] == {
        "start_time": first_token.param("start_time"), "end_time": first_token.param("end_time")
    }  # fmt: skip
    rig.clock.advance(minutes=5)
    resumed = rig.poll()
    assert (resumed.status, resumed.new, resumed.pages) == ("ok", 150, 3)
    second, third, catch_up = rig.api.searches()[1:]
    assert second.param("next_token") == pending["next_token"]
    assert second.param("end_time") == first_token.param("end_time")  # the pass's own bounds, not today's
    assert third.param("next_token") is not None
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250
    assert len(rig.mentions()) == 250
    # Then a new pass reads what came since the interrupted one started.
    assert catch_up.param("since_id") == max(served, key=int)
    assert catch_up.param("until_id") == str(id_at(rig.clock.now - timedelta(seconds=30)))
    assert rig.cursors()["search:example.com"]["since_id"] == str(int(catch_up.param("until_id") or 0) - 1)


def test_an_expired_page_token_reads_on_below_the_oldest_post_read(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "example.com")
    rig.api.add(synthetic_posts(rig.api.tweets["1574184167478378496"], 250, start=ITALY - timedelta(hours=5)))
    poller = rig.poller(on_page=lambda result: poller.stop.set())
    poller.poll("x")
    poller.close()
    oldest = rig.cursors()["search:example.com"]["pass"]["oldest_id"]
    rig.api.expire_tokens()
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 150)
    rejected, retried = rig.api.searches()[1:3]
    assert rejected.param("next_token") is not None
    assert (retried.param("next_token"), retried.param("until_id")) == (None, oldest)
    assert retried.param("since_id") is not None and retried.param("start_time") is None
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250


def test_a_cursor_older_than_the_search_window_restarts_at_its_edge_with_a_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path)
    rig.poll()
    since_id = rig.cursors()["search:telodogratis.it"]["since_id"]
    rig.clock.advance(days=8)  # the tracker was down for 8 days
    result = rig.poll()
    assert result.status == "ok"
    search = rig.api.searches()[-1]
    edge = rig.clock.now - timedelta(days=7) + timedelta(minutes=10)
    assert (search.param("since_id"), search.param("start_time")) == (
        None,
        edge.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    with rig.store.read() as conn:
        gaps = conn.execute(select(coverage_gaps)).mappings().all()
    assert len(gaps) == 1
    assert gaps[0]["source_key"] == "search:telodogratis.it"
    assert abs(gaps[0]["gap_start"].replace(tzinfo=UTC) - time_of(since_id)) < timedelta(seconds=1)
    assert abs(gaps[0]["gap_end"].replace(tzinfo=UTC) - edge) < timedelta(seconds=1)
    assert rig.api.problems == []


def test_an_unfinished_pass_wholly_out_of_the_window_ends_without_a_request(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "example.com")
    rig.api.add(synthetic_posts(rig.api.tweets["1574184167478378496"], 250, start=ITALY - timedelta(hours=5)))
    poller = rig.poller(on_page=lambda result: poller.stop.set())
    poller.poll("x")
    poller.close()
    newest = rig.cursors()["search:example.com"]["pass"]["newest_id"]
    rig.clock.advance(days=8)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 0)
    searches = rig.api.searches()
    assert len(searches) == 2  # the unread rest is out of reach; only today's window is searched
    edge = rig.clock.now - timedelta(days=7) + timedelta(minutes=10)
    assert searches[1].param("start_time") == edge.strftime("%Y-%m-%dT%H:%M:%SZ")
    with rig.store.read() as conn:
        gaps = conn.execute(select(coverage_gaps).order_by(coverage_gaps.c.gap_start)).mappings().all()
    assert len(gaps) == 2  # what the pass had left, then what came after its newest post
    assert abs(gaps[1]["gap_start"].replace(tzinfo=UTC) - time_of(newest)) < timedelta(seconds=1)
    assert rig.api.problems == []


def test_quiet_days_move_the_cursor_on_and_record_no_gap(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path)
    for _ in range(10):  # one pass a day, nothing new for ten days
        assert rig.poll().status == "ok"
        rig.clock.advance(days=1)
    with rig.store.read() as conn:
        assert conn.execute(select(coverage_gaps)).all() == []
    last = rig.api.searches()[-1]  # made two days before the clock's now, after the one before it
    assert last.param("since_id") == str(id_at(rig.clock.now - timedelta(days=2, seconds=30)) - 1)
    cursor = rig.cursors()["search:telodogratis.it"]
    assert cursor["since_id"] == str(id_at(rig.clock.now - timedelta(days=1, seconds=30)) - 1)
    assert rig.api.problems == []


def test_a_resumed_pass_whose_start_left_the_window_reads_on_below_its_oldest_post(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path, "example.com")
    rig.api.add(synthetic_posts(rig.api.tweets["1574184167478378496"], 250, start=ITALY - timedelta(hours=5)))
    poller = rig.poller(on_page=lambda result: poller.stop.set())
    poller.poll("x")  # the first pass reaches back to the window's edge, then stops after a page
    poller.close()
    pending = rig.cursors()["search:example.com"]["pass"]
    rig.clock.advance(minutes=30)  # its start_time is now older than X accepts
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 150)
    resumed = rig.api.searches()[1]
    edge = rig.clock.now - timedelta(days=7) + timedelta(minutes=10)
    assert resumed.param("until_id") == pending["oldest_id"]
    assert resumed.param("since_id") == str(id_at(edge))
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250
    with rig.store.read() as conn:
        (gap,) = conn.execute(select(coverage_gaps)).mappings().all()
    assert gap["gap_start"].replace(tzinfo=UTC) == datetime.fromisoformat(
        pending["bounds"]["start_time"].replace("Z", "+00:00")
    )
    assert rig.api.problems == []


def test_a_long_post_is_read_from_its_note_tweet(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path, "example.com")
    post = copy.deepcopy(rig.api.tweets["1574184167478378496"])
    post["id"] = str(id_at(ITALY - timedelta(minutes=1)))
    post["text"] = "The start of a long post… https://t.co/short"
    post["note_tweet"] = {
        "text": "The start of a long post, and its end: read more at https://t.co/longlink",
        "entities": {
            "urls": [
                {
                    "start": 52, "end": 75, "url": "https://t.co/longlink",
                    "expanded_url": "https://example.com/long-read", "display_url": "example.com/long-read",
                }
            ]
        },
    }  # fmt: skip
    rig.api.add([post])
    rig.poll()
    (found,) = rig.mentions().values()
    assert found.text == "The start of a long post, and its end: read more at https://t.co/longlink"
    assert [(link.url, link.anchor_text) for link in found.links] == [
        ("https://example.com/long-read", "example.com/long-read")
    ]


def test_posts_by_excluded_authors_are_left_out_of_the_query(server: RecordingServer, tmp_path: Path) -> None:
    rig = italy(server, tmp_path, domain_extra='exclude_authors = ["x:telodogratis", "reddit:someone"]')
    rig.poll()
    assert rig.api.searches()[0].param("query") == 'url:"telodogratis.it" -is:retweet -from:telodogratis'
    assert rig.mentions() == {}
    assert rig.api.served == [[]]  # never read, so never paid for


def test_a_backfill_reads_the_search_window_and_records_what_is_older_as_a_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = italy(server, tmp_path)
    since = ITALY - timedelta(days=30)
    result = rig.poll(kind="backfill", since=since)
    assert (result.status, result.new) == ("ok", 3)
    assert set(rig.cursors()) == {"backfill:search:telodogratis.it"}
    with rig.store.read() as conn:
        (gap,) = conn.execute(select(coverage_gaps)).mappings().all()
    assert gap["gap_start"].replace(tzinfo=UTC) == since
    assert rig.poll().new == 0  # the live cursor starts afresh; the posts are stored once


def test_the_x_library_is_not_imported_to_validate_the_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "tracker.toml").write_text(
        '[[domains]]\nname = "example.com"\n[connectors.x]\nbearer_token = "t"\n', encoding="utf-8"
    )
    code = (
        "import sys\nfrom tracker.config import load_config\nfrom tracker import registry\n"
        "from tracker.connector import ConnectorContext\n"
        f"config = load_config({str(tmp_path / 'tracker.toml')!r}, env={{}})\n"
        "context = ConnectorContext(data_dir=config.data_dir)\n"
        "registry.load('x')('x', config.connectors['x'], context).describe(config.domains)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tweepy', 'requests'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
