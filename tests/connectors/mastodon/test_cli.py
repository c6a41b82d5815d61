"""`tracker poll`, `status` and `report` with a Mastodon connector reading a local instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.http_server import RecordingServer
from tests.support.mastodon_api import FakeMastodon
from tracker.cli import cli
from tracker.config import load_config
from tracker.store import Store

INDIE_BEAT = {
    "https://mastodon.social/users/tibrnowplayingbot/statuses/114868870384991099",
    "https://mastodon.social/users/tibrnowplayingbot/statuses/114868870143504692",
}


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with RecordingServer() as server:
        yield FakeMastodon(server)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_poll_stores_each_status_once_and_status_and_report_call_the_coverage_partial(
    tmp_path: Path, fake: FakeMastodon
) -> None:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f"""
[tracker]
data_dir = "data"
[reports]
output_dir = "out"
[[domains]]
name = "theindiebeat.fm"
[connectors.mastodon]
instances = ["{fake.url}"]
public_timeline = "federated"
initial_lookback = "3000d"
""",
        encoding="utf-8",
    )
    first = run("--config", str(path), "poll")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[1].split()[:6] == ["mastodon", "ok", "50", "2", "0", "0"]
    second = run("--config", str(path), "poll")
    assert second.stdout.splitlines()[1].split()[:4] == ["mastodon", "ok", "0", "0"]
    store = Store.open(load_config(path).database_url)
    try:
        assert {m.platform_id for m in store.iter_mentions()} == INDIE_BEAT
    finally:
        store.close()
    status = run("--config", str(path), "status")
    assert (
        "  coverage: partial - Mastodon search sees only the statuses each instance has indexed"
        in status.output
    )
    (connector,) = json.loads(run("--config", str(path), "status", "--json").stdout)["connectors"]
    assert connector["partial_coverage"].startswith("Mastodon search sees only")
    report = run("--config", str(path), "report", "--week", "2025-W29")
    assert report.exit_code == 0, report.output
    page = Path(report.stdout.strip()).read_text(encoding="utf-8")
    assert "mastodon: partial coverage - Mastodon search sees only" in page
    assert fake.problems == []
