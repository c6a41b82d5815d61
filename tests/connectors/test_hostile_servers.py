"""Every connector's client path against hostile servers on loopback: a server dripping its answer, a gzip
bomb, a 50 MB body, a redirect to another host and a cut-off body. A pass retries cleanly (counted) or fails
within its deadline (``timeout = "1s"``), never follows a redirect to another host (that host receives
nothing), and its memory stays bounded (the bomb and the 50 MB body run in a subprocess whose peak RSS is
checked)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import Clock, Sleeps, make_config
from tests.support.bluesky_api import DID, HANDLE, PASSWORD, jwt
from tests.support.hostile import (
    Behaviour,
    HostileServer,
    cut_off,
    drip,
    gzip_bomb,
    oversized,
    poll_in_subprocess,
    redirect,
    reply,
)
from tracker.poller import Poller, RunResult
from tracker.store import Store

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RSS_BOUND_MB = 300
ATOM = '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>'
LISTING = {"kind": "Listing", "data": {"children": [], "after": None, "before": None, "dist": 0}}


@dataclass(frozen=True)
class ClientPath:
    """One connector's way to the network: its config, the request that misbehaves and its normal answer."""

    name: str
    section: str  # the connector's table, with {url}
    path: str
    normal: Callable[[], Behaviour]
    setup: Callable[[HostileServer], None] = lambda server: None


def _reddit_token(server: HostileServer) -> None:
    token = {"access_token": "token", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
    server.route("/api/v1/access_token", reply(token))


def _bluesky_session(server: HostileServer) -> None:
    session = {
        "accessJwt": jwt("com.atproto.access", 1, 3600),
        "refreshJwt": jwt("com.atproto.refresh", 1, 86400),
        "handle": HANDLE,
        "did": DID,
        "active": True,
    }
    server.route("/xrpc/com.atproto.server.createSession", reply(session))


PATHS = [
    ClientPath(
        "hackernews",
        'type = "hackernews"\napi_base_url = "{url}"\ncomments = false',
        "/search_by_date",
        lambda: reply({"hits": [], "nbHits": 0, "nbPages": 0, "page": 0}),
    ),
    ClientPath(
        "x",
        'type = "x"\nbearer_token = "token"\napi_base_url = "{url}"',
        "/2/tweets/search/recent",
        lambda: reply({"meta": {"result_count": 0}}),
    ),
    ClientPath(
        "reddit_api",
        'type = "reddit"\nclient_id = "id"\nclient_secret = "secret"\nuser_agent = "mention-tracker tests"\n'
        'api_base_url = "{url}/oauth"\nauth_base_url = "{url}"\nsearch = false',
        "/oauth/domain/example.com/new",
        lambda: reply(LISTING),
        _reddit_token,
    ),
    ClientPath(
        "reddit_feeds",
        'type = "reddit"\nauth = "none"\nuser_agent = "mention-tracker tests"\nfeed_base_url = "{url}"\n'
        "search = false",
        "/domain/example.com/new/.rss",
        lambda: reply(ATOM, content_type="application/atom+xml"),
    ),
    ClientPath(
        "bluesky",
        f'type = "bluesky"\nhandle = "{HANDLE}"\napp_password = "{PASSWORD}"\napi_base_url = "{{url}}"',
        "/xrpc/app.bsky.feed.searchPosts",
        lambda: reply({"posts": []}),
        _bluesky_session,
    ),
]
IDS = [path.name for path in PATHS]


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


@pytest.fixture
def foreign() -> Iterator[HostileServer]:
    with HostileServer("127.0.0.2") as running:  # another host (all of 127/8 is loopback)
        yield running


def config_text(path: ClientPath, url: str) -> str:
    section = path.section.format(url=url)
    return f'[[domains]]\nname = "example.com"\n[connectors.{path.name}]\n{section}\ntimeout = "1s"\n'


def poll(tmp_path: Path, path: ClientPath, url: str) -> tuple[RunResult, dict[str, int]]:
    config = make_config(tmp_path, config_text(path, url))
    store = Store.open(config.database_url)
    poller = Poller(config, store, clock=Clock(NOW), sleeper=Sleeps())
    try:
        result = poller.poll(path.name)
    finally:
        poller.close()
    counters = json.loads(str(store.run(result.run_id)["counters"]))  # type: ignore[arg-type]
    store.close()
    return result, counters


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_a_dripping_answer_is_cut_at_the_deadline_and_retried(
    server: HostileServer, tmp_path: Path, path: ClientPath
) -> None:
    path.setup(server)
    server.route(path.path, drip(interval=0.05), path.normal())
    result, counters = poll(tmp_path, path, server.url)
    assert (result.status, result.error) == ("ok", None)
    assert counters.get("retried_timeout") == 1
    assert result.seconds < 10  # one 1 s deadline, not the drip's 100,000 bytes


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_a_cut_off_answer_is_retried(server: HostileServer, tmp_path: Path, path: ClientPath) -> None:
    path.setup(server)
    server.route(path.path, cut_off(), path.normal())
    result, counters = poll(tmp_path, path, server.url)
    assert (result.status, result.error) == ("ok", None)
    assert counters.get("retried_connection") == 1


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_a_redirect_to_another_host_is_an_error_and_never_followed(
    server: HostileServer, foreign: HostileServer, tmp_path: Path, path: ClientPath
) -> None:
    path.setup(server)
    server.route(path.path, redirect(foreign.url + path.path, 307))
    result, _ = poll(tmp_path, path, server.url)
    assert result.status == "failed"
    assert result.error is not None
    assert f"127.0.0.1:{server.port}" in result.error and f"127.0.0.2:{foreign.port}" in result.error
    assert foreign.received == []


# prawcore follows no redirect at all: it reports one as the listing's answer (a missing subreddit)
FOLLOWING = [path for path in PATHS if path.name != "reddit_api"]


@pytest.mark.parametrize("path", FOLLOWING, ids=[path.name for path in FOLLOWING])
def test_a_redirect_on_the_same_host_is_followed(
    server: HostileServer, tmp_path: Path, path: ClientPath
) -> None:
    path.setup(server)
    server.route(path.path, redirect(path.path + "/moved", 302))
    server.route(path.path + "/moved", path.normal())
    result, _ = poll(tmp_path, path, server.url)
    assert (result.status, result.error) == ("ok", None)
    assert server.paths().count(path.path + "/moved") == 1


def test_bluesky_never_sends_the_app_password_to_the_host_a_login_redirect_names(
    server: HostileServer, foreign: HostileServer, tmp_path: Path
) -> None:
    path = PATHS[IDS.index("bluesky")]
    login = "/xrpc/com.atproto.server.createSession"
    server.route(login, redirect(foreign.url + login, 307))
    result, _ = poll(tmp_path, path, server.url)
    assert result.status == "failed"
    assert result.error is not None and f"127.0.0.2:{foreign.port}" in result.error
    assert foreign.received == []
    assert [request.path for request in server.received] == [login]  # not retried either


# Memory: the client runs in a subprocess, so its peak RSS is its own.


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=IDS)
@pytest.mark.parametrize("hostile", ["gzip_bomb", "oversized"])
def test_a_gzip_bomb_or_a_50_mb_answer_is_refused_with_memory_bounded(
    server: HostileServer, tmp_path: Path, path: ClientPath, hostile: str
) -> None:
    path.setup(server)
    server.route(path.path, gzip_bomb(2) if hostile == "gzip_bomb" else oversized(50), path.normal())
    config = tmp_path / "tracker.toml"
    config.write_text(config_text(path, server.url), encoding="utf-8")
    outcome = poll_in_subprocess(config, path.name)
    assert (outcome["status"], outcome["error"]) == ("ok", None)
    assert outcome["counters"].get("retried_too_large") == 1
    assert outcome["peak_mb"] < RSS_BOUND_MB


