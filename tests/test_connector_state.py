"""Connector state: a small key-value store per connector instance, kept in the database and written in the
transaction of the page it belongs to, so a kill at any moment neither loses nor double-counts what it tracks."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.conftest import Clock, make_config
from tests.support.synthetic import write_posts
from tracker.connector import MemoryConnectorState, Page
from tracker.poller import Poller
from tracker.schema import connector_runs, cursors, mentions
from tracker.settings import Config
from tracker.store import Store, StoreConnectorState

ROOT = Path(__file__).resolve().parents[1]
LEDGER = "tests.support.ledger:LedgerConnector"


def write_lines(path: Path, post_ids: list[int]) -> None:
    """Posts linking to example.com, one JSON line each, appended to ``path``."""
    with path.open("a", encoding="utf-8") as out:
        for post_id in post_ids:
            post = {
                "id": post_id, "created": f"2026-11-16T{post_id % 24:02d}:00:00+00:00", "author": "someone",
                "text": f"post {post_id}", "urls": [f"https://example.com/{post_id}"], "likes": 1,
            }  # fmt: skip
            out.write(json.dumps(post) + "\n")


def ledger_config(tmp_path: Path, database_url: str, posts: Path, extra: str = "") -> Config:
    return make_config(
        tmp_path,
        f'[tracker]\ndatabase_url = "{database_url}"\n[[domains]]\nname = "example.com"\n'
        f'[connectors.ledger]\ntype = "{LEDGER}"\npath = "{posts}"\npage_size = 10\n{extra}\n',
    )


def poll(config: Config, store: Store, clock: Clock) -> Any:
    poller = Poller(config, store, clock=clock)  # a fresh poller and connector, as after a restart
    try:
        return poller.poll("ledger")
    finally:
        poller.close()


def total_cost(store: Store) -> float:
    with store.read() as conn:
        return float(conn.execute(select(func.coalesce(func.sum(connector_runs.c.cost_usd), 0.0))).scalar())


def test_an_instance_reads_its_own_writes_at_once_and_the_others_once_stored(
    store: Store, clock: Clock
) -> None:
    writer, reader, other = (StoreConnectorState(store, name) for name in ("x", "x", "y"))
    writer.set("reads:1", {"posts": ["1", "2"]})
    writer.set("gone", 1)
    assert (writer.get("reads:1"), writer.keys()) == ({"posts": ["1", "2"]}, ["gone", "reads:1"])
    assert (reader.get("reads:1"), reader.keys()) == (None, [])

    store.write_page(
        connector="x", platform="x", run_id=None, page=Page("k"), mentions_to_store=[], now=clock(),
        state=writer.take_changes(),
    )  # fmt: skip
    assert reader.get_many(["reads:1", "gone", "missing"]) == {"reads:1": {"posts": ["1", "2"]}, "gone": 1}
    assert other.keys() == []  # each connector instance has its own keys

    writer.delete("gone")
    writer.set("reads:1", None)  # None deletes too
    writer.set("reads:2", True)
    assert (writer.keys(), reader.keys()) == (["reads:2"], ["gone", "reads:1"])
    store.write_page(
        connector="x", platform="x", run_id=None, page=Page("k"), mentions_to_store=[], now=clock(),
        state=writer.take_changes(),
    )  # fmt: skip
    assert reader.keys() == ["reads:2"]
    assert writer.take_changes() == {}


def test_keys_are_listed_by_prefix_with_like_wildcards_taken_literally(store: Store, clock: Clock) -> None:
    state = StoreConnectorState(store, "x")
    for key in ("a_%1", "ab1", "a_%2", "b"):
        state.set(key, key)
    store.write_page(
        connector="x", platform="x", run_id=None, page=Page("k"), mentions_to_store=[], now=clock(),
        state=state.take_changes(),
    )  # fmt: skip
    assert state.keys("a_%") == ["a_%1", "a_%2"]
    state.set("a_%3", 3)
    state.delete("a_%1")
    assert state.keys("a_%") == ["a_%2", "a_%3"]


@pytest.mark.parametrize("key", ["", "k" * 256, 7])
def test_a_key_must_be_one_to_255_characters(key: Any) -> None:
    for state in (MemoryConnectorState(), StoreConnectorState(None, "x")):  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="1 to 255 characters"):
            state.set(key, 1)


@pytest.mark.parametrize("value", [object(), float("nan"), {1: {2, 3}}])
def test_a_value_must_be_json(value: Any) -> None:
    for state in (MemoryConnectorState(), StoreConnectorState(None, "x")):  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="is not JSON"):
            state.set("k" * 255, value)


def test_memory_state_gives_values_back_as_json_does() -> None:
    state = MemoryConnectorState()
    state.set("a", ("tuple", 1))
    state.set("b", {"n": 2})
    state.set("c", None)
    assert (state.get("a"), state.get_many(["b", "c"]), state.keys()) == (
        ["tuple", 1],
        {"b": {"n": 2}},
        ["a", "b"],
    )
    state.delete("a")
    assert state.keys() == ["b"]


def test_state_a_pass_writes_is_stored_with_its_pages_and_known_after_a_restart(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    posts = tmp_path / "posts.jsonl"
    write_lines(posts, [*range(25), 3, 4])  # 25 distinct posts, two read twice
    config = ledger_config(tmp_path, database_url, posts)
    store = Store.open(config.database_url)
    first = poll(config, store, clock)
    assert (first.status, first.pages, first.new, first.cost_usd) == ("ok", 3, 25, 25.0)
    assert store.connector_state_keys("ledger") == sorted(f"paid:{n}" for n in range(25))

    write_lines(posts, [*range(20, 30)])  # 20 to 24 were paid for already
    clock.advance(minutes=5)
    second = poll(config, store, clock)
    assert (second.status, second.new, second.cost_usd) == ("ok", 5, 5.0)
    assert total_cost(store) == 30.0
    store.close()


def test_a_pass_that_fails_after_a_paid_read_stores_what_it_paid_for_with_the_leftover_usage(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    posts = tmp_path / "posts.jsonl"
    write_lines(posts, list(range(30)))
    store = Store.open(database_url)
    failing = ledger_config(tmp_path, database_url, posts, "fail_after = 1")
    failed = poll(failing, store, clock)
    assert (failed.status, failed.error, failed.pages) == (
        "failed",
        "the connection dropped after a paid read",
        1,
    )
    assert store.run(failed.run_id)["cost_usd"] == 20.0  # type: ignore[arg-type]  # the second page was paid too
    assert len(store.connector_state_keys("ledger")) == 20

    clock.advance(minutes=5)
    again = poll(ledger_config(tmp_path, database_url, posts), store, clock)
    assert (again.status, again.new, again.cost_usd) == (
        "ok",
        20,
        10.0,
    )  # page two is read again, not paid again
    assert total_cost(store) == 30.0
    store.close()


@pytest.mark.parametrize("refusing", ["connector_state", "mentions"])
def test_a_page_and_its_state_are_stored_together_or_not_at_all(
    tmp_path: Path, clock: Clock, refusing: str
) -> None:
    posts = tmp_path / "posts.jsonl"
    write_lines(posts, list(range(10)))
    config = ledger_config(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", posts)
    store = Store.open(config.database_url)
    with store.engine.begin() as conn:  # the page's transaction fails midway, as a kill would cut it
        conn.execute(
            text(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {refusing} BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    failed = poll(config, store, clock)
    assert failed.status == "failed" and "disk full" in (failed.error or "")
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(mentions)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(cursors)).scalar() == 0
    assert (store.connector_state_keys("ledger"), total_cost(store)) == ([], 0.0)

    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    clock.advance(minutes=5)
    assert poll(config, store, clock).new == 10
    assert (len(store.connector_state_keys("ledger")), total_cost(store)) == (10, 10.0)
    store.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_neither_loses_nor_double_counts_a_paid_read(
    tmp_path: Path, database_url: str
) -> None:
    posts = tmp_path / "posts.jsonl"
    write_posts(posts, 20_000)  # a tenth of the lines repeat an earlier post
    distinct = {json.loads(line)["id"] for line in posts.read_text(encoding="utf-8").splitlines()}
    config_path = tmp_path / "tracker.toml"
    config_path.write_text(
        f'[tracker]\ndatabase_url = "{database_url}"\n[[domains]]\nname = "example.com"\n'
        f'[connectors.ledger]\ntype = "{LEDGER}"\npath = "{posts}"\npage_size = 100\npage_delay = 0.03\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tracker.cli", "--config", str(config_path), "poll"]
    rng = random.Random(20261210)
    kills = 0
    while kills < 8:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.6, 1.4))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills == 8, "the ingest finished too early to be interrupted 8 times; make it larger"
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr

    store = Store.open(database_url)
    try:
        assert total_cost(store) == len(distinct)  # each post paid for exactly once, whatever was cut short
        assert set(store.connector_state_keys("ledger")) == {f"paid:{post_id}" for post_id in distinct}
    finally:
        store.close()
