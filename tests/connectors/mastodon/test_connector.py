"""The Mastodon connector against local instances serving recorded statuses."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Clock, Sleeps, make_config
from tests.support.http_server import RecordingServer, Reply
from tests.support.mastodon_api import (
    LINK,
    PUBLIC,
    SEARCH,
    SEARCH_V2,
    TOKEN,
    FakeMastodon,
    published,
    recorded_answer,
    snowflake,
)
from tracker.config import ConfigError
from tracker.poller import Poller, RunResult
from tracker.record import Mention
from tracker.schema import coverage_gaps
from tracker.store import Store

NOW = datetime(2025, 7, 17, 20, 10, tzinfo=UTC)
INDIE_BEAT = {
    "https://mastodon.social/users/tibrnowplayingbot/statuses/114868870384991099",
    "https://mastodon.social/users/tibrnowplayingbot/statuses/114868870143504692",
}
HOME_ASSISTANT = "https://fosstodon.org/users/homeassistant/statuses/114870351808858875"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def other() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


class Rig:
    def __init__(self, tmp_path: Path, domain: str, body: str, env: dict[str, str] | None = None) -> None:
        self.clock = Clock(NOW)
        self.sleeps = Sleeps()
        self.config = make_config(
            tmp_path, f'[[domains]]\nname = "{domain}"\n[connectors.mastodon]\n{body}\n', env=env
        )
        self.store = Store.open(self.config.database_url)

    def poll(self) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("mastodon")
        finally:
            poller.close()

    def mentions(self) -> dict[str, Mention]:
        return {m.platform_id: m for m in self.store.iter_mentions()}


def _instances(*fakes: FakeMastodon) -> str:
    return "instances = [" + ", ".join(f'"{fake.url}"' for fake in fakes) + "]"


def test_the_federated_timeline_yields_the_statuses_linking_to_the_domain(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    rig = Rig(tmp_path, "theindiebeat.fm", f'{_instances(fake)}\npublic_timeline = "federated"')
    result = rig.poll()
    assert (result.status, result.error, result.new) == ("ok", None, 2)
    found = rig.mentions()
    assert set(found) == INDIE_BEAT
    status = found["https://mastodon.social/users/tibrnowplayingbot/statuses/114868870384991099"]
    assert status.permalink == "https://mastodon.social/@tibrnowplayingbot/114868870384991099"
    assert (status.kind, status.author_handle, status.author_name, status.author_followers) == (
        "post", "tibrnowplayingbot@mastodon.social", "Now Playing on The Indie Beat", 108,
    )  # fmt: skip
    assert (status.community, status.lang) == ("mastodon.social", "en")
    assert status.author_id == "https://mastodon.social/users/tibrnowplayingbot"
    assert status.created_at == datetime(2025, 7, 17, 13, 44, 23, tzinfo=UTC)
    assert (status.metrics.likes, status.metrics.reposts, status.metrics.replies) == (0, 0, 0)
    # The bonkwave.org link is another site; the hashtags link to the instance and are left out.
    assert [(link.canonical_url, link.anchor_text, link.source) for link in status.links] == [
        ("https://theindiebeat.fm/not-what-i-call-radio-bonk-wave", None, "text"),
        ("https://theindiebeat.fm/", None, "text"),
    ]
    assert status.text is not None and status.text.startswith("Now playing:")
    first = fake.requests_to(PUBLIC)[0]
    assert first.query == {"local": ["false"], "limit": ["40"]}
    assert "authorization" not in first.headers
    assert fake.problems == []


def test_without_a_token_the_local_timeline_is_read(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(fake)}\ntrending_links = false")
    assert rig.poll().new == 1
    found = rig.mentions()[HOME_ASSISTANT]
    assert (found.author_handle, found.community, found.author_followers) == (
        "homeassistant@fosstodon.org", "fosstodon.org", 19034,
    )  # fmt: skip
    assert (found.metrics.likes, found.metrics.reposts) == (3, 5)
    assert [r.param("local") for r in fake.requests_to(PUBLIC)] == ["true"]
    assert fake.requests_to(SEARCH) == []


def test_the_next_pass_reads_the_timeline_forward_from_the_last_status(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    rig = Rig(
        tmp_path,
        "theindiebeat.fm",
        f'{_instances(fake)}\npublic_timeline = "federated"\ntrending_links = false',
    )
    rig.poll()
    newest = "114870362701816829"  # the newest status of the recorded timeline
    assert rig.store.cursors("mastodon")[f"federated:{server.url[7:]}"].state["last_id"] == newest
    template = next(s for s in fake.statuses if s["account"]["acct"].startswith("tibrnowplayingbot"))
    fake.statuses.append(published(template, NOW + timedelta(minutes=3), 1, "https://theindiebeat.fm/jazz/"))
    rig.clock.advance(minutes=15)
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 1)
    forward = fake.requests_to(PUBLIC)[-1]
    # A minute before the last status read, as a snowflake: statuses stored in the same instant may commit
    # out of order.
    assert forward.param("min_id") == str(((int(newest) >> 16) - 60_000) << 16)
    rig.clock.advance(minutes=15)
    third = rig.poll()
    assert (third.status, third.new, third.updated) == ("ok", 0, 0)


def test_a_token_searches_the_instance_and_is_sent_to_it_alone(
    server: RecordingServer, other: RecordingServer, tmp_path: Path
) -> None:
    searched = FakeMastodon(server, token=TOKEN, now=lambda: NOW)
    plain = FakeMastodon(other, now=lambda: NOW)
    recorded = recorded_answer(SEARCH_V2, SEARCH)
    server.route("GET", SEARCH, lambda request: Reply(200, recorded))
    rig = Rig(
        tmp_path,
        "youtube.com",
        f'{_instances(searched, plain)}\naccess_tokens = {{"{searched.url}" = "${{MASTODON_TOKEN}}"}}\n'
        "trending_links = false",
        env={"MASTODON_TOKEN": TOKEN},
    )
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    # The recorded search for "halcy" holds one status linking to youtube.com: a reply by greg@icosahedron.website.
    uri = "https://icosahedron.website/users/greg/statuses/116388148912635764"
    assert set(rig.mentions()) == {uri}
    reply = rig.mentions()[uri]
    assert (reply.kind, reply.author_handle, reply.author_followers) == (
        "reply",
        "greg@icosahedron.website",
        455,
    )
    assert [(link.canonical_url, link.source) for link in reply.links] == [
        ("https://youtube.com/watch?v=MWCSw_cNxKc", "text")
    ]
    (search,) = server.requests_to(SEARCH)
    assert search.query == {"q": ["youtube.com"], "type": ["statuses"], "resolve": ["false"], "limit": ["40"]}
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    assert server.requests_to(PUBLIC) == []  # with a token, no public timeline unless asked for
    assert [r.param("local") for r in other.requests_to(PUBLIC)] == ["true"]
    assert all("authorization" not in r.headers for r in other.requests)
    assert plain.problems == searched.problems == []


def test_search_reads_back_to_the_cursor_minus_the_overlap(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, token=TOKEN, now=lambda: NOW)
    rig = Rig(tmp_path, "theindiebeat.fm",
              f'{_instances(fake)}\naccess_token = "{TOKEN}"\ntrending_links = false\npage_size = 1\n'
              'initial_lookback = "7h"')  # fmt: skip
    first = rig.poll()
    assert (first.status, first.new) == ("ok", 2)
    # One status a page: the two matches, then an empty page ends it.
    assert [r.param("max_id") for r in fake.requests_to(SEARCH)] == [
        None,
        "114868870412893948",
        "114868870198808745",
    ]
    template = next(s for s in fake.statuses if s["account"]["acct"].startswith("tibrnowplayingbot"))
    fake.statuses.append(published(template, NOW + timedelta(minutes=5), 1, "https://theindiebeat.fm/x"))
    rig.clock.advance(minutes=10)
    before = len(fake.requests_to(SEARCH))
    second = rig.poll()
    assert (second.status, second.new) == ("ok", 1)
    # The new status, then one older than the cursor minus 30 minutes: the search stops there.
    assert len(fake.requests_to(SEARCH)) - before == 2
    assert len(rig.mentions()) == 3


def test_statuses_sharing_a_trending_link_on_the_domain_are_read(
    server: RecordingServer, tmp_path: Path
) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    fake.trend("https://www.home-assistant.io/blog/2025/07/02/release-20257/")
    rig = Rig(tmp_path, "home-assistant.io", f'{_instances(fake)}\npublic_timeline = "off"')
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert set(rig.mentions()) == {HOME_ASSISTANT}
    (read,) = fake.requests_to(LINK)
    assert read.query == {
        "url": ["https://www.home-assistant.io/blog/2025/07/02/release-20257/"],
        "limit": ["40"],
    }
    # The recorded trends (nbcnews.com, wired.com, ...) are not on the domain: their timelines are not read.
    rig.clock.advance(minutes=15)
    assert rig.poll().new == 0
    state = rig.store.cursors("mastodon")[f"links:{server.url[7:]}:home-assistant.io"].state
    assert state["urls"] == {
        "https://www.home-assistant.io/blog/2025/07/02/release-20257/": "2025-07-17T20:25:00Z"
    }


def test_one_status_seen_through_two_instances_is_one_record(
    server: RecordingServer, other: RecordingServer, tmp_path: Path
) -> None:
    first = FakeMastodon(server, now=lambda: NOW)
    mirrored = []
    for number, status in enumerate(first.statuses):
        copied = copy.deepcopy(status)
        copied["id"] = snowflake(NOW - timedelta(minutes=30), number)  # the other instance's own ids
        mirrored.append(copied)
    second = FakeMastodon(other, mirrored, now=lambda: NOW)
    rig = Rig(tmp_path, "theindiebeat.fm",
              f'{_instances(first, second)}\npublic_timeline = "federated"\ntrending_links = false')  # fmt: skip
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 2)
    assert set(rig.mentions()) == INDIE_BEAT
    assert len(list(rig.store.iter_mentions())) == 2


def test_an_instance_that_fails_does_not_stop_the_others(
    server: RecordingServer, other: RecordingServer, tmp_path: Path
) -> None:
    closed = FakeMastodon(server, now=lambda: NOW)
    closed.public_needs_token = True
    open_ = FakeMastodon(other, now=lambda: NOW)
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(closed, open_)}\ntrending_links = false")
    result = rig.poll()
    assert result.status == "failed"
    assert (
        f"{server.url[7:]}: {server.url} serves /api/v1/timelines/public to logged-in apps only (HTTP 422)"
        in (result.error or "")
    )
    assert set(rig.mentions()) == {HOME_ASSISTANT}  # read through the other instance


def test_a_rate_limit_is_waited_out_until_its_reset(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    reset = (NOW + timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    fake.script = [
        Reply(429, {"error": "Too many requests"}, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    ]
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(fake)}\ntrending_links = false")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert rig.sleeps == [90.0]
    assert json.loads(rig.store.run(result.run_id)["counters"]) == {"waited_rate_limit": 1}  # type: ignore[arg-type]


def test_a_rate_limit_longer_than_the_cap_fails_the_pass(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    reset = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    fake.script = [Reply(429, {}, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})]
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(fake)}\ntrending_links = false")
    result = rig.poll()
    assert result.status == "failed"
    assert "longer than max_rate_limit_wait" in (result.error or "")
    assert rig.sleeps == []


@pytest.mark.parametrize(
    ("failure", "counted"),
    [
        (Reply(502, "<html>bad gateway</html>", {"Content-Type": "text/html"}), {"retried_5xx": 1}),
        (Reply(200, b'[{"id": '), {"retried_bad_json": 1}),
    ],
    ids=["5xx", "malformed-json"],
)
def test_transient_faults_are_retried(
    server: RecordingServer, tmp_path: Path, failure: Reply, counted: dict[str, int]
) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    fake.script = [failure]
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(fake)}\ntrending_links = false")
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert json.loads(rig.store.run(result.run_id)["counters"]) == counted  # type: ignore[arg-type]


def test_a_malformed_status_is_skipped_and_counted(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    broken = copy.deepcopy(next(s for s in fake.statuses if s["account"]["acct"] == "homeassistant"))
    broken.update(id=snowflake(NOW - timedelta(minutes=1)), uri="https://fosstodon.org/users/x/statuses/1",
                  created_at="soon")  # fmt: skip
    fake.statuses.append(broken)
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(fake)}\ntrending_links = false")
    result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 1, 1)
    assert "https://fosstodon.org/users/x/statuses/1" in result.problems[0]


def test_private_statuses_are_never_stored(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    for status in fake.statuses:
        status["visibility"] = "private"
    rig = Rig(tmp_path, "home-assistant.io", f"{_instances(fake)}\ntrending_links = false")
    assert (rig.poll().status, rig.mentions()) == ("ok", {})


def test_more_pages_than_allowed_is_a_recorded_gap(server: RecordingServer, tmp_path: Path) -> None:
    fake = FakeMastodon(server, now=lambda: NOW)
    rig = Rig(tmp_path, "home-assistant.io",
              f'{_instances(fake)}\ntrending_links = false\npage_size = 5\nmax_pages = 2\npublic_timeline = "federated"')  # fmt: skip
    result = rig.poll()
    assert result.status == "ok"
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert gap["source_key"] == f"federated:{server.url[7:]}"


def test_one_token_for_several_instances_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(
            tmp_path,
            '[[domains]]\nname = "example.com"\n[connectors.mastodon]\n'
            'instances = ["https://a.example", "https://b.example"]\naccess_token = "secret"\n',
        )
    assert "access_token belongs to one instance" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_the_connector_says_its_coverage_is_partial(tmp_path: Path) -> None:
    config = make_config(tmp_path, '[[domains]]\nname = "example.com"\n[connectors.mastodon]\n')
    assert "indexed" in config.connector_info["mastodon"].partial_coverage


def test_tokens_per_instance_are_secrets_redacted_from_logs(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        '[[domains]]\nname = "example.com"\n[connectors.mastodon]\n'
        'instances = ["https://a.example", "https://b.example"]\n'
        'access_tokens = {"https://b.example/" = "${B_TOKEN}"}\n',
        env={"B_TOKEN": "very-secret"},
    )
    assert "very-secret" in config.secrets()
    assert config.connectors["mastodon"].token_for("https://b.example") == "very-secret"  # type: ignore[attr-defined]
    assert config.connectors["mastodon"].token_for("https://a.example") == ""  # type: ignore[attr-defined]
