"""The Bluesky search connector: the real atproto client against a local PDS serving recorded answers."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, Sleeps, make_config
from tests.support.bluesky_api import (
    CREATE_SESSION,
    GET_POSTS,
    GET_PROFILES,
    HANDLE,
    PASSWORD,
    REFRESH_SESSION,
    SEARCH,
    FakePds,
    recorded_posts,
)
from tests.support.http_server import RecordingServer, Reply, Request
from tracker.errors import ConfigError
from tracker.poller import Poller, RunResult
from tracker.store import Store

NOW = datetime(2025, 5, 19, 18, 0, tzinfo=UTC)
SOCPAPERBOT = "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/"
OSF_POSTS = {SOCPAPERBOT + rkey for rkey in ("3lpk2u6qo222m", "3lpjl3ghnhg2m", "3lpj5nu5wic2w")}


@pytest.fixture
def pds() -> Iterator[FakePds]:
    with RecordingServer() as server:
        yield FakePds(server)


class Rig:
    def __init__(
        self, tmp_path: Path, pds: FakePds, domain: str, password: str = PASSWORD, extra: str = ""
    ) -> None:
        self.tmp_path = tmp_path
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        self.config = make_config(
            tmp_path,
            f"""
            [[domains]]
            name = "{domain}"
            [connectors.bluesky]
            handle = "${{BLUESKY_HANDLE}}"
            app_password = "${{BLUESKY_APP_PASSWORD}}"
            api_base_url = "{pds.url}"
            {extra}
            """,
            env={"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": password},
        )
        self.store = Store.open(self.config.database_url)

    def poller(self) -> Poller:
        return Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)

    def poll(self, **options: Any) -> RunResult:
        poller = self.poller()  # a fresh connector each time, as after a restart
        try:
            return poller.poll("bluesky", **options)
        finally:
            poller.close()

    def refresh(self, ids: list[str]) -> RunResult:
        poller = self.poller()
        try:
            return poller.refresh("bluesky", ids)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions()}

    @property
    def session_file(self) -> Path:
        return self.tmp_path / "data" / "bluesky-bluesky.session.json"


def test_recorded_posts_linking_to_the_domain_are_found(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    result = rig.poll()
    assert (result.status, result.error, result.new) == ("ok", None, 3)
    assert set(rig.mentions()) == OSF_POSTS
    post = rig.mentions()[SOCPAPERBOT + "3lpk2u6qo222m"]
    assert post.permalink == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert (post.author_id, post.author_handle, post.author_name, post.author_followers) == (
        "did:plc:kkergqgbhb56ptpwj2wenkje", "socpaperbot.bsky.social", "Sociology papers (journals + SocArXiv)", 123,
    )  # fmt: skip
    assert (post.kind, post.created_at) == ("post", datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC))
    assert post.text is not None and post.text.startswith("Ends Versus Means: Public Opinion")
    assert (post.metrics.likes, post.metrics.reposts, post.metrics.replies, post.metrics.quotes) == (
        0,
        0,
        0,
        0,
    )
    (link,) = post.links
    assert (link.url, link.source, link.anchor_text, link.canonical_url) == (
        "https://osf.io/v87fn", "facet", "https://osf.io/v87fn", "https://osf.io/v87fn",
    )  # fmt: skip
    assert post.raw is not None and json.loads(post.raw)["indexedAt"] == "2025-05-19T17:10:09.813Z"
    (search,) = pds.searches()
    assert search.query == {
        "q": ["*"], "domain": ["osf.io"], "sort": ["latest"], "since": ["2025-05-12T18:00:00.000Z"],
        "until": ["2025-05-19T18:00:00.000Z"], "limit": ["100"],
    }  # fmt: skip
    assert search.headers["authorization"].startswith("Bearer ")
    (profiles,) = pds.requests_to(GET_PROFILES)
    assert profiles.query["actors"] == ["did:plc:kkergqgbhb56ptpwj2wenkje"]
    assert (pds.sessions_created, pds.problems, pds.server.unexpected) == (1, [], [])


def test_a_card_only_post_is_found_because_q_does_not_restrict(tmp_path: Path, pds: FakePds) -> None:
    card = copy.deepcopy(next(p for p in recorded_posts() if p["uri"].endswith("3lpk2r5h5ec2j")))
    card["uri"] = card["uri"].replace("3lpk2r5h5ec2j", "3cardonly222a")
    del card["record"]["facets"]
    card["record"]["text"] = "Worth a read."  # the link is only in the card
    pds.posts.append(card)
    rig = Rig(tmp_path, pds, "open.substack.com")
    rig.poll()
    found = rig.mentions()
    assert set(found) == {card["uri"], card["uri"].replace("3cardonly222a", "3lpk2r5h5ec2j")}
    (link,) = found[card["uri"]].links
    assert (link.source, link.anchor_text) == ("embed", "The Pawn or the Collaborator?")
    assert (
        link.canonical_url
        == "https://open.substack.com/pub/christackett/p/the-pawn-or-the-collaborator?r=92vnq"
    )


def test_a_server_rejecting_q_star_searches_with_the_domain_and_says_so(tmp_path: Path, pds: FakePds) -> None:
    from tracker.status import collect

    pds.reject_star = True
    rig = Rig(tmp_path, pds, "osf.io")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 3)  # these posts also spell the link out in their text
    assert [r.param("q") for r in pds.searches()] == ["*", "osf.io"]
    (status,) = collect(rig.config, rig.store, NOW)
    assert (
        status.mode
        == "search q=<domain> (the server rejects q=*, so posts linking only through a card can be missed)"
    )
    rig.clock.advance(hours=1)
    rig.poll()
    assert pds.searches()[-1].param("q") == "osf.io"  # remembered: no request wasted on q=*
    assert list((tmp_path / "data").glob("*.query.json")) == []  # in the database, not a side file
    pds.reject_star = False
    rig.clock.advance(days=1)
    rig.poll()
    assert pds.searches()[-1].param("q") == "*"  # tried again a day later
    assert collect(rig.config, rig.store, rig.clock.now)[0].mode == "search q=*"


def test_the_q_star_memo_file_of_an_older_version_is_moved_into_the_database(
    tmp_path: Path, pds: FakePds
) -> None:
    pds.reject_star = True
    rig = Rig(tmp_path, pds, "osf.io")
    old = tmp_path / "data" / "bluesky-bluesky.query.json"
    old.parent.mkdir(parents=True, exist_ok=True)
    base_url = rig.config.connectors["bluesky"].api_base_url  # type: ignore[attr-defined]
    old.write_text(
        json.dumps({"api_base_url": base_url, "unrestricted_rejected_at": "2025-05-19T17:00:00.000Z"})
    )
    assert rig.poll().new == 3
    assert [r.param("q") for r in pds.searches()] == ["osf.io"]  # remembered: no request wasted on q=*
    assert not old.exists()
    rig.clock.advance(hours=1)
    rig.poll()
    assert [r.param("q") for r in pds.searches()][1:] == ["osf.io"]


def test_paging_follows_the_cursor_and_the_next_pass_resumes_minus_the_overlap(
    tmp_path: Path, pds: FakePds
) -> None:
    rig = Rig(tmp_path, pds, "drive.google.com", extra="page_size = 1")
    first = rig.poll()
    assert (first.status, first.new, first.pages) == ("ok", 3, 3)
    assert [r.param("cursor") for r in pds.searches()] == [None, "1", "2"]
    assert {r.param("since") for r in pds.searches()} == {"2025-05-12T18:00:00.000Z"}
    rig.clock.advance(hours=1)
    again = rig.poll()
    assert (again.status, again.new) == ("ok", 0)
    assert (pds.searches()[-1].param("since"), pds.searches()[-1].param("until")) == (
        "2025-05-19T17:45:00.000Z", "2025-05-19T19:00:00.000Z",
    )  # fmt: skip
    assert len(rig.mentions()) == 3


def test_a_pass_that_fails_midway_resumes_below_the_last_page_read(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "drive.google.com", extra="page_size = 1")
    search = pds.search
    calls = {"n": 0}

    def failing_after_one_page(request: Request) -> Reply:
        calls["n"] += 1
        return search(request) if calls["n"] == 1 else Reply(503, {"error": "InternalServerError"})

    pds.server.route("GET", SEARCH, failing_after_one_page)
    broken = rig.poll()
    assert (broken.status, broken.new) == ("failed", 1)
    assert (
        broken.error
        == "Bluesky app.bsky.feed.searchPosts: HTTP 503 from the server; gave up after 5 attempts"
    )
    pds.server.route("GET", SEARCH, search)
    rig.clock.advance(minutes=10)
    healed = rig.poll()
    assert (healed.status, healed.new) == ("ok", 2)
    resumed = pds.searches()[6]  # after the first page and its five failed attempts
    newest = "2025-05-19T16:46:41.793Z"  # 1 ms after the post read before the failure (ties are read again)
    assert (resumed.param("since"), resumed.param("until"), resumed.param("cursor")) == (
        "2025-05-12T18:00:00.000Z", newest, None,
    )  # fmt: skip
    assert len(rig.mentions()) == 3


def test_max_pages_ends_a_pass_and_the_next_pass_reads_on(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "drive.google.com", extra="page_size = 1\nmax_pages = 2")
    first = rig.poll()
    assert (first.status, first.new, first.pages) == ("ok", 2, 2)
    rig.clock.advance(minutes=5)
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 1)
    assert pds.searches()[2].param("until") == "2025-05-19T16:20:29.110Z"  # the backlog first
    assert len(rig.mentions()) == 3


def test_login_once_and_reuse_the_saved_session(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    assert oct(rig.session_file.stat().st_mode & 0o777) == "0o600"
    saved = json.loads(rig.session_file.read_text())
    assert (saved["handle"], saved["api_base_url"]) == (HANDLE, pds.url)
    assert PASSWORD not in rig.session_file.read_text()
    for _ in range(3):
        rig.clock.advance(minutes=10)
        assert rig.poll().status == "ok"
    assert pds.sessions_created == 1
    (login,) = pds.requests_to(CREATE_SESSION)
    assert login.json() == {"identifier": HANDLE, "password": PASSWORD}


def test_an_access_token_near_expiry_is_refreshed_and_saved(tmp_path: Path, pds: FakePds) -> None:
    pds.access_lifetime = 600  # inside the client's 15-minute margin: refreshed before the next call
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    before = rig.session_file.read_text()
    rig.poll()
    assert (pds.sessions_created, pds.refreshes >= 1) == (1, True)
    assert rig.session_file.read_text() != before
    assert pds.requests_to(REFRESH_SESSION)[0].headers["authorization"].startswith("Bearer ")


def test_a_session_the_server_no_longer_accepts_is_replaced_by_a_new_login(
    tmp_path: Path, pds: FakePds
) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    pds.expire_sessions()
    rig.clock.advance(minutes=10)
    result = rig.poll()
    assert (result.status, pds.sessions_created) == ("ok", 2)


@pytest.mark.parametrize(
    "damage", ["not json", "another handle", "another server", "broken token", "expired"]
)
def test_a_saved_session_that_cannot_be_used_is_replaced(tmp_path: Path, pds: FakePds, damage: str) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    saved = json.loads(rig.session_file.read_text())
    handle, did, access, refresh, endpoint = saved["session"].split(":::")
    if damage == "not json":
        rig.session_file.write_text("{oops")
    else:
        if damage == "another handle":
            saved["handle"] = "someone.else"
        elif damage == "another server":
            saved["api_base_url"] = "https://bsky.social"
        elif damage == "broken token":
            saved["session"] = ":::".join([handle, did, "garbage", refresh, endpoint])
        else:
            from tests.support.bluesky_api import jwt

            saved["session"] = ":::".join(
                [handle, did, access, jwt("com.atproto.refresh", 99, -10), endpoint]
            )
        rig.session_file.write_text(json.dumps(saved))
    result = rig.poll()
    assert (result.status, pds.sessions_created) == ("ok", 2)
    assert len(pds.requests_to(SEARCH)) == 2  # no request was wasted on the unusable session


def test_a_wrong_app_password_is_a_credentials_error(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io", password="wrong-pass-word-0000")
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "credentials rejected: Bluesky rejected the login of tracker.test: Invalid identifier or password; "
        "check connectors.bluesky.handle and app_password"
    )
    assert (len(pds.requests_to(CREATE_SESSION)), rig.sleeps) == (1, [])
    assert not rig.session_file.exists()


def test_a_rate_limited_login_fails_the_pass_without_retrying(tmp_path: Path, pds: FakePds) -> None:
    pds.faults[CREATE_SESSION] = "rate_limit"
    rig = Rig(tmp_path, pds, "osf.io")
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        "Bluesky createSession: rate limited (HTTP 429); the server asks to retry in 4000s, later than the "
        "longest wait allowed (900s); the next pass resumes from the cursor"
    )
    assert (len(pds.requests_to(CREATE_SESSION)), rig.sleeps) == (1, [])


def test_a_rate_limit_honours_retry_after(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    pds.faults[SEARCH] = "rate_limit"
    result = rig.poll()
    assert (result.status, rig.sleeps) == ("failed", [3.0, 3.0, 3.0, 3.0])
    assert (
        result.error == "Bluesky app.bsky.feed.searchPosts: rate limited (HTTP 429); gave up after 5 attempts"
    )


def test_a_transient_fault_is_retried_and_the_pass_succeeds(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    search, calls = pds.search, {"n": 0}

    def flaky(request: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(200, b'{"posts": [')  # a malformed answer
        return search(request) if calls["n"] > 2 else Reply(502, b"bad gateway")

    pds.server.route("GET", SEARCH, flaky)
    result = rig.poll()
    assert (result.status, result.new, len(rig.sleeps)) == ("ok", 3, 2)


def test_a_post_view_that_cannot_be_read_is_skipped_alone(tmp_path: Path, pds: FakePds) -> None:
    broken = copy.deepcopy(next(p for p in pds.posts if p["uri"] == SOCPAPERBOT + "3lpk2u6qo222m"))
    broken["uri"] = "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.like/3notapost"
    pds.posts.append(broken)
    rig = Rig(tmp_path, pds, "osf.io")
    result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 3, 1)
    assert "not a Bluesky post uri" in result.problems[0]


def test_refresh_reads_metrics_and_deletions_through_get_posts(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    kept, *gone = sorted(rig.mentions())
    for post in pds.posts:
        if post["uri"] == kept:
            post.update(likeCount=12, repostCount=3)
    pds.posts = [p for p in pds.posts if p["uri"] not in gone]
    others = [
        f"at://did:plc:other{n:020d}/app.bsky.feed.post/3x{n:011d}" for n in range(30)
    ]  # not on Bluesky
    result = rig.refresh([kept, *gone, *others])
    assert (result.status, result.deleted) == ("ok", 2)
    assert (rig.mentions()[kept].metrics.likes, rig.mentions()[kept].engagement) == (12, 15)
    assert [len(r.query["uris"]) for r in pds.requests_to(GET_POSTS)] == [25, 8]


def test_the_handle_and_app_password_are_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, '[[domains]]\nname = "osf.io"\n[connectors.bluesky]\n')
    assert caught.value.problems == [
        "connectors.bluesky.handle: required setting is missing; add handle = ... to this table",
        "connectors.bluesky.app_password: required setting is missing; add app_password = ... to this table",
    ]
    with pytest.raises(ConfigError) as caught:
        make_config(
            tmp_path, '[[domains]]\nname = "osf.io"\n[connectors.bluesky]\nhandle = "@"\napp_password = " "\n'
        )
    assert caught.value.problems == [
        'connectors.bluesky.handle: is empty; write your Bluesky handle, like "you.bsky.social"',
        "connectors.bluesky.app_password: is empty; create an app password in Bluesky (Settings > Privacy and security)",
    ]


def test_checking_the_config_and_the_stream_never_import_atproto(tmp_path: Path) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text(
        '[[domains]]\nname = "example.com"\n[connectors.bluesky]\nhandle = "me.bsky.social"\n'
        'app_password = "abcd-efgh-ijkl-mnop"\n[connectors.stream]\ntype = "jetstream"\n'
    )
    script = (
        "import sys\nfrom tracker.config import load_config\nfrom tracker import registry\n"
        "from tracker.connector import ConnectorContext\nfrom connectors.bluesky.jetstream import StreamHandler\n"
        f"config = load_config({str(config)!r}, env={{}})\n"
        "for name, settings in config.connectors.items():\n"
        "    connector = registry.load(settings.type)(name, settings, ConnectorContext(data_dir=config.data_dir))\n"
        "    connector.describe(config.domains); connector.mode()\n"
        'StreamHandler([\'example.com\']).handle(\'{"did":"did:plc:a","time_us":1,"kind":"commit"}\')\n'
        "print(sorted(m for m in sys.modules if m.startswith('atproto')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == "[]"


def test_a_backfill_reads_back_to_its_date_with_cursors_of_its_own(tmp_path: Path, pds: FakePds) -> None:
    rig = Rig(tmp_path, pds, "osf.io")
    rig.poll()
    live_cursor = rig.store.cursors("bluesky")["search:osf.io"]
    since = datetime(2025, 4, 1, tzinfo=UTC)
    result = rig.poll(kind="backfill", since=since)
    assert (result.status, result.new) == ("ok", 0)
    assert (pds.searches()[-1].param("since"), pds.searches()[-1].param("until")) == (
        "2025-04-01T00:00:00.000Z", "2025-05-19T18:00:00.000Z",
    )  # fmt: skip
    cursors = rig.store.cursors("bluesky")
    assert cursors["search:osf.io"] == live_cursor
    assert dict(cursors["backfill:search:osf.io"].state) == {
        "until": "2025-05-19T18:00:00.000Z", "since": "2025-04-01T00:00:00.000Z",
    }  # fmt: skip
    rig.clock.advance(hours=1)
    rig.poll(kind="backfill", since=since)  # the same backfill again: resumes where it ended
    assert pds.searches()[-1].param("since") == "2025-05-19T17:45:00.000Z"
