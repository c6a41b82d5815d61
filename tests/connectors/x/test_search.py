"""Recent-search queries: post ids and times, query text, and which domains share a query as the config changes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.x.search import id_at, pass_cost, plan_queries, query_text, time_of
from tests.support.http_server import RecordingServer
from tests.support.x_api import XRig, recorded_page
from tracker.settings import DomainSettings

ITALY = datetime(2022, 9, 26, 0, 5, tzinfo=UTC)


def domains(*names: str, exclude: tuple[str, ...] = ()) -> list[DomainSettings]:
    return [DomainSettings(name=name, exclude_authors=exclude) for name in names]


def test_a_post_id_tells_when_it_was_made() -> None:
    made = datetime(2022, 9, 25, 23, 52, 51, 221000, tzinfo=UTC)  # its created_at: 2022-09-25T23:52:51.000Z
    assert time_of("1574185191349829632") == made
    assert id_at(made) <= 1574185191349829632 < id_at(made + timedelta(milliseconds=1))


@given(st.datetimes(min_value=datetime(2011, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)))
def test_id_bounds_order_like_the_times_they_stand_for(moment: datetime) -> None:
    assert time_of(id_at(moment)) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert id_at(moment) < id_at(moment + timedelta(milliseconds=1))


def test_excluded_x_accounts_common_to_a_query_s_domains_are_left_out() -> None:
    group = [
        DomainSettings(name="a.com", exclude_authors=("x:me", "x:bot", "reddit:me")),
        DomainSettings(name="b.com", exclude_authors=("x:me", "bluesky:me")),
    ]
    assert query_text(group, 512) == '(url:"a.com" OR url:"b.com") -is:retweet -from:me'
    assert query_text(group, 30) == '(url:"a.com" OR url:"b.com") -is:retweet'  # no room: read, then dropped


def test_domains_are_packed_into_queries_within_the_length() -> None:
    planned = plan_queries(domains("a.com", "b.com", "c.com"), {}, 64)
    assert [q.domains for q in planned] == [("a.com", "b.com", "c.com")]
    planned = plan_queries(domains("a.com", "b.com", "c.com"), {}, 46)
    assert [(q.domains, len(q.text) <= 46) for q in planned] == [
        (("a.com", "b.com"), True),
        (("c.com",), True),
    ]


def test_a_thousand_domains_fill_the_fewest_queries_within_the_length() -> None:
    names = [f"site{n}.{'com' if n % 2 else 'example.org'}" for n in range(1000)]
    planned = plan_queries(domains(*names), {}, 512)
    assert all(len(q.text) <= 512 for q in planned)
    assert sorted(n for q in planned for n in q.domains) == sorted(names)  # each domain in one query
    # Each term is url:"<name>" joined by " OR " inside "(...) -is:retweet": 498 characters for terms.
    room = 512 - len("() -is:retweet") + len(" OR ")
    total = sum(len(f'url:"{name}"') + len(" OR ") for name in names)
    assert len(planned) <= math.ceil(total / room) + 1  # within one query of the bound


def test_first_fit_packs_long_and_short_names_together() -> None:
    # Terms with their " OR " take 24, 20, 20 and 16 characters, and 40 fit in a query of 50 ("()" and
    # " -is:retweet" less one " OR "). In the given order three queries; longest first, two.
    names = ("aaaaaaaaaa.com", "bbbbbb.com", "cccccc.com", "dd.com")
    planned = plan_queries(domains(*names), {}, 50)
    assert [q.domains for q in planned] == [(names[0], names[3]), (names[1], names[2])]
    assert [len(q.text) for q in planned] == [50, 50]


def test_the_cost_of_a_pass_is_one_request_per_query_at_least() -> None:
    cost = pass_cost(domains(*(f"site{n}.com" for n in range(1000))), 512, timedelta(minutes=15))
    # Terms and their " OR ": 10 of 19 characters, 90 of 20, 900 of 21 = 20,890, in 502 a query: 42 at least;
    # first fit leaves a few characters free in some, so one more at most.
    assert cost.domains == 1000 and cost.queries in (42, 43)
    assert cost.requests_per_day == cost.queries * 96  # every 15 minutes
    assert str(cost).startswith(
        f"{cost.queries} queries of at most 512 characters: at least {cost.queries} search request(s) a pass"
    )


def test_a_query_with_a_cursor_is_kept_and_a_new_domain_gets_its_own() -> None:
    stored = {"search:a.com,b.com": {"domains": ["a.com", "b.com"], "since_id": "1500000000000000000"}}
    planned = plan_queries(domains("a.com", "b.com", "c.com"), stored, 512)
    assert [(q.domains, q.seed_since_id) for q in planned] == [(("a.com", "b.com"), None), (("c.com",), None)]
    assert planned[0].source_key == "search:a.com,b.com"


def test_the_rest_of_a_query_whose_domain_was_removed_starts_from_the_oldest_since_id() -> None:
    stored = {
        "search:a.com,b.com": {"domains": ["a.com", "b.com"], "since_id": "1500000000000000000"},
        "search:c.com": {"domains": ["c.com"], "since_id": "1400000000000000000"},
        "search:d.com": {"domains": ["d.com"], "since_id": "1600000000000000000"},
    }
    planned = plan_queries(domains("a.com", "c.com", "d.com"), stored, 512)
    assert [(q.domains, q.seed_since_id) for q in planned] == [
        (("d.com",), None),
        (("c.com",), None),
        (("a.com",), "1500000000000000000"),
    ]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def test_adding_a_domain_never_reads_the_others_again(server: RecordingServer, tmp_path: Path) -> None:
    page = recorded_page("twarc-csv__entities_test.jsonl")
    first = XRig(server, tmp_path, pages=[page], now=ITALY, domains=("telodogratis.it", "theguardian.com"))
    assert first.poll().new == 5
    first.store.close()
    later = XRig(
        server,
        tmp_path,
        pages=[page],
        now=ITALY + timedelta(minutes=15),
        domains=("telodogratis.it", "theguardian.com", "youtube.com"),
    )
    result = later.poll()
    assert (result.status, result.new) == ("ok", 1)
    old_query, new_query = later.api.searches()[1:]
    assert old_query.param("query") == '(url:"telodogratis.it" OR url:"theguardian.com") -is:retweet'
    assert old_query.param("since_id") == "1574185191349829632"
    assert (new_query.param("query"), new_query.param("start_time")) == (
        'url:"youtube.com" -is:retweet',
        "2022-09-19T00:30:00Z",
    )
    assert later.api.served == [[], ["1574184402111766528"]]  # nothing of the first query read again
