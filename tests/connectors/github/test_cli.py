"""`tracker poll` with a GitHub connector reading a local GitHub API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.github_api import TOKEN, FakeGitHub
from tests.support.http_server import RecordingServer
from tracker.cli import cli
from tracker.config import load_config
from tracker.store import Store


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with RecordingServer() as server:
        yield FakeGitHub(server)


def test_poll_stores_the_expected_mentions_and_a_second_poll_adds_none(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f"""
[tracker]
data_dir = "data"
[[domains]]
name = "bountysource.com"
[connectors.github]
token = "${{GITHUB_TOKEN}}"
api_base_url = "{fake.base_url}"
initial_lookback = "5000d"
""",
        encoding="utf-8",
    )
    runner = CliRunner(env={"GITHUB_TOKEN": TOKEN})
    first = runner.invoke(cli, ["--config", str(path), "poll"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[1].split()[:4] == ["github", "ok", "3", "3"]
    second = runner.invoke(cli, ["--config", str(path), "poll"], catch_exceptions=False)
    assert second.stdout.splitlines()[1].split()[:4] == ["github", "ok", "0", "0"]
    store = Store.open(load_config(path, env={"GITHUB_TOKEN": TOKEN}).database_url)
    try:
        assert {m.platform_id for m in store.iter_mentions()} == {
            "sigmavirus24/github3.py#410", "sigmavirus24/github3.py#318", "sigmavirus24/github3.py#406",
        }  # fmt: skip
    finally:
        store.close()
    assert fake.problems == []
