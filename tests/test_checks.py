"""`tracker check`: it opens what `poll` opens (the database without migrating it, data_dir, the reports
folder) and fails the same way; `--online` makes one cheap request per enabled connector."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.algolia import PATH, FakeAlgolia
from tests.support.http_server import RecordingServer, Reply
from tests.support.x_api import TOKEN, FakeXApi
from tracker.cli import cli
from tracker.schema import HEAD_REVISION

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def algolia() -> Iterator[FakeAlgolia]:
    with RecordingServer() as server:
        yield FakeAlgolia(server)


def write(tmp_path: Path, body: str = "", *, base_url: str = "http://127.0.0.1:9/api/v1") -> Path:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f'[[domains]]\nname = "nytimes.com"\n[connectors.hackernews]\napi_base_url = "{base_url}"\n{body}',
        encoding="utf-8",
    )
    return path


def tracker(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "--config", str(config), *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=120,
    )  # fmt: skip


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_check_opens_the_database_without_migrating_it(tmp_path: Path) -> None:
    config = write(tmp_path)
    result = run("--config", str(config), "check")
    assert result.exit_code == 0, result.output
    database = tmp_path / "data" / "tracker.db"
    assert f"database: sqlite:///{database} (no schema yet: created on the first run)" in result.output
    assert f"data: {tmp_path / 'data'} (writable)" in result.output
    assert f"reports: {tmp_path / 'reports-out'} (writable) every mon 06:00 UTC" in result.output
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    run("--config", str(config), "poll")  # the first run creates the schema
    assert f"(schema {HEAD_REVISION})" in run("--config", str(config), "check").output


def test_check_names_the_competitor_domains(tmp_path: Path) -> None:
    config = write(tmp_path, '[[domains]]\nname = "rival.com"\nrole = "competitor"\n')
    result = run("--config", str(config), "check")
    assert result.exit_code == 0, result.output
    assert "domains: nytimes.com, rival.com\n" in result.output
    assert "competitors (polled for the share of voice only): rival.com\n" in result.output
    assert "competitors" not in run("--config", str(write(tmp_path)), "check").output


def test_a_data_dir_that_cannot_be_created_fails_check_as_it_fails_poll(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be\n")
    config = write(tmp_path)
    config.write_text('[tracker]\ndata_dir = "blocker/data"\n' + config.read_text(), encoding="utf-8")
    checked, polled = tracker(config, "check"), tracker(config, "poll")
    assert (checked.returncode, polled.returncode) == (2, 2)
    assert checked.stderr == polled.stderr
    assert checked.stderr.startswith(f"error: {tmp_path / 'blocker' / 'data'}: ")
    assert checked.stderr.endswith("; check the path and its permissions\n")


def test_a_file_that_is_not_a_database_fails_check_as_it_fails_poll(tmp_path: Path) -> None:
    config = write(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tracker.db").write_text("these are notes, not a database\n" * 100)
    checked, polled = tracker(config, "check"), tracker(config, "poll")
    assert (checked.returncode, polled.returncode) == (2, 2)
    assert (
        checked.stderr
        == polled.stderr
        == (f"error: cannot open the database sqlite:///{tmp_path}/data/tracker.db: file is not a database\n")
    )


def test_a_database_from_a_newer_version_fails_check(tmp_path: Path) -> None:
    from tracker.store import Store

    config = write(tmp_path)
    Store.open(f"sqlite:///{tmp_path}/data/tracker.db").close()
    with sqlite3.connect(tmp_path / "data" / "tracker.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    checked = tracker(config, "check")
    assert checked.returncode == 2
    assert f"has schema 9999, newer than this mention-tracker knows ({HEAD_REVISION})" in checked.stderr


def test_a_reports_folder_that_cannot_be_created_fails_check(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be\n")
    config = write(tmp_path, '[reports]\noutput_dir = "blocker/reports"\n')
    checked = tracker(config, "check")
    assert checked.returncode == 2
    assert checked.stderr.startswith(f"error: {tmp_path / 'blocker' / 'reports'}: ")
    assert len(checked.stderr.splitlines()) == 1


def test_check_online_reports_each_connectors_answer(tmp_path: Path, algolia: FakeAlgolia) -> None:
    with RecordingServer() as broken:
        broken.route("GET", PATH, lambda request: Reply(404, {"message": "gone"}))
        config = write(
            tmp_path,
            f'[connectors.old]\ntype = "hackernews"\napi_base_url = "{broken.url}/api/v1"\n',
            base_url=algolia.base_url,
        )
        result = run("--config", str(config), "check", "--online")
    assert result.exit_code == 1, result.output
    online = result.output.split("online:\n", 1)[1].splitlines()
    assert (
        online[0] == "  hackernews: ok: answered: 0 post(s) on the first page (1 request(s))"
    )  # none this week
    assert online[1].startswith(f"  old: FAILED: HTTP 404 from {broken.url}/api/v1/search_by_date")
    assert len(algolia.server.requests_to(PATH)) == 1  # one request, nothing stored
    assert "no schema yet" in run("--config", str(config), "check").output


def test_check_online_catches_wrong_credentials_before_the_first_poll(tmp_path: Path) -> None:
    with RecordingServer() as server:
        api = FakeXApi(server)
        config = tmp_path / "tracker.toml"
        config.write_text(
            f'[[domains]]\nname = "example.com"\n[connectors.x]\nbearer_token = "not-the-token"\n'
            f'api_base_url = "{api.base_url}"\n[connectors.good]\ntype = "x"\nbearer_token = "{TOKEN}"\n'
            f'api_base_url = "{api.base_url}"\n',
            encoding="utf-8",
        )
        result = run("--config", str(config), "check", "--online")
        assert [r.query["ids"] for r in api.lookups()] == [["1"], ["1"]]  # a post that does not exist
        assert api.searches() == []  # searches are billed per post read
    assert result.exit_code == 2, result.output
    online = result.output.split("online:\n", 1)[1].splitlines()
    assert online[0].startswith("  x: FAILED: credentials rejected: X answered HTTP 401 to the post lookup")
    assert online[1] == "  good: ok: answered a post lookup (nothing read, nothing billed)"


def test_check_online_waits_for_a_jetstream_event(tmp_path: Path) -> None:
    import time

    from tests.support.jetstream_server import JetstreamServer

    with JetstreamServer(live=lambda: int(time.time() * 1_000_000)) as stream:
        config = tmp_path / "tracker.toml"
        config.write_text(
            f'[[domains]]\nname = "example.com"\n[connectors.live]\ntype = "jetstream"\n'
            f'endpoints = ["{stream.url}", "ws://127.0.0.1:9/subscribe"]\n',
            encoding="utf-8",
        )
        result = run("--config", str(config), "check", "--online")
    assert result.exit_code == 0, result.output
    assert result.output.endswith(
        "  live: ok: 1 of 2 endpoint(s) stream events (ws://127.0.0.1:9/subscribe: [Errno 111] Connection refused)\n"
    )
