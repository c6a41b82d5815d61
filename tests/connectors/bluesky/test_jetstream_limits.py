"""Jetstream's websocket against hostile servers: a handshake dripped a byte at a time, cut off, or redirected
to another host; a message far over ``max_response_size``, sent plain or as a permessage-deflate bomb (its
memory checked in a subprocess). Each pass fails within its deadlines, plainly, and never follows the
redirect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.conftest import Clock, Sleeps, make_config
from tests.support.hostile import HostileServer, cut_off, drip, poll_in_subprocess, redirect
from tracker.poller import Poller, RunResult
from tracker.store import Store

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NAME = "bluesky_stream"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


@pytest.fixture
def foreign() -> Iterator[HostileServer]:
    with HostileServer("127.0.0.2") as running:
        yield running


class BigMessageServer:
    """A websocket server that sends one message of ``megabytes`` MB of spaces to each connection."""

    def __init__(self, megabytes: int, compression: str | None) -> None:
        self.message = " " * (megabytes << 20)
        self.connections = 0
        self._server = serve(self._handle, "127.0.0.1", 0, compression=compression, max_size=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        try:
            connection.send(self.message)
            connection.recv(timeout=10)
        except (ConnectionClosed, TimeoutError, OSError):
            pass

    def __enter__(self) -> BigMessageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


def config_text(endpoint: str, idle: str = "1s") -> str:
    return f"""
[[domains]]
name = "example.com"
[connectors.{NAME}]
type = "jetstream"
endpoints = ["{endpoint}"]
appview_url = "http://127.0.0.1:9"
connect_timeout = "1s"
idle_timeout = "{idle}"
max_failures = 2
"""


def poll(tmp_path: Path, endpoint: str) -> tuple[RunResult, dict[str, int]]:
    config = make_config(tmp_path, config_text(endpoint))
    store = Store.open(config.database_url)
    poller = Poller(config, store, clock=Clock(NOW), sleeper=Sleeps())
    try:
        result = poller.poll(NAME)
    finally:
        poller.close()
    counters = json.loads(str(store.run(result.run_id)["counters"]))  # type: ignore[arg-type]
    store.close()
    return result, counters


def test_a_dripped_handshake_times_out_and_the_pass_fails_plainly(
    server: HostileServer, tmp_path: Path
) -> None:
    server.route("/subscribe", drip(interval=0.05))
    result, _ = poll(tmp_path, f"ws://127.0.0.1:{server.port}/subscribe")
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("every Jetstream endpoint failed 2 times")
    assert result.seconds < 10  # two 1 s opening deadlines
    assert len(server.received) == 2


def test_a_cut_off_handshake_fails_the_pass_plainly(server: HostileServer, tmp_path: Path) -> None:
    server.route("/subscribe", cut_off())
    result, _ = poll(tmp_path, f"ws://127.0.0.1:{server.port}/subscribe")
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("every Jetstream endpoint failed 2 times")


def test_a_redirect_to_another_host_is_refused_naming_both(
    server: HostileServer, foreign: HostileServer, tmp_path: Path
) -> None:
    server.route("/subscribe", redirect(f"ws://127.0.0.2:{foreign.port}/subscribe", 302))
    result, _ = poll(tmp_path, f"ws://127.0.0.1:{server.port}/subscribe")
    assert result.status == "failed"
    assert result.error is not None
    assert f"127.0.0.1:{server.port}" in result.error and f"127.0.0.2:{foreign.port}" in result.error
    assert foreign.received == []


@pytest.mark.slow
@pytest.mark.parametrize("compression", [None, "deflate"], ids=["plain", "deflate_bomb"])
def test_a_message_over_max_response_size_is_refused_with_memory_bounded(
    tmp_path: Path, compression: str | None
) -> None:
    with BigMessageServer(64, compression) as big:
        config = tmp_path / "tracker.toml"
        # the server takes a while to compress 64 MB: the stream may be quiet that long
        endpoint = f"ws://127.0.0.1:{big.port}/subscribe"
        config.write_text(config_text(endpoint, idle="20s"), encoding="utf-8")
        outcome = poll_in_subprocess(config, NAME)
    assert outcome["status"] == "failed"
    assert "a message was larger than max_response_size (1048576 bytes)" in outcome["error"]
    assert outcome["counters"].get("retried_too_large") == 2
    assert outcome["peak_mb"] < 300
