"""The Hacker News connector against a local Algolia stand-in serving recorded hits."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.hackernews import HIT_CEILING
from tests.conftest import Clock, Sleeps, make_config
from tests.support.algolia import PATH, FakeAlgolia, recorded_hits, recorded_search_by_url
from tests.support.http_server import RecordingServer, Reply, Request
from tracker.poller import Poller, RunResult
from tracker.schema import coverage_gaps
from tracker.settings import DomainSettings
from tracker.store import Store

NOW = datetime(2014, 5, 31, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


class Rig:
    def __init__(
        self, tmp_path: Path, base_url: str, domain: str, extra: str = "", lookback: str = "4000d"
    ) -> None:
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        self.config = make_config(
            tmp_path,
            f"""
            [[domains]]
            name = "{domain}"
            [connectors.hackernews]
            api_base_url = "{base_url}"
            initial_lookback = "{lookback}"
            {extra}
            """,
        )
        self.store = Store.open(self.config.database_url)

    def poll(self) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("hackernews")
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions()}

    def poll_searching(self, algolia: FakeAlgolia) -> tuple[RunResult, list[Request]]:
        """A poll, and the searches it sent."""
        before = len(algolia.searches())
        result = self.poll()
        return result, algolia.searches()[before:]


def test_stories_and_comments_linking_to_the_domain_are_found(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    found = rig.mentions()
    # From the recordings: four stories with a url on nytimes.com (one on bits.blogs.nytimes.com) and one
    # comment whose text links there; other hits mention other sites.
    assert set(found) == {"3174961", "7164280", "6955707", "6913103", "7822564"}
    comment = found["7822564"]
    assert (comment.kind, comment.thread_id, comment.author_handle) == ("comment", "7821917", "baldfat")
    assert comment.permalink == "https://news.ycombinator.com/item?id=7822564"
    assert comment.title == "Death Row – Last words of every inmate executed since 1982"  # its story's
    (link,) = comment.links
    assert link.source == "text"
    assert link.canonical_url == (
        "https://nytimes.com/2012/03/11/us/texas-death-row-appeal-is-more-than-a-matter-of-innocence.html"
        "?_r=0&pagewanted=all"
    )
    story = found["3174961"]
    assert (story.kind, story.author_handle, story.metrics.score, story.metrics.replies) == (
        "post",
        "NaOH",
        1722,
        128,
    )
    assert story.engagement == 1850
    assert story.links[0].source == "url_field"
    assert story.links[0].anchor_text == story.title
    assert found["6955707"].links[0].domain == "nytimes.com"
    assert algolia.problems == []


def test_each_search_carries_the_documented_parameters(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")
    rig.poll()
    story, comment = algolia.searches()[:2]
    high = int(NOW.timestamp())
    low = high - 4000 * 86400
    assert story.query == {
        "query": ["nytimes.com"],
        "tags": ["story"],
        "restrictSearchableAttributes": ["url"],
        "numericFilters": [f"created_at_i>={low},created_at_i<={high}"],
        "hitsPerPage": ["100"],
        "page": ["0"],
    }
    assert comment.query == {
        "query": ["nytimes.com"],
        "tags": ["comment"],
        "numericFilters": [f"created_at_i>={low},created_at_i<={high}"],
        "hitsPerPage": ["100"],
        "page": ["0"],
    }
    assert story.headers["user-agent"].startswith("mention-tracker/")


def test_a_verbatim_recorded_response_is_read(server: RecordingServer, tmp_path: Path) -> None:
    recorded = recorded_search_by_url()

    def search(request: Request) -> Reply:
        if request.param("tags") == "story":
            return Reply(200, recorded)
        return Reply(200, {"hits": [], "nbHits": 0, "page": 0, "nbPages": 0, "hitsPerPage": 100})

    server.route("GET", PATH, search)
    rig = Rig(tmp_path, server.url + "/api/v1", "medium.com", lookback="5000d")
    assert rig.poll().new == 4
    found = rig.mentions()
    assert set(found) == {"8828543", "11516582", "13566801", "8830693"}
    assert len([r for r in server.requests_to(PATH) if r.param("tags") == "story"]) == 1
    assert (
        found["8830693"].links[0].canonical_url
        == "https://medium.com/@shazow/ssh-how-does-it-even-9e43586e4ffc?hn=1"
    )
    top = found["8828543"]
    assert (top.title, top.author_handle, top.metrics.score, top.metrics.replies) == (
        "Why aren’t we using SSH for everything?", "dkua", 270, 103,
    )  # fmt: skip
    assert top.links[0].canonical_url == "https://medium.com/@shazow/ssh-how-does-it-even-9e43586e4ffc"
    assert json.loads(top.raw or "{}")["objectID"] == "8828543"


def test_every_page_of_new_results_is_read(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra="page_size = 1")
    rig.poll()
    pages = [(r.param("tags"), r.param("page")) for r in algolia.searches()]
    assert pages == [("story", "0"), ("story", "1"), ("story", "2"), ("story", "3"), ("comment", "0")]
    assert len(rig.mentions()) == 5


def _story(template: dict[str, Any], object_id: int, created: int, url: str) -> dict[str, Any]:
    hit = copy.deepcopy(template)
    hit.update({"objectID": str(object_id), "created_at_i": created, "url": url})
    return hit


def test_a_window_with_more_hits_than_algolia_serves_is_split(
    server: RecordingServer, tmp_path: Path
) -> None:
    template = next(h for h in recorded_hits() if "story" in h["_tags"] and h.get("url"))
    start = int(NOW.timestamp()) - 86400
    hits = [
        _story(template, 1_000_000 + i, start + i * 30, f"https://example.com/p/{i}") for i in range(2500)
    ]
    algolia = FakeAlgolia(server, hits)
    rig = Rig(tmp_path, algolia.base_url, "example.com", extra="comments = false", lookback="1d")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 2500)
    windows = sorted(
        {tuple(map(int, r.param("numericFilters").replace("created_at_i>=", "").replace("created_at_i<=", "").split(",")))  # type: ignore[union-attr]
         for r in algolia.searches()}
    )  # fmt: skip
    paged = [w for w in windows if sum(1 for h in hits if w[0] <= h["created_at_i"] <= w[1]) <= HIT_CEILING]
    leaves = [w for w in paged if not any(o != w and w[0] <= o[0] and o[1] <= w[1] for o in paged)]
    assert leaves[0][0] == start and leaves[-1][1] == int(NOW.timestamp())
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(leaves))
    assert rig.store.cursors("hackernews")["story:example.com"].state["until"] == int(NOW.timestamp())


def test_more_hits_in_one_second_than_algolia_serves_is_a_recorded_gap(
    server: RecordingServer, tmp_path: Path
) -> None:
    template = next(h for h in recorded_hits() if "story" in h["_tags"] and h.get("url"))
    second = int(NOW.timestamp()) - 10
    hits = [
        _story(template, 2_000_000 + i, second, f"https://example.com/x/{i}") for i in range(HIT_CEILING + 5)
    ]
    algolia = FakeAlgolia(server, hits)
    rig = Rig(tmp_path, algolia.base_url, "example.com", extra="comments = false", lookback="1m")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", HIT_CEILING)
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert gap["source_key"] == "story:example.com"
    assert "more than 1000" in gap["reason"]


def test_the_next_pass_starts_at_the_cursor_minus_the_overlap(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra='overlap = "30m"')
    rig.poll()
    first_end = int(rig.clock().timestamp())
    rig.clock.advance(hours=2)
    second, searches = rig.poll_searching(algolia)
    assert second.new == 0
    story = searches[0]
    assert story.param("numericFilters") == (
        f"created_at_i>={first_end - 1800},created_at_i<={int(rig.clock().timestamp())}"
    )


def test_only_real_hrefs_to_the_domain_count_in_comments(server: RecordingServer, tmp_path: Path) -> None:
    template = next(h for h in recorded_hits() if "comment" in h["_tags"])
    created = int(NOW.timestamp()) - 60
    texts = {
        "1": "I read it on example.com yesterday",  # words, not a link
        "2": 'see <a href="https:&#x2F;&#x2F;example.com.evil.net&#x2F;x">example.com</a>',  # look-alike
        "3": 'see <a href="https:&#x2F;&#x2F;blog.example.com&#x2F;post?utm_source=hn" rel="nofollow">my post</a>',
    }
    hits = []
    for object_id, text in texts.items():
        hit = copy.deepcopy(template)
        hit.update({"objectID": object_id, "created_at_i": created, "comment_text": text})
        hits.append(hit)
    algolia = FakeAlgolia(server, hits)
    rig = Rig(tmp_path, algolia.base_url, "example.com", lookback="1h")
    rig.poll()
    found = rig.mentions()
    assert set(found) == {"3"}
    (link,) = found["3"].links
    assert (link.url, link.canonical_url, link.anchor_text) == (
        "https://blog.example.com/post?utm_source=hn", "https://blog.example.com/post", "my post",
    )  # fmt: skip


class Faulty:
    """Serves the scripted failures first, then the fake Algolia."""

    def __init__(self, algolia: FakeAlgolia, failures: list[Any]) -> None:
        self.algolia = algolia
        self.failures = failures
        algolia.server.route("GET", PATH, self)

    def __call__(self, request: Request) -> Reply:
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, float):
                time.sleep(failure)  # slower than the client's timeout
                return Reply(200, {"hits": []})
            return failure  # type: ignore[no-any-return]
        return self.algolia.search(request)


@pytest.mark.parametrize(
    ("failures", "expected_sleeps", "counted"),
    [
        ([Reply(429, {"message": "slow down"}, {"Retry-After": "7"})], [7.0], {"retried_429": 1}),
        (
            [Reply(503, "busy", {"Content-Type": "text/plain"}), Reply(502, "bad gateway")],
            2,
            {"retried_5xx": 2},
        ),
        ([Reply(200, b"<html>not json</html>", {"Content-Type": "text/html"})], 1, {"retried_bad_json": 1}),
        ([1.5], 1, {"retried_timeout": 1}),
    ],
    ids=["429-retry-after", "5xx", "malformed-json", "timeout"],
)
def test_transient_faults_are_retried_counted_in_the_run_and_nothing_is_lost(
    server: RecordingServer,
    tmp_path: Path,
    failures: list[Any],
    expected_sleeps: Any,
    counted: dict[str, int],
) -> None:
    algolia = FakeAlgolia(server)
    Faulty(algolia, failures)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra='timeout = "1s"')
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 5)
    if isinstance(expected_sleeps, list):
        assert rig.sleeps == expected_sleeps
    else:
        assert len(rig.sleeps) == expected_sleeps
    assert json.loads(rig.store.run(result.run_id)["counters"]) == counted  # type: ignore[arg-type]


def test_a_fault_that_persists_fails_the_run_after_bounded_retries(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    algolia.fault = "server_error"
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.endswith("HTTP 503 from the server; gave up after 5 attempts")
    assert len(rig.sleeps) == 4
    assert rig.store.run(result.run_id)["requests"] == 5  # type: ignore[arg-type]
    assert json.loads(rig.store.run(result.run_id)["counters"]) == {"retried_5xx": 4}  # type: ignore[arg-type]


def test_a_rate_limit_longer_than_the_cap_fails_fast(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    Faulty(algolia, [Reply(429, {}, {"Retry-After": "86400"})])
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")
    result = rig.poll()
    assert result.status == "failed"
    assert "rate limited" in (result.error or "")
    assert rig.sleeps == []


def test_a_malformed_hit_is_skipped_and_counted(server: RecordingServer, tmp_path: Path) -> None:
    template = next(h for h in recorded_hits() if "story" in h["_tags"] and h.get("url"))
    created = int(NOW.timestamp()) - 60
    good = _story(template, 11, created, "https://example.com/ok")
    bad = _story(template, 12, created, "https://example.com/bad")
    del bad["created_at_i"]
    bad["created_at"] = "not a date"
    algolia = FakeAlgolia(server, [good, bad])
    rig = Rig(tmp_path, algolia.base_url, "example.com", extra="comments = false", lookback="1h")
    result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 1, 1)
    assert "Hacker News item '12'" in result.problems[0]


def test_no_request_reads_past_the_start_of_the_pass(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")
    rig.poll()
    highs = {r.param("numericFilters").rsplit("<=", 1)[1] for r in algolia.searches()}  # type: ignore[union-attr]
    assert highs == {str(int(NOW.timestamp()))}
    assert rig.store.cursors("hackernews")["comment:nytimes.com"].state["until"] <= NOW.timestamp()


def test_history_reaches_back_to_the_backfill_date(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")
    poller = Poller(rig.config, rig.store, clock=rig.clock, sleeper=rig.sleeps)
    since = NOW - timedelta(days=10)
    try:
        result = poller.poll("hackernews", kind="backfill", since=since)
    finally:
        poller.close()
    assert result.status == "ok"
    first = algolia.searches()[0]
    assert (
        first.param("numericFilters")
        == f"created_at_i>={int(since.timestamp())},created_at_i<={int(NOW.timestamp())}"
    )
    assert set(rig.store.cursors("hackernews")) == {
        "backfill:story:nytimes.com",
        "backfill:comment:nytimes.com",
    }


def test_a_recorded_story_whose_only_link_is_to_an_alias_is_found(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "tesla.com")
    # Tesla's former domain: its links count for tesla.com, and the connector searches it too
    rig.config = dataclasses.replace(
        rig.config, domains=(DomainSettings(name="tesla.com", aliases=("teslamotors.com",)),)
    )
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    found = rig.mentions()
    assert set(found) == {"5218288"}  # "Most peculiar test drive", on www.teslamotors.com
    (link,) = found["5218288"].links
    assert (link.url, link.canonical_url, link.domain, link.source) == (
        "http://www.teslamotors.com/blog/most-peculiar-test-drive",
        "https://teslamotors.com/blog/most-peculiar-test-drive",
        "tesla.com",
        "url_field",
    )
    queries = {(r.param("tags"), r.param("query")) for r in server.requests_to(PATH)}
    assert queries == {
        (tag, host) for tag in ("story", "comment") for host in ("tesla.com", "teslamotors.com")
    }
    assert algolia.problems == []


def test_a_comment_whose_only_link_is_a_redirect_wrapper_is_found(
    server: RecordingServer, tmp_path: Path
) -> None:
    story = next(hit for hit in recorded_hits() if "comment" in hit["_tags"])
    wrapped = "https://www.google.com/url?q=https://example.com/post&amp;sa=D"
    hit = {
        **story,
        "objectID": "99",
        "comment_text": f'see <a href="{wrapped.replace("/", "&#x2F;")}">this</a>',
    }
    algolia = FakeAlgolia(server, [hit])
    rig = Rig(tmp_path, algolia.base_url, "example.com")
    rig.poll()
    (link,) = rig.mentions()["99"].links
    assert (link.url, link.canonical_url, link.anchor_text) == (
        "https://www.google.com/url?q=https://example.com/post&sa=D", "https://example.com/post", "this",
    )  # fmt: skip


# Many domains: past `search_each_domain_up_to`, one source reads every new story and comment.


def test_reading_every_item_finds_what_the_searches_find(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra="search_each_domain_up_to = 0")
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    # The same five as test_stories_and_comments_linking_to_the_domain_are_found, from one source.
    assert set(rig.mentions()) == {"3174961", "7164280", "6955707", "6913103", "7822564"}
    high = int(NOW.timestamp())
    (only,) = algolia.searches()  # every recorded item fits in one page
    assert only.query == {
        "tags": ["(story,comment)"],
        "numericFilters": [f"created_at_i>={high - 4000 * 86400},created_at_i<={high}"],
        "hitsPerPage": ["500"],
        "page": ["0"],
    }
    assert (algolia.problems, server.unexpected) == ([], [])


def test_a_pass_over_many_domains_costs_one_request(server: RecordingServer, tmp_path: Path) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra="search_each_domain_up_to = 0")
    rig.poll()
    first_end = int(rig.clock().timestamp())
    rig.clock.advance(minutes=10)
    result, (second,) = rig.poll_searching(algolia)
    assert result.new == 0
    assert second.param("numericFilters") == (
        f"created_at_i>={first_end - 900},created_at_i<={int(rig.clock().timestamp())}"
    )  # from the cursor, minus the 15 minutes of overlap
    assert algolia.problems == []


def test_switching_to_reading_every_item_goes_on_from_the_domain_searches(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    Rig(tmp_path, algolia.base_url, "nytimes.com").poll()  # two searches, each with its cursor
    searched_until = int(NOW.timestamp())
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra="search_each_domain_up_to = 0")
    rig.clock.advance(hours=1)
    result, (every,) = rig.poll_searching(algolia)
    assert result.new == 0  # nothing found twice
    assert every.param("tags") == "(story,comment)"
    assert every.param("numericFilters") == (
        f"created_at_i>={searched_until - 900},created_at_i<={int(rig.clock().timestamp())}"
    )  # not the whole initial lookback again
    assert algolia.problems == []


def test_switching_back_to_domain_searches_goes_on_from_reading_every_item_not_the_old_cursors(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    Rig(tmp_path, algolia.base_url, "nytimes.com").poll()  # per-domain cursors at NOW
    every = Rig(tmp_path, algolia.base_url, "nytimes.com", extra="search_each_domain_up_to = 0")
    every.clock.advance(days=2)
    every.poll()
    read_until = int(every.clock().timestamp())
    back = Rig(tmp_path, algolia.base_url, "nytimes.com")
    back.clock.advance(days=2, hours=1)
    result, searches = back.poll_searching(algolia)
    assert result.new == 0
    assert len(searches) == 2  # the story and the comment search
    for search in searches:  # two days are not read again through the old per-domain cursors
        assert search.param("numericFilters") == (
            f"created_at_i>={read_until - 900},created_at_i<={int(back.clock().timestamp())}"
        )
    assert algolia.problems == []


def test_items_linking_elsewhere_are_left_out_before_they_are_read(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com", extra="search_each_domain_up_to = 0")
    result = rig.poll()
    # Every recorded item was fetched; only the five that may link to nytimes.com reached the poller.
    assert result.fetched == 5
    assert len(recorded_hits()) > 300


def test_check_says_what_a_pass_costs_with_few_and_with_many_domains(tmp_path: Path) -> None:
    from connectors.hackernews import HackerNewsConnector, HackerNewsSettings
    from tracker.connector import ConnectorContext

    connector = HackerNewsConnector(
        "hn", HackerNewsSettings(type="hackernews"), ConnectorContext(data_dir=tmp_path)
    )
    few = [DomainSettings(name=f"site{n}.com") for n in range(3)]
    many = [DomainSettings(name=f"site{n}.com") for n in range(1000)]
    assert connector.describe(few) == (
        "searches Hacker News stories and comments linking to site0.com, site1.com, site2.com "
        "(6 request(s) a pass, one more per 100 hits)"
    )
    assert connector.describe(many) == (
        "reads every new Hacker News story and comment and keeps those linking to 1,000 domains (site0.com, "
        "site1.com, site2.com, site3.com, site4.com and 995 more) (more than 10 domains: one request per 500 "
        "new items, about one a pass, instead of searching each domain)"
    )
    assert (connector.domains_per_request(3), connector.domains_per_request(1000)) == (0.5, 1000)


def test_switching_back_to_searches_goes_on_from_where_every_item_was_read(
    server: RecordingServer, tmp_path: Path
) -> None:
    algolia = FakeAlgolia(server)
    Rig(tmp_path, algolia.base_url, "nytimes.com", extra="search_each_domain_up_to = 0").poll()
    read_until = int(NOW.timestamp())
    rig = Rig(tmp_path, algolia.base_url, "nytimes.com")  # back to the default: one domain is searched
    rig.clock.advance(hours=1)
    result, (story, comment) = rig.poll_searching(algolia)
    assert result.new == 0
    window = f"created_at_i>={read_until - 900},created_at_i<={int(rig.clock().timestamp())}"
    assert (story.param("tags"), story.param("numericFilters")) == ("story", window)
    assert (comment.param("tags"), comment.param("numericFilters")) == ("comment", window)
    assert algolia.problems == []
