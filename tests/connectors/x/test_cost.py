"""What X reads cost: the spend estimate, the monthly budget stop, and the engagement refresh."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.http_server import RecordingServer
from tests.support.x_api import XRig, id_at, recorded_page, synthetic_posts
from tracker.poller import Poller
from tracker.status import collect

KPOP = datetime(2021, 9, 22, 16, 40, tzinfo=UTC)
ITALY = datetime(2022, 9, 26, 0, 5, tzinfo=UTC)
KAKAO_AUTHOR = "1413141881983172615"  # xtxxzinfo, who posted all ten open.kakao.com links


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def kakao(server: RecordingServer, tmp_path: Path, extra: str = "") -> XRig:
    return XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__kpop.jsonl")],
        now=KPOP,
        domains=("open.kakao.com",),
        extra=extra,
    )


def repost_later(rig: XRig, template_id: str, minutes: float) -> str:
    """A copy of a recorded post, made ``minutes`` after the rig's start (same author)."""
    post = copy.deepcopy(rig.api.tweets[template_id])
    moment = KPOP + timedelta(minutes=minutes)
    post["id"] = str(id_at(moment))
    post["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    rig.api.add([post])
    return str(post["id"])


def test_a_page_costs_each_post_and_each_distinct_author_once(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = kakao(server, tmp_path)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 10)
    assert result.cost_usd == pytest.approx(10 * 0.005 + 1 * 0.010)
    run = rig.store.run(result.run_id)  # type: ignore[arg-type]
    assert (run["requests"], run["items_read"]) == (1, 11)
    assert run["cost_usd"] == pytest.approx(0.06)
    (status,) = collect(rig.config, rig.store, rig.clock.now)
    assert status.counters_this_month == {
        "posts_read": 10, "users_read": 1, "posts_billable": 10, "users_billable": 1
    }  # fmt: skip
    assert (status.spend_this_month_usd, status.budget_usd) == (pytest.approx(0.06), 50.0)


def test_an_author_read_again_the_same_utc_day_is_not_charged_again_even_after_a_restart(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = kakao(server, tmp_path)
    rig.poll()
    repost_later(rig, "1440717067863216142", 5)
    rig.clock.advance(minutes=15)
    same_day = rig.poll()  # a new poller and connector: the ledger is kept in the database
    assert (same_day.new, same_day.cost_usd) == (1, pytest.approx(0.005))
    late = repost_later(rig, "1440717067863216142", 7 * 60 + 45)
    rig.clock.now = datetime(2021, 9, 23, 0, 30, tzinfo=UTC)
    next_day = rig.poll()
    assert (next_day.new, next_day.cost_usd) == (1, pytest.approx(0.015))
    assert rig.store.connector_state_keys("x") == [  # the day before is dropped
        f"reads:2021-09-23:post:{late}", f"reads:2021-09-23:user:{KAKAO_AUTHOR}"
    ]  # fmt: skip
    assert list(rig.config.data_dir.glob("x-*")) == []  # no side file


@pytest.mark.parametrize(
    ("day", "cost"), [("2021-09-22", 9 * 0.005), ("2021-09-21", 10 * 0.005 + 0.010)], ids=["today", "earlier"]
)
def test_the_read_ledger_file_of_an_older_version_is_imported_once(
    server: RecordingServer, tmp_path: Path, day: str, cost: float
) -> None:
    rig = kakao(server, tmp_path)
    old = rig.config.data_dir / "x-x.reads.json"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text(json.dumps({"day": day, "posts": ["1440717067863216142"], "users": [KAKAO_AUTHOR]}))
    old.with_name("x-x.reads.json.lock").touch()
    result = rig.poll()  # the day's reads in the file were paid for already; an earlier day's cost again
    assert (result.new, result.cost_usd) == (10, pytest.approx(cost))
    assert list(rig.config.data_dir.glob("x-*")) == []
    assert len(rig.store.connector_state_keys("x", "reads:2021-09-22:")) == 11


def test_the_page_cost_ceiling_follows_the_configured_prices(server: RecordingServer, tmp_path: Path) -> None:
    rig = kakao(server, tmp_path, extra="post_read_usd = 0.01\nuser_read_usd = 0.02\n")
    poller = rig.poller()
    connector = poller.connector("x")
    assert connector.max_page_cost_usd == pytest.approx(100 * 0.03)
    assert connector.monthly_budget_usd() == 50.0
    poller.close()
    assert rig.poll().cost_usd == pytest.approx(10 * 0.01 + 0.02)


def test_the_budget_stops_the_connector_before_a_page_could_pass_it(
    server: RecordingServer, tmp_path: Path
) -> None:
    month_end = datetime(2022, 9, 30, 23, 55, tzinfo=UTC)
    rig = XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__entities_test.jsonl")],
        now=month_end,
        domains=("example.com",),
        extra="monthly_budget_usd = 2.5\n",
    )
    template = rig.api.tweets["1574184167478378496"]
    rig.api.add(synthetic_posts(template, 250, start=month_end - timedelta(hours=5)))
    first = rig.poll()  # $0.51, then $0.50 (the author is billed once a day); a page could cost $1.50
    assert (first.status, first.pages, first.new) == ("budget", 2, 200)
    assert first.error == (
        "monthly budget reached: $1.01 of $2.50 spent, the next page could cost $1.50; raise monthly_budget_usd "
        "or wait for next month"
    )
    assert "pass" in rig.cursors()["search:example.com"]  # the paging waits, its page token stored
    (status,) = collect(rig.config, rig.store, rig.clock.now)
    assert (status.health, status.note) == ("degraded", "stopped by its monthly budget")
    assert (status.spend_this_month_usd, status.budget_usd) == (pytest.approx(1.01), 2.5)
    assert (status.items_read_this_month, status.counters_this_month["posts_read"]) == (202, 200)
    rig.clock.advance(minutes=4)
    assert rig.poll().status == "budget"  # still September: nothing is read
    assert len(rig.api.searches()) == 2

    rig.clock.advance(minutes=2)  # October: the paging goes on where it stopped
    october = rig.poll()
    assert (october.status, october.new, october.cost_usd) == ("ok", 50, pytest.approx(0.26))
    served = [post_id for page in rig.api.served for post_id in page]
    assert len(served) == len(set(served)) == 250  # no page was read (and paid for) twice
    tokens = [r.param("next_token") is not None for r in rig.api.searches()]
    assert tokens == [False, True, True, False]  # then a new pass for what came since


def test_a_zero_budget_reads_nothing(server: RecordingServer, tmp_path: Path) -> None:
    rig = kakao(server, tmp_path, extra="monthly_budget_usd = 0\n")
    result = rig.poll()
    assert (result.status, result.pages) == ("budget", 0)
    assert rig.api.searches() == []


def test_engagement_refresh_is_off_unless_configured(server: RecordingServer, tmp_path: Path) -> None:
    rig = kakao(server, tmp_path)
    rig.poll()
    rig.clock.advance(hours=2)
    poller = rig.poller()
    assert poller.connector("x").refresh_kinds == frozenset()
    assert poller.refresh_due("x") == []
    poller.close()
    assert rig.api.lookups() == []
    assert rig.store.due_for_refresh("x", KPOP + timedelta(days=30)) == []  # nor put on the schedule


def test_a_refresh_reads_fresh_metrics_and_marks_deleted_posts(
    server: RecordingServer, tmp_path: Path
) -> None:
    rig = XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__entities_test.jsonl")],
        now=ITALY,
        domains=("theguardian.com",),
        extra="refresh = true\n",
    )
    assert rig.poll().new == 2
    albert, lorenzo = "1574184167478378496", "1574183967972098051"
    rig.api.tweets[albert]["public_metrics"].update(like_count=70, impression_count=5000)
    rig.api.deleted.add(lorenzo)
    rig.clock.now = datetime(2022, 9, 26, 1, 0, tzinfo=UTC)  # an hour after posting, the same UTC day
    poller: Poller = rig.poller()
    (result,) = poller.refresh_due("x")
    poller.close()
    assert (result.status, result.updated, result.deleted) == ("ok", 1, 1)
    assert result.cost_usd == 0.0  # both posts and the author were read today already
    (lookup,) = rig.api.lookups()
    assert sorted((lookup.param("ids") or "").split(",")) == sorted([albert, lorenzo])
    assert lookup.param("tweet.fields") == rig.api.searches()[0].param("tweet.fields")
    found = {m.platform_id: m for m in rig.store.iter_mentions(include_deleted=True)}
    assert (found[albert].metrics.likes, found[albert].metrics.views) == (70, 5000)
    assert found[lorenzo].deleted_at is not None and found[lorenzo].text is None

    rig.clock.now = datetime(2022, 9, 27, 0, 0, tzinfo=UTC)  # +24 h: a new UTC day, so reads cost again
    poller = rig.poller()
    (next_day,) = poller.refresh_due("x")
    poller.close()
    assert next_day.status == "ok"
    assert next_day.cost_usd == pytest.approx(0.005 + 0.010)  # one live post and its author
    run = rig.store.run(next_day.run_id)  # type: ignore[arg-type]
    assert (run["kind"], run["items_read"]) == ("refresh", 2)


