"""The Wikipedia scan (list=exturlusage, articles read in full) against fake wikis over recorded articles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.connectors.wikipedia.rig import APPLE, CELTUCE, KEW, MALUS, NOW, Rig, scenario
from tests.support.http_server import Reply
from tests.support.wikimedia import Scenario
from tracker.schema import coverage_gaps

# From the recordings, by hand: Apple's links to powo.science.kew.org (the list of links spells the urn with
# colons, the HTML percent-encodes them), their anchor texts and the list items that hold them.
APPLE_LINKS = [
    ("https://powo.science.kew.org/taxon/726282-1", '"Malus domestica (Suckow) Borkh"'),
    (
        "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:726282-1",
        "urn:lsid:ipni.org:names:726282-1",
    ),
    (
        "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:726372-1",
        "urn:lsid:ipni.org:names:726372-1",
    ),
]
APPLE_TEXT = (
    '"Malus domestica (Suckow) Borkh". Plants of the World Online. Royal Botanic Gardens, Kew. Retrieved 31 July 2024.\n'
    "POWO: urn:lsid:ipni.org:names:726282-1\n"
    "POWO: urn:lsid:ipni.org:names:726372-1"
)


@pytest.fixture
def world() -> Iterator[Scenario]:
    with scenario() as made:
        yield made


def test_the_first_scan_finds_every_citing_article_read_in_full(world: Scenario, tmp_path: Path) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    result = rig.poll()
    assert (result.status, result.error, result.new) == ("ok", None, 2)
    found = rig.mentions()
    assert set(found) == {APPLE, MALUS}
    apple = found[APPLE]
    assert (apple.kind, apple.title, apple.permalink, apple.community, apple.lang) == (
        "article",
        "Apple",
        "https://en.wikipedia.org/wiki/Apple",
        "en.wikipedia.org",
        "en",
    )
    assert [(link.url, link.anchor_text) for link in apple.links] == APPLE_LINKS
    assert {link.domain for link in apple.links} == {"kew.org"}
    assert apple.text == APPLE_TEXT
    assert apple.metrics.views == 40 * 30
    assert apple.engagement is None  # views are reach, not engagement
    assert apple.created_at == NOW  # when the scan found it: MediaWiki does not say when a link was added
    malus = found[MALUS]
    assert malus.permalink == "https://species.wikimedia.org/wiki/Malus_domestica"
    assert [link.anchor_text for link in malus.links] == [
        "urn:lsid:ipni.org:names:726282-1",
        "urn:lsid:ipni.org:names:60476301-2",
    ]
    assert malus.metrics.views is None  # the pageviews API has no data for it (404)


def test_each_wiki_is_listed_for_the_domain_and_its_subdomains_over_http_and_https(
    world: Scenario, tmp_path: Path
) -> None:
    world.wikis.rows_per_page = 1  # Apple has three links: the listing continues twice
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    listings = world.wikis.calls("list=exturlusage")
    asked = [(r.path.split("/")[1], r.param("euprotocol"), r.param("euquery")) for r in listings]
    for wiki in ("en.wikipedia.org", "species.wikimedia.org"):
        assert {(p, q) for w, p, q in asked if w == wiki} == {
            ("https", "kew.org"), ("http", "kew.org"), ("https", "*.kew.org"), ("http", "*.kew.org"),
        }  # fmt: skip
    continued = [
        r.param("eucontinue")
        for r in listings
        if r.path.startswith("/en.")
        and r.param("euquery") == "*.kew.org"
        and r.param("euprotocol") == "https"
    ]
    assert continued == [None, "1", "2"]
    assert {r.headers["user-agent"] for r in world.server.requests} == {
        "mention-tracker-tests/1.0 (tests@example.com)"
    }
    parsed = [int(r.param("pageid") or 0) for r in world.wikis.calls("action=parse")]
    assert parsed == [18978754, 86997]


def test_a_later_scan_reads_only_articles_whose_links_changed(world: Scenario, tmp_path: Path) -> None:
    rig = Rig(tmp_path, world, extra='stream = false\ninterval = "6h"')
    rig.poll()
    rig.clock.advance(hours=1)
    rig.poll()
    assert len(world.wikis.calls("list=exturlusage")) == 8  # not due yet: no second scan
    rig.clock.advance(hours=6)
    world.wikis.page("en.wikipedia.org", 1868108).add(KEW.format("1"))  # Celtuce cites Kew now
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert [int(r.param("pageid") or 0) for r in world.wikis.calls("action=parse")] == [
        18978754,
        86997,
        1868108,
    ]
    celtuce = rig.mentions()[CELTUCE]
    assert celtuce.created_at == NOW + timedelta(hours=7)
    assert [(link.url, link.anchor_text) for link in celtuce.links] == [
        (KEW.format("1"), None)
    ]  # a bare link


def test_a_citation_removed_between_scans_is_a_deleted_mention_and_restored_when_it_comes_back(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    malus = world.wikis.page("species.wikimedia.org", 86997)
    removed = [link for link in malus.links if "kew.org" in link]
    for link in removed:
        malus.remove(link)
    rig.clock.advance(hours=7)
    lost = rig.poll()
    assert (lost.status, lost.deleted) == ("ok", 1)
    gone = rig.mentions()[MALUS]
    assert gone.deleted_at == NOW + timedelta(hours=7)
    assert (gone.text, gone.raw) == (None, None)
    for link in removed:
        malus.add(link, anchor="Plants of the World Online")
    rig.clock.advance(hours=7)
    back = rig.poll()
    assert (back.status, back.new, back.updated) == ("ok", 0, 1)
    restored = rig.mentions()[MALUS]
    assert restored.deleted_at is None
    assert [link.anchor_text for link in restored.links] == ["Plants of the World Online"] * 2
    assert restored.text is not None
    assert rig.store.count_mentions() == 2


def test_articles_past_the_lookup_budget_are_stored_as_listed_and_read_in_full_by_a_later_scan(
    world: Scenario, tmp_path: Path
) -> None:
    world.wikis.page("en.wikipedia.org", 1868108).add(KEW.format("1"))  # Celtuce cites Kew too
    rig = Rig(tmp_path, world, extra="stream = false\nlookups_per_scan = 1")
    rig.poll()
    first = rig.mentions()
    assert set(first) == {CELTUCE, APPLE, MALUS}
    listed = first[APPLE]  # each wiki's scan reads one article in full, by page id: Celtuce (1868108) first
    assert [link.anchor_text for link in listed.links] == [None, None, None]
    assert (listed.text, listed.metrics.views) == (None, None)
    assert [int(r.param("pageid") or 0) for r in world.wikis.calls("action=parse")] == [1868108, 86997]
    rig.clock.advance(hours=7)
    second = rig.poll()
    assert (second.new, second.updated) == (0, 1)
    apple = rig.mentions()[APPLE]
    assert [(link.url, link.anchor_text) for link in apple.links] == APPLE_LINKS
    assert apple.metrics.views == 1200
    rig.clock.advance(hours=7)
    rig.poll()
    assert len(world.wikis.calls("action=parse")) == 3  # each article read in full once, then only listed


def test_a_lagging_wiki_is_waited_for_maxlag(world: Scenario, tmp_path: Path) -> None:
    world.wikis.maxlag_errors = 2
    rig = Rig(tmp_path, world, extra="stream = false")
    result = rig.poll()
    assert result.status == "ok"
    assert rig.sleeps == [5.0, 10.0]
    assert set(rig.mentions()) == {APPLE, MALUS}


def test_an_article_deleted_from_the_wiki_between_listing_and_reading_is_a_lost_citation(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    world.wikis.page("en.wikipedia.org", 18978754).gone = True
    rig.clock.advance(hours=7)
    assert rig.poll().deleted == 1
    assert rig.live() == {MALUS}


def test_listing_more_links_than_the_cap_is_a_recorded_gap_and_deletes_nothing(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    capped = Rig(tmp_path, world, extra="stream = false\nmax_links = 2")
    capped.clock.advance(hours=7)
    result = capped.poll()
    assert (result.status, result.deleted) == ("ok", 0)
    with capped.store.read() as conn:
        reasons = [row.reason for row in conn.execute(coverage_gaps.select())]
    assert reasons == [
        "more than 2 links on en.wikipedia.org; some articles were not read",
        "more than 2 links on species.wikimedia.org; some articles were not read",
    ]


def test_a_domain_dropped_from_the_config_does_not_count_as_lost_citations(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    other = Rig(tmp_path, world, extra="stream = false", domain="usda.gov")
    other.clock.advance(hours=7)
    result = other.poll()
    assert (result.status, result.deleted, result.new) == ("ok", 0, 1)  # Celtuce cites ndb.nal.usda.gov
    assert other.live() == {APPLE, MALUS, CELTUCE}


def test_page_views_that_fail_leave_views_unknown_for_the_rest_of_the_pass(
    world: Scenario, tmp_path: Path
) -> None:
    world.views.fault = 503
    rig = Rig(tmp_path, world, extra="stream = false")
    result = rig.poll()
    assert result.status == "ok"
    assert {m.metrics.views for m in rig.mentions().values()} == {None}
    assert len(world.views.calls()) == 5  # one article's bounded retries, then no more asking


def test_a_broken_wiki_api_fails_the_pass_after_retries_and_the_next_pass_recovers(
    world: Scenario, tmp_path: Path
) -> None:
    world.wikis.fault = "server_error"
    rig = Rig(tmp_path, world, extra="stream = false")
    failed = rig.poll()
    assert failed.status == "failed"
    assert "HTTP 503 from the server; gave up after 5 attempts" in (failed.error or "")
    world.wikis.fault = None
    rig.clock.advance(minutes=10)
    assert rig.poll().status == "ok"
    assert rig.live() == {APPLE, MALUS}


def test_a_timed_out_or_malformed_answer_is_retried_and_counted(world: Scenario, tmp_path: Path) -> None:
    world.wikis.script = [1.5, Reply(200, b'{"query": {"exturl')]
    rig = Rig(tmp_path, world, extra='stream = false\ntimeout = "1s"')
    result = rig.poll()
    assert (result.status, rig.live()) == ("ok", {APPLE, MALUS})
    counters = json.loads(rig.store.run(result.run_id)["counters"])  # type: ignore[arg-type]
    assert counters == {"retried_timeout": 1, "retried_bad_json": 1}


def test_an_api_error_is_one_clear_line(world: Scenario, tmp_path: Path) -> None:
    world.wikis.script = [
        Reply(200, {"error": {"code": "readapidenied", "info": "You need read permission."}})
    ]
    rig = Rig(tmp_path, world, extra="stream = false")
    failed = rig.poll()
    assert failed.error == "en.wikipedia.org API error readapidenied: You need read permission."
