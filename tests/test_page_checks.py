"""Page health (CONTRACT §3 ``[pages]``): every linked page of an own domain is checked through the real HTTP
client against a loopback site playing the user's domain (reached through ``[tracker] connect_to``): final
status, redirect chain, final URL, canonical tag, noindex, title; only own hosts, HEAD first, 1 MB read at
most, a timeout, a User-Agent naming the tool, a per-host rate, at most once per interval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import Clock, make_config
from tests.support.factories import matched, mention
from tests.support.site import FakeSite, Page, html_page
from tracker.connector import Page as StorePage
from tracker.outbound import Outbound
from tracker.page_checker import PageChecker
from tracker.page_checks import checked_pages, progress
from tracker.page_probe import BODY_LIMIT, read_head
from tracker.settings import Config
from tracker.store import Store

HOSTS = ("example.com", "www.example.com", "exm.pl", "other.net", "competitor.com")


@pytest.fixture
def site() -> Iterator[FakeSite]:
    fake = FakeSite().start()
    yield fake
    fake.stop()


def site_config(tmp_path: Path, site: FakeSite, database_url: str, extra: str = "") -> Config:
    connect = ", ".join(f'"{host}" = "{site.url}"' for host in HOSTS)
    return make_config(
        tmp_path,
        f"""
        [tracker]
        data_dir = "data"
        database_url = "{database_url}"
        connect_to = {{{connect}}}

        [[domains]]
        name = "example.com"
        aliases = ["exm.pl"]

        [[domains]]
        name = "competitor.com"
        role = "competitor"

        [pages]
        timeout = "1s"
        requests_per_second = 100
        {extra}
        """,
    )


def link(store: Store, clock: Clock, *urls: str) -> None:
    """Store a mention linking to each URL (the page writer fills the pages table)."""
    items = []
    for index, url in enumerate(urls):
        domain = "competitor.com" if "competitor.com" in url else "example.com"
        items.append(matched(mention(f"m{index}-{url}", url=url), domain=domain))
    store.write_page(connector="hn", platform="hackernews", run_id=None, page=StorePage("k"),
                     mentions_to_store=items, now=clock())  # fmt: skip


def serve_the_site(site: FakeSite) -> None:
    host = "example.com"
    site.pages.update({
        (host, "/ok"): Page(200, html_page("A guide", '<link rel="canonical" href="https://example.com/ok">')),
        (host, "/old"): Page(301, headers={"Location": "https://www.example.com/newer"}),
        ("www.example.com", "/newer"): Page(301, headers={"Location": "/new"}),
        ("www.example.com", "/new"): Page(200, html_page("The new home")),
        (host, "/away"): Page(302, headers={"Location": "https://other.net/x"}),
        (host, "/to-competitor"): Page(302, headers={"Location": "https://competitor.com/y"}),
        (host, "/gone"): Page(410, html_page("Gone")),
        (host, "/error"): Page(500, html_page("Oops")),
        (host, "/slow"): Page(hang=True),
        (host, "/meta-noindex"): Page(200, html_page("Hidden", '<meta name="robots" content="noindex, follow">')),
        (host, "/header-noindex"): Page(200, html_page("Hidden too"), {"X-Robots-Tag": "googlebot: noindex"}),
        (host, "/elsewhere"): Page(200, html_page("Dup", '<link rel="canonical" href="/the-original">')),
        (host, "/big"): Page(200, html_page("Big", body="x" * (5 * 1024 * 1024))),
        (host, "/paper.pdf"): Page(200, b"%PDF-1.7", {"Content-Type": "application/pdf"}),
        ("exm.pl", "/s"): Page(301, headers={"Location": "https://www.example.com/new"}),
    })  # fmt: skip


def test_each_linked_own_page_is_checked_through_the_real_client(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    serve_the_site(site)
    config = site_config(tmp_path, site, database_url)
    store = Store.open(config.database_url)
    try:
        paths = ("/ok", "/old", "/away", "/to-competitor", "/missing", "/gone", "/error", "/slow",
                 "/meta-noindex", "/header-noindex", "/elsewhere", "/big", "/paper.pdf")  # fmt: skip
        link(store, clock, *(f"https://example.com{p}" for p in paths), "https://exm.pl/s",
             "https://competitor.com/pricing")  # fmt: skip
        run = PageChecker(config, store, clock=clock).run()
        with store.read() as conn:
            rows = {
                row["canonical_url"]: row for row in checked_pages(conn, ["example.com", "competitor.com"])
            }
    finally:
        store.close()
    assert run.checked == len(paths) + 1
    assert "https://competitor.com/pricing" not in rows  # a competitor's page is never checked
    assert site.seen("competitor.com", "/pricing") == [] and site.seen("competitor.com", "/y") == []
    assert site.seen("other.net", "/x") == []  # a redirect off the own domains is recorded, not followed

    def row(path: str) -> dict[str, object]:
        return rows[f"https://example.com{path}"]

    ok = row("/ok")
    assert (ok["status"], ok["final_url"], ok["title"], ok["noindex"], ok["broken"]) == (
        200, "https://example.com/ok", "A guide", False, False,
    )  # fmt: skip
    assert ok["canonical_tag"] == "https://example.com/ok" and ok["redirects"] == []
    assert [r.method for r in site.seen("example.com", "/ok")] == ["HEAD", "GET"]  # HEAD first

    old = row("/old")
    assert old["redirects"] == [
        {"status": 301, "location": "https://www.example.com/newer"},
        {"status": 301, "location": "https://www.example.com/new"},
    ]
    assert (old["status"], old["final_url"], old["title"]) == (
        200,
        "https://www.example.com/new",
        "The new home",
    )
    assert [r.method for r in site.seen("example.com", "/old")] == ["HEAD"]  # a redirect needs no GET

    away = row("/away")
    assert away["redirects"] == [{"status": 302, "location": "https://other.net/x"}]
    assert (away["status"], away["final_url"], away["broken"]) == (302, "https://other.net/x", False)
    assert "not an own domain" in str(away["error"])
    assert row("/to-competitor")["final_url"] == "https://competitor.com/y"

    for path, status in (("/missing", 404), ("/gone", 410), ("/error", 500)):
        assert (row(path)["status"], row(path)["broken"]) == (status, True)
        assert [r.method for r in site.seen("example.com", path)] == ["HEAD"]  # an error needs no GET

    slow = row("/slow")
    assert (slow["status"], slow["broken"]) == (None, True)
    assert "no answer within 1s" in str(slow["error"])

    assert (row("/meta-noindex")["noindex"], row("/header-noindex")["noindex"]) == (True, True)
    assert row("/elsewhere")["canonical_tag"] == "https://example.com/the-original"
    assert (row("/big")["status"], row("/big")["title"]) == (200, "Big")
    assert (row("/paper.pdf")["status"], row("/paper.pdf")["title"]) == (200, None)
    assert [r.method for r in site.seen("example.com", "/paper.pdf")] == ["HEAD"]  # not HTML: HEAD suffices
    alias = rows["https://exm.pl/s"]
    assert (alias["status"], alias["final_url"]) == (200, "https://www.example.com/new")

    agents = {r.headers.get("user-agent", "") for r in site.requests}
    assert agents and all(agent.startswith("mention-tracker/") for agent in agents)


def test_at_most_one_megabyte_of_a_body_is_read(site: FakeSite) -> None:
    for chunked in (False, True):
        site.pages[("example.com", f"/big{chunked}")] = Page(
            200, html_page("Big", body="y" * (5 * 1024 * 1024)), chunked=chunked
        )
        outbound = Outbound(connect_to=site.connect_to("example.com"), sleep=lambda _: None)
        answer = outbound.request("GET", f"https://example.com/big{chunked}", body_limit=BODY_LIMIT)
        assert len(answer.body) == BODY_LIMIT
        assert answer.body.startswith(b"<!doctype html><html><head><title>Big</title>")
        assert read_head(answer.body).title == "Big"
    small = Outbound(connect_to=site.connect_to("example.com"), sleep=lambda _: None)
    site.pages[("example.com", "/small")] = Page(200, html_page("Small"), chunked=True)
    assert small.request("GET", "https://example.com/small", body_limit=BODY_LIMIT).body == html_page("Small")


def test_a_page_is_checked_at_most_once_per_interval_and_its_breaking_is_told_once(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    site.pages[("example.com", "/p")] = Page(200, html_page("P"))
    config = site_config(tmp_path, site, database_url, 'interval = "7d"')
    store = Store.open(config.database_url)
    try:
        link(store, clock, "https://example.com/p")
        checker = PageChecker(config, store, clock=clock)
        assert checker.run().checked == 1
        clock.advance(days=6)
        assert checker.run().checked == 0  # not due yet
        site.pages[("example.com", "/p")] = Page(404)
        clock.advance(days=1)
        first = checker.run()
        assert (first.checked, first.broken, first.became_broken) == (1, 1, 1)
        clock.advance(days=7)
        again = checker.run()
        assert (again.checked, again.broken, again.became_broken) == (1, 1, 0)  # still broken: not news
        with store.read() as conn:
            done = progress(conn, ["example.com"], clock(), config.pages.interval)
    finally:
        store.close()
    assert (done.linked, done.checked, done.due, done.broken) == (1, 1, 0, 1)
    assert len(site.seen("example.com", "/p")) == 2 + 1 + 1  # HEAD and GET while fine, then a HEAD each time


def test_requests_to_one_host_keep_to_the_rate(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    for index in range(5):
        site.pages[("example.com", f"/r{index}")] = Page(200, html_page(f"R{index}"))
    config = make_config(
        tmp_path,
        f"""
        [tracker]
        database_url = "{database_url}"
        connect_to = {{"example.com" = "{site.url}"}}
        [[domains]]
        name = "example.com"
        [pages]
        requests_per_second = 2
        """,
    )
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # time passes only while the checker waits its turn
        waits.append(seconds)
        now[0] += seconds

    store = Store.open(config.database_url)
    try:
        link(store, clock, *(f"https://example.com/r{index}" for index in range(5)))
        assert PageChecker(config, store, clock=clock).outbound.per_host_interval == 0.5
        outbound = Outbound(connect_to=config.tracker.connect_to, per_host_interval=0.5, sleep=sleep,
                            monotonic=lambda: now[0])  # fmt: skip
        assert PageChecker(config, store, clock=clock, outbound=outbound).run().checked == 5
    finally:
        store.close()
    assert len(site.requests) == 10  # HEAD and GET each
    assert waits == [0.5] * 9  # each request waited for its turn: two a second


def test_a_private_address_is_never_contacted_unless_allowed(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    config = site_config(tmp_path, site, database_url)
    store = Store.open(config.database_url)
    try:
        link(store, clock, "https://blog.example.com/intranet")  # not in connect_to: resolved, then refused
        outbound = Outbound(resolver=lambda host, port: ["10.0.0.5"], sleep=lambda _: None)
        PageChecker(config, store, clock=clock, outbound=outbound).run()
        with store.read() as conn:
            (row,) = checked_pages(conn, ["example.com"])
    finally:
        store.close()
    assert (row["status"], row["broken"]) == (None, True)
    assert "10.0.0.5, not a public address; refused" in str(row["error"])
    allowing = site_config(tmp_path, site, database_url, "allow_private_addresses = true")
    opened = Store.open(allowing.database_url)
    try:
        assert PageChecker(allowing, opened, clock=clock).outbound.allow_private is True
        assert PageChecker(config, opened, clock=clock).outbound.allow_private is False
    finally:
        opened.close()


def test_tracker_pages_lists_the_checked_pages_and_status_shows_the_progress(
    tmp_path: Path, site: FakeSite, clock: Clock
) -> None:
    from datetime import UTC, datetime

    from click.testing import CliRunner

    from tracker.cli import cli

    site.pages[("example.com", "/fine")] = Page(200, html_page("Fine"))
    site.pages[("example.com", "/moved")] = Page(301, headers={"Location": "https://example.com/fine"})
    config = site_config(tmp_path, site, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    try:
        link(
            store, clock, "https://example.com/fine", "https://example.com/moved", "https://example.com/lost"
        )
        clock.now = datetime.now(UTC)  # status counts checks against the real time
        PageChecker(config, store, clock=clock).run()
        link(store, clock, "https://example.com/later")  # linked after the checks: due
    finally:
        store.close()
    runner = CliRunner()
    listed = runner.invoke(cli, ["--config", str(config.path), "pages"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("404 https://example.com/") and "BROKEN" in lines[0]  # broken ones first
    assert "200 https://example.com/moved -> 301 https://example.com/fine  (checked " in listed.output
    broken = runner.invoke(cli, ["--config", str(config.path), "pages", "--broken"])
    assert broken.exit_code == 0 and len(broken.output.splitlines()) == 1
    as_json = runner.invoke(cli, ["--config", str(config.path), "pages", "--broken", "--json"])
    assert json.loads(as_json.output.splitlines()[0])["status"] == 404
    status = runner.invoke(cli, ["--config", str(config.path), "status", "--json"])
    assert json.loads(status.output)["pages"] | {"last_checked_at": None} == {
        "linked": 4, "checked": 3, "due": 1, "broken": 1, "no_answer": 0, "last_checked_at": None,
    }  # fmt: skip
    text = runner.invoke(cli, ["--config", str(config.path), "status"]).output
    assert "pages: 3 of 4 linked page(s) checked within 1w, 1 due; 1 broken" in text


def test_the_daemon_checks_pages_in_a_job_of_its_own(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    import threading

    from tracker.daemon import Work

    site.pages[("example.com", "/p")] = Page(200, html_page("P"))
    config = site_config(tmp_path, site, database_url)
    store = Store.open(config.database_url)
    work = Work(config, store, threading.Event(), clock)
    try:
        link(store, clock, "https://example.com/p")
        work.start()
        job = work.scheduler.get_job("page-checks")
        assert job is not None and not any(j.id.startswith("poll:") for j in work.scheduler.get_jobs())
        job.func(*job.args)  # what the scheduler runs, on its own worker
        with store.read() as conn:
            assert [row["status"] for row in checked_pages(conn, ["example.com"])] == [200]
    finally:
        assert work.shutdown(5.0)
        store.close()
    off = site_config(tmp_path, site, database_url, "check = false")
    store = Store.open(off.database_url)
    work = Work(off, store, threading.Event(), clock)
    try:
        work.start()
        assert work.scheduler.get_job("page-checks") is None
    finally:
        work.shutdown(5.0)
        store.close()


def test_a_page_that_breaks_writes_one_page_broken_event_for_the_alert_rules(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    from sqlalchemy import select

    from tracker.schema import alert_events

    site.pages[("example.com", "/p")] = Page(200, html_page("P"))
    rule = '[[alerts]]\nname = "team"\non = ["page_broken"]\nwebhook_url = "http://127.0.0.1:9/hook"\nwebhook_secret = "s3cret"'
    config = site_config(tmp_path, site, database_url, 'interval = "1d"\n' + rule)
    store = Store.open(config.database_url)
    try:
        link(store, clock, "https://example.com/p")
        checker = PageChecker(config, store, clock=clock)
        checker.run()
        site.pages[("example.com", "/p")] = Page(404)
        for _ in range(2):  # broken, then still broken: one event
            clock.advance(days=1)
            checker.run()
        with store.read() as conn:
            rows = conn.execute(
                select(alert_events.c.event, alert_events.c.domain, alert_events.c.payload)
            ).all()
    finally:
        store.close()
    assert [(event, domain) for event, domain, _ in rows] == [("page_broken", "example.com")]
    payload = json.loads(rows[0][2])
    assert (payload["page"], payload["status"]) == ("https://example.com/p", 404)


def test_a_stored_page_whose_host_the_config_no_longer_covers_is_not_asked_and_not_broken(
    tmp_path: Path, site: FakeSite, database_url: str, clock: Clock
) -> None:
    from sqlalchemy import func, select

    from tracker.schema import alert_events

    config = make_config(
        tmp_path,
        f"""
        [tracker]
        data_dir = "data"
        database_url = "{database_url}"
        connect_to = {{"blog.example.com" = "{site.url}"}}

        [[domains]]
        name = "example.com"
        include_subdomains = false

        [[alerts]]
        name = "team"
        on = ["page_broken"]
        webhook_url = "http://127.0.0.1:9/hook"
        webhook_secret = "s3cret"
        """,
    )
    store = Store.open(config.database_url)
    try:
        link(store, clock, "https://blog.example.com/x")  # stored while subdomains still counted
        done = PageChecker(config, store, clock=clock).run()
        with store.read() as conn:
            (row,) = checked_pages(conn, ["example.com"], broken_only=False)
            events = conn.execute(select(func.count()).select_from(alert_events)).scalar_one()
    finally:
        store.close()
    assert (done.checked, done.broken, done.became_broken, events) == (1, 0, 0, 0)
    assert not row["broken"] and "not a host of an own domain" in row["error"]
    assert site.seen("blog.example.com", "/x") == []


def test_a_canonical_tag_is_another_page_only_by_the_trackers_canonical_url_rule() -> None:
    from tracker.page_probe import page_problems

    def flagged(tag: str, final: str) -> bool:
        return "canonical" in page_problems(False, (), False, tag, final)

    page = "https://example.com/a?b=2&c=1"
    for same in (
        "https://www.example.com/a?c=1&b=2",  # www., query order
        "https://example.com:443/a/?b=2&c=1&utm_source=x#top",  # default port, slash, tracking, fragment
        "http://example.com/./a?b=2&c=1",
    ):
        assert not flagged(same, page), same
    assert flagged("https://example.com/b?b=2&c=1", page)
    assert flagged("not a url", page)


def test_a_page_no_longer_asked_is_not_counted_as_unanswered(tmp_path: Path, clock: Clock) -> None:
    from tracker.page_checks import progress, record_check
    from tracker.page_probe import PageCheck

    store = Store.open(f"sqlite:///{tmp_path / 'tracker.db'}")
    try:
        link(store, clock, "https://example.com/timed-out", "https://example.com/not-ours-now")
        record_check(store.engine, PageCheck("https://example.com/timed-out", error="no answer within 10s"),
                     "example.com", clock())  # fmt: skip
        record_check(store.engine, PageCheck("https://example.com/not-ours-now", error="not checked",
                                             skipped=True), "example.com", clock())  # fmt: skip
        with store.read() as conn:
            found = progress(conn, ["example.com"], clock(), timedelta(days=7))
    finally:
        store.close()
    assert (found.checked, found.broken, found.failed) == (2, 1, 1)