def test_a_refresh_counts_against_the_budget(server: RecordingServer, tmp_path: Path) -> None:
    rig = kakao(server, tmp_path, extra="refresh = true\nmonthly_budget_usd = 1.5\n")
    rig.poll()
    rig.clock.advance(hours=1, minutes=1)
    poller = rig.poller()
    (result,) = poller.refresh_due("x")
    poller.close()
    assert result.status == "budget"  # $0.06 spent, a lookup of 100 could cost $1.50
    assert rig.api.lookups() == []


def test_describe_says_what_a_pass_reads_and_costs(server: RecordingServer, tmp_path: Path) -> None:
    rig = kakao(server, tmp_path)
    poller = rig.poller()
    line = poller.connector("x").describe(rig.config.domains)
    poller.close()
    assert line == (
        "searches recent X posts linking to open.kakao.com (1 query of at most 512 characters: at least 1 "
        "search request(s) a pass, 96 a day, one more per 100 posts found; X bills the posts and users read, "
        "not the requests); budget $50.00/month at $0.005 per post and $0.01 per user read; engagement refresh off"
    )


def test_a_post_in_two_queries_is_charged_once(server: RecordingServer, tmp_path: Path) -> None:
    rig = XRig(
        server,
        tmp_path,
        pages=[recorded_page("twarc-csv__kpop.jsonl")],
        now=KPOP,
        domains=("open.kakao.com", "unused-name.example", "kakao.com"),
        extra="max_query_length = 64\n",  # (unused-name.example OR open.kakao.com), then kakao.com
    )
    result = rig.poll()
    assert [len(search.param("query")) for search in rig.api.searches()] == [63, 27]
    assert result.fetched == 20
    assert result.cost_usd == pytest.approx(0.06)  # X bills a resource once a day, however often it is read