def test_max_response_size_is_configurable_per_connector(server: HostileServer, tmp_path: Path) -> None:
    path = PATHS[IDS.index("hackernews")]
    hits = [{"objectID": str(n), "title": "x" * 100} for n in range(20)]  # about 3 KB
    server.route(path.path, reply({"hits": hits, "nbHits": 20, "nbPages": 1, "page": 0}))
    config = make_config(tmp_path, config_text(path, server.url) + 'max_response_size = "2KB"\n')
    store = Store.open(config.database_url)
    poller = Poller(config, store, clock=Clock(NOW), sleeper=Sleeps())
    result = poller.poll(path.name)
    poller.close()
    assert result.status == "failed"
    assert result.error == (
        f"{server.url}{path.path}: the answer from 127.0.0.1:{server.port} is larger than 2KB "
        "(max_response_size); gave up after 5 attempts"
    )


def test_a_proxy_named_by_the_environment_is_used_under_the_same_deadline(
    server: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    path = PATHS[IDS.index("hackernews")]
    api = "http://hn.example.invalid/api"  # resolves nowhere: only the proxy can answer
    server.route(api + path.path, drip(interval=0.05), path.normal())
    result, counters = poll(tmp_path, path, api)
    assert (result.status, result.error) == ("ok", None)
    assert counters.get("retried_timeout") == 1
    assert server.paths() == [api + path.path] * 2
