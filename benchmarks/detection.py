"""Detection v2: link matching with the new rules (UTS #46 hosts, aliases, redirect wrappers, short links)
against the matcher it replaced (kept in ``benchmarks/baseline_matcher.py``), on the ingest benchmark's posts;
and the Jetstream stream handler with ``resolve_shorteners`` on (short-link hosts pass its pre-filter)."""

from __future__ import annotations

import json

from benchmarks import baseline_matcher
from benchmarks.common import Row, cold_url_caches, fastest_cpu_seconds
from benchmarks.data import DOMAIN, hn_hits, jetstream_lines

MATCH_TARGET = 0.8
STREAM_TARGET = 100_000
ROUNDS = 5  # the fastest of several interleaved rounds: the least disturbed by other load


def measure_matching(count: int, rounds: int = ROUNDS) -> tuple[float, float, int, int]:
    """Seconds per pass over ``count`` posts for the baseline and for the new filter (each starting with
    cold caches), and the posts each kept."""
    from connectors.hackernews import normalize_hit
    from tracker.poller import MentionFilter
    from tracker.settings import DomainSettings

    posts = [normalize_hit(hit) for hit in hn_hits(count)]
    domains = [DomainSettings(name=DOMAIN)]
    old = baseline_matcher.MentionFilter(domains)
    new = MentionFilter(
        [DomainSettings(name=DOMAIN, aliases=("exm.pl",))], resolve_shorteners=True
    )  # the new rules all on: an alias, wrappers, short links classified

    def cold() -> None:
        baseline_matcher.clear_caches()
        cold_url_caches(new.matcher)

    old_kept, new_kept = len(old.apply(posts)), len(new.apply(posts))
    old_time, new_time = fastest_cpu_seconds(
        rounds, lambda: old.apply(posts), lambda: new.apply(posts), reset=cold
    )
    return old_time, new_time, old_kept, new_kept


def short_link_lines(count: int, every: int = 200) -> list[str]:
    """The stream benchmark's events, one in ``every`` of the others linking through a bit.ly link (a facet)."""
    lines = jetstream_lines(count)
    for index in range(every // 2 + 1, count, every):
        event = json.loads(lines[index])
        record = event.get("commit", {}).get("record")
        if record is None:
            continue
        text = f"Worth a read: bit.ly/b{index}"
        record["text"] = text
        record["facets"] = [{"features": [{"$type": "app.bsky.richtext.facet#link", "uri": f"https://bit.ly/b{index}"}],
                             "index": {"byteStart": len(text) - len(f"bit.ly/b{index}"), "byteEnd": len(text)}}]  # fmt: skip
        lines[index] = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return lines


def measure_stream(count: int, rounds: int = ROUNDS) -> tuple[float, float, int]:
    """Seconds for ``count`` Jetstream events through the stream handler with the pre-filter of
    ``resolve_shorteners`` off and on, and the candidates taken with it on."""
    from connectors.bluesky.jetstream import StreamHandler
    from tracker.urls import DomainMatcher

    lines = short_link_lines(count)
    off = DomainMatcher([(DOMAIN, True)])
    on = DomainMatcher([(DOMAIN, True)], resolve_shorteners=True)
    taken = 0

    def run(matcher: DomainMatcher) -> None:
        nonlocal taken
        handler = StreamHandler(matcher.needles, matcher.short_link_pattern)
        for line in lines:
            handler.handle(line)
        taken = len(handler.candidates)

    off_time, on_time = fastest_cpu_seconds(rounds, lambda: run(off), lambda: run(on))
    return off_time, on_time, taken


def run(quick: bool) -> list[Row]:
    posts = events = 5_000 if quick else 200_000
    rounds = 1 if quick else ROUNDS
    old, new, old_kept, new_kept = measure_matching(posts, rounds)
    off, on, taken = measure_stream(events, rounds)
    rate_on = events / on
    return [
        Row("detection", f"posts per CPU second through link matching with the new rules, {posts:,} posts ({new_kept:,} kept; baseline kept {old_kept:,})",
            f"{posts / new:,.0f}/s", f"{posts / old:,.0f}/s", f"{old / new:.2f}x", f">= {MATCH_TARGET}x",
            None if quick else old / new >= MATCH_TARGET),
        Row("detection", f"Jetstream events per CPU second through the stream handler with resolve_shorteners on, {events:,} events ({taken:,} taken)",
            f"{rate_on:,.0f}/s", f"{events / off:,.0f}/s", f"{off / on:.2f}x", f">= {STREAM_TARGET:,}/s",
            None if quick else rate_on >= STREAM_TARGET),
    ]  # fmt: skip
