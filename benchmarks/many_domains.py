"""Many domains (issue 22): 1,000 monitored domains against one, in the same run.

- the Jetstream stream handler (the per-event pre-filter: one Aho-Corasick scan for every domain at once);
- link matching (the poller's filter: a host and its parent domains looked up in a table);
- a ``tracker poll`` pass of Hacker News, counting the requests a loopback Algolia receives.
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import Row, cold_url_caches, fastest_cpu_seconds
from benchmarks.data import DOMAIN, hn_hits, jetstream_lines

MANY = 1_000
STREAM_TARGET, MATCH_TARGET = 0.5, 0.8
ROUNDS = 5
_TLDS = ("com", "io", "org", "net", "de", "co.uk", "dev", "app")


def domain_names(count: int) -> list[str]:
    """``example.com`` (the domain the generated posts link to) and ``count - 1`` others, like a list of
    competitors: varied names and suffixes, some sharing a name with another suffix."""
    names = [DOMAIN]
    for index in range(count - 1):
        names.append(f"competitor-{index // 3}{'abc'[index % 3]}.{_TLDS[index % len(_TLDS)]}")
    return names


def measure_stream(count: int, rounds: int) -> tuple[float, float, int, int]:
    """CPU seconds for ``count`` events through the stream handler with one domain and with ``MANY``, and the
    candidates each took."""
    from connectors.bluesky.jetstream import StreamHandler
    from tracker.urls import DomainMatcher

    lines = jetstream_lines(count)
    one = DomainMatcher([(DOMAIN, True)])
    many = DomainMatcher([(name, True) for name in domain_names(MANY)])
    taken = {1: 0, MANY: 0}

    def run(matcher: DomainMatcher, size: int) -> None:
        handler = StreamHandler(matcher.needles, matcher.short_link_pattern)
        for line in lines:
            handler.handle(line)
        taken[size] = len(handler.candidates)

    one_time, many_time = fastest_cpu_seconds(rounds, lambda: run(one, 1), lambda: run(many, MANY))
    return one_time, many_time, taken[1], taken[MANY]


def measure_matching(count: int, rounds: int) -> tuple[float, float, int, int]:
    """CPU seconds for ``count`` posts through the poller's link filter with one domain and with ``MANY``
    (each round with cold caches), and the posts each kept."""
    from connectors.hackernews import normalize_hit
    from tracker.poller import MentionFilter
    from tracker.settings import DomainSettings

    posts = [normalize_hit(hit) for hit in hn_hits(count)]
    one = MentionFilter([DomainSettings(name=DOMAIN)])
    many = MentionFilter([DomainSettings(name=name) for name in domain_names(MANY)])

    kept_one, kept_many = len(one.apply(posts)), len(many.apply(posts))
    one_time, many_time = fastest_cpu_seconds(
        rounds, lambda: one.apply(posts), lambda: many.apply(posts),
        reset=lambda: cold_url_caches(one.matcher, many.matcher),
    )  # fmt: skip
    return one_time, many_time, kept_one, kept_many


def measure_hackernews(domains: int, items: int) -> tuple[int, float, int, int]:
    """A ``tracker poll`` pass of Hacker News over ``domains`` domains, after a first pass, while ``items``
    new stories and comments arrived in the interval: (requests of the pass, domains per request, mentions
    stored by the pass, hits in the window)."""
    from connectors.hackernews import HackerNewsConnector
    from tests.support.algolia import FakeAlgolia
    from tests.support.http_server import RecordingServer
    from tracker.config import parse_config
    from tracker.poller import Poller
    from tracker.store import Store

    start = datetime(2026, 11, 9, 12, tzinfo=UTC)
    names = domain_names(domains)
    with RecordingServer() as server, tempfile.TemporaryDirectory() as tmp:
        hits = _hn_pool(start, items, names)
        algolia = FakeAlgolia(server, hits)
        config = parse_config(
            {
                "tracker": {"data_dir": tmp},
                "domains": [{"name": name} for name in names],
                "connectors": {"hackernews": {"api_base_url": algolia.base_url, "initial_lookback": "10m"}},
            },
            Path(tmp) / "tracker.toml",
            {},
        )
        store = Store.open(config.database_url)
        now = [start]
        poller = Poller(config, store, clock=lambda: now[0])
        poller.poll("hackernews")  # the first pass: what was there before
        first = store.count_mentions()
        before = len(server.requests)
        now[0] = start + timedelta(minutes=10)
        result = poller.poll("hackernews")
        requests = len(server.requests) - before
        stored = store.count_mentions() - first
        connector = poller.connector("hackernews")
        assert isinstance(connector, HackerNewsConnector)
        per_request = connector.domains_per_request(domains)
        poller.close()
        store.close()
        if algolia.problems or server.unexpected or result.error:
            raise AssertionError(f"the pass failed: {result.error or algolia.problems or server.unexpected}")
    return requests, per_request, stored, items


def _hn_pool(start: datetime, items: int, names: list[str]) -> list[dict[str, object]]:
    """``items`` hits in the ten minutes after ``start`` (about what Hacker News gets), linking to the
    domains in turn; and as many in the ten minutes before."""
    from benchmarks.data import hn_hit

    pool = []
    for index in range(2 * items):
        hit = dict(hn_hit(index))
        stamp = int(start.timestamp()) - 600 + index * 600 // items
        hit["created_at_i"] = stamp
        hit["created_at"] = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        hit["objectID"] = str(40_000_000 + index)
        name = names[index % len(names)]
        if hit.get("url"):
            hit["url"] = f"https://{name}/story/{index}"
        else:
            hit["comment_text"] = f'See <a href="https://{name}/c/{index}">this</a>'
        pool.append(hit)
    return pool


def run(quick: bool) -> list[Row]:
    events = posts = 5_000 if quick else 200_000
    rounds = 1 if quick else ROUNDS
    one, many, taken_one, taken_many = measure_stream(events, rounds)
    m_one, m_many, kept_one, kept_many = measure_matching(posts, rounds)
    requests, per_request, stored, window = measure_hackernews(MANY, 150)
    bound = math.ceil(MANY / per_request)
    per = f"{per_request:,.0f}" if per_request >= 1 else f"{per_request:g}"
    return [
        Row("many domains", f"Jetstream events per CPU second through the stream handler, {MANY:,} domains against 1, {events:,} events ({taken_many:,} / {taken_one:,} taken)",
            f"{events / many:,.0f}/s", f"{events / one:,.0f}/s", f"{one / many:.2f}x", f">= {STREAM_TARGET}x",
            None if quick else one / many >= STREAM_TARGET),
        Row("many domains", f"posts per CPU second through link matching, {MANY:,} domains against 1, {posts:,} posts ({kept_many:,} / {kept_one:,} kept)",
            f"{posts / m_many:,.0f}/s", f"{posts / m_one:,.0f}/s", f"{m_one / m_many:.2f}x", f">= {MATCH_TARGET}x",
            None if quick else m_one / m_many >= MATCH_TARGET),
        Row("many domains", f"requests of a `tracker poll` pass of Hacker News over {MANY:,} domains ({window} new items, {stored:,} mentions stored; {per} domains a request)",
            f"{requests}", f"ceil({MANY:,} / {per}) = {bound}", f"{requests / bound:.2f}x", f"<= {bound}",
            requests <= bound),
    ]  # fmt: skip
