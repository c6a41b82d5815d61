"""The `tracker` command line: output, one-line errors and exit codes (CONTRACT §4)."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.algolia import FakeAlgolia
from tests.support.http_server import RecordingServer, Reply
from tracker.cli import cli
from tracker.schema import HEAD_REVISION
from tracker.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def algolia() -> Iterator[FakeAlgolia]:
    with RecordingServer() as server:
        yield FakeAlgolia(server)


def write(tmp_path: Path, base_url: str = "http://127.0.0.1:9/api/v1", extra: str = "") -> Path:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f"""
[tracker]
data_dir = "data"
[[domains]]
name = "nytimes.com"
[connectors.hackernews]
api_base_url = "{base_url}"
initial_lookback = "8000d"
{extra}
""",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_imports_neither_sqlalchemy_nor_pandas_nor_any_sdk() -> None:
    code = (
        "import sys\nfrom tracker import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'sqlalchemy', 'pandas', 'pydantic', 'alembic', 'httpx', 'tweepy', 'praw', 'atproto', 'matplotlib'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_check_describes_each_enabled_connector(tmp_path: Path) -> None:
    result = run("--config", str(write(tmp_path)), "check")
    assert result.exit_code == 0, result.output
    assert (
        "hackernews (hackernews, poll): searches Hacker News stories and comments linking to nytimes.com"
        in result.output
    )
    assert result.output.rstrip().endswith("config OK")


def test_check_with_a_thousand_domains_counts_them_and_says_what_a_pass_costs(tmp_path: Path) -> None:
    competitors = "".join(f'[[domains]]\nname = "rival{n}.com"\nrole = "competitor"\n' for n in range(999))
    result = run("--config", str(write(tmp_path, extra=competitors)), "check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "domains: 1,000 (1 own, 999 competitors): nytimes.com, rival0.com, rival1.com, rival2.com, rival3.com "
        "and 995 more"
    ) in lines
    (hackernews,) = [line for line in lines if line.startswith("  hackernews ")]
    assert (
        "reads every new Hacker News story and comment and keeps those linking to 1,000 domains" in hackernews
    )
    assert "one request per 500 new items, about one a pass" in hackernews


def test_a_config_error_is_one_line_per_problem_with_exit_code_2(tmp_path: Path) -> None:
    path = write(tmp_path, extra="page_sise = 5")
    result = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "error: connectors.hackernews.page_sise: unknown key 'page_sise'; did you mean 'page_size'?\n"
    )
    assert "Traceback" not in result.stderr


def test_a_missing_config_says_where_it_looked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRACKER_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: no config file: looked for --config (not given), $TRACKER_CONFIG")


def test_unknown_commands_and_options_are_usage_errors(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["frobnicate"]).exit_code == 2
    assert (
        CliRunner().invoke(cli, ["--config", str(write(tmp_path)), "export", "--format", "xml"]).exit_code
        == 2
    )


def test_connectors_lists_the_built_in_types() -> None:
    result = run("connectors")
    assert result.exit_code == 0
    assert "hackernews" in result.output
    assert "(mention-tracker)" in result.output


def test_poll_prints_what_each_connector_did(tmp_path: Path, algolia: FakeAlgolia) -> None:
    result = run("--config", str(write(tmp_path, algolia.base_url)), "poll")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["connector", "status", "fetched", "new", "updated", "errors", "time"]
    assert row.split()[:6] == ["hackernews", "ok", "5", "5", "0", "0"]


def _gone(algolia: FakeAlgolia) -> None:
    """Make the API answer 404, a fault that is not retried (so the test does not wait)."""
    algolia.server.route("GET", "/api/v1/search_by_date", lambda request: Reply(404, {"message": "gone"}))


def test_poll_exits_1_when_a_connector_failed(tmp_path: Path, algolia: FakeAlgolia) -> None:
    _gone(algolia)
    result = run("--config", str(write(tmp_path, algolia.base_url)), "poll")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].split()[:2] == ["hackernews", "failed"]
    assert "hackernews: HTTP 404 from http://127.0.0.1" in result.stderr


def test_poll_rejects_an_unknown_or_disabled_connector(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(path), "poll", "--connector", "nope"])
    assert result.exit_code == 2
    assert "--connector nope: no such connector in the config (configured: hackernews)" in result.output


def test_status_reports_health_and_exits_by_it(tmp_path: Path, algolia: FakeAlgolia) -> None:
    path = write(tmp_path, algolia.base_url)
    assert run("--config", str(path), "status").exit_code == 0  # never run: pending is not unhealthy
    run("--config", str(path), "poll")
    healthy = run("--config", str(path), "status", "--json")
    assert healthy.exit_code == 0
    report = json.loads(healthy.stdout)
    (hn,) = report["connectors"]
    assert (report["health"], hn["health"], hn["last_run_status"], hn["mode"]) == (
        "healthy",
        "healthy",
        "ok",
        "poll",
    )
    assert hn["requests_this_month"] == 2
    assert hn["cursor_age_seconds"] is not None
    _gone(algolia)
    run("--config", str(path), "poll")
    degraded = run("--config", str(path), "status")
    assert degraded.exit_code == 1
    assert "hackernews (hackernews, poll): degraded - 1 failed run(s) in a row" in degraded.output
    assert "last error" in degraded.output


def test_export_writes_csv_jsonl_and_parquet(tmp_path: Path, algolia: FakeAlgolia) -> None:
    path = write(tmp_path, algolia.base_url)
    run("--config", str(path), "poll")
    as_csv = run("--config", str(path), "export")
    assert as_csv.stdout.startswith("\ufeffplatform,platform_id,kind,permalink,created_at,")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout.lstrip("\ufeff"))))
    assert len(rows) == 5
    assert rows[0]["created_at"].endswith("Z")
    lines = run("--config", str(path), "export", "--format", "jsonl").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["platform_id"] for r in records} == {r["platform_id"] for r in rows}
    assert all(r["links"][0]["domain"] == "nytimes.com" for r in records)
    assert isinstance(records[0]["raw"], dict)
    out = tmp_path / "m.parquet"
    assert run("--config", str(path), "export", "--format", "parquet", "--out", str(out)).exit_code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 5


def test_parquet_to_a_terminal_is_refused_with_the_fix(tmp_path: Path) -> None:
    import pty

    path = write(tmp_path)
    primary, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tracker.cli", "--config", str(path), "export", "--format", "parquet"],
            stdout=terminal, stderr=subprocess.PIPE, text=True, check=False, timeout=60,
        )  # fmt: skip
    finally:
        os.close(terminal)
        os.close(primary)
    assert (done.returncode, done.stderr) == (
        2,
        "error: --format parquet: parquet is binary; use --out FILE\n",
    )


def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tracker.db").write_text("these are notes, not a database\n" * 100)
    result = run("--config", str(path), "status")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: cannot open the database sqlite:///{tmp_path}/data/tracker.db: file is not a database\n"
    )


def test_a_database_from_a_newer_version_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path)
    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path}/data/tracker.db"
    Store.open(url).close()
    with sqlite3.connect(tmp_path / "data" / "tracker.db") as conn:  # as a later release would leave it
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = run("--config", str(path), "status")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the database {url} has schema 9999, newer than this mention-tracker knows ({HEAD_REVISION}); "
        "upgrade mention-tracker, or set tracker.database_url to another database\n"
    )


def test_export_to_a_folder_that_does_not_exist_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = run("--config", str(path), "export", "--out", str(tmp_path / "missing" / "x.csv"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path}/missing/x.csv: No such file or directory; check the path and its permissions\n"
    )


def test_export_into_a_closed_pipe_stops_quietly(tmp_path: Path, algolia: FakeAlgolia) -> None:
    path = write(tmp_path, algolia.base_url)
    run("--config", str(path), "poll")
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has read enough
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tracker.cli", "--config", str(path), "export", "--format", "jsonl"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_export_filters_by_date_range(tmp_path: Path, algolia: FakeAlgolia) -> None:
    path = write(tmp_path, algolia.base_url)
    run("--config", str(path), "poll")
    lines = run(
        "--config", str(path), "export", "--format", "jsonl", "--since", "2013-12-16", "--until", "2013-12-23"
    )
    ids = {json.loads(line)["platform_id"] for line in lines.stdout.splitlines()}
    assert ids == {"6913103", "6955707"}  # posted 2013-12-16 05:37 and 2013-12-23 18:29 UTC
    bad = CliRunner().invoke(cli, ["--config", str(path), "export", "--since", "last week"])
    assert bad.exit_code == 2
    assert bad.output == (
        "error: --since 'last week': not a date; write a date like 2026-11-17 or a time like 2026-11-17T09:00:00Z\n"
    )
    backwards = CliRunner().invoke(
        cli, ["--config", str(path), "export", "--since", "2013-12-23", "--until", "2013-12-16"]
    )
    assert backwards.exit_code == 2
    assert backwards.output == "error: --since 2013-12-23 is not before --until 2013-12-16; swap them\n"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template connector distribution in examples/, pip-installed into its own folder."""
    import shutil

    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / "echo-connector"
    shutil.copytree(ROOT / "examples" / "echo-connector", source)  # a build writes next to the sources
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    return target


def _with_plugin(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_an_installed_plugin_is_listed_and_used(plugin_site: Path, tmp_path: Path) -> None:
    listed = _with_plugin(plugin_site, "connectors", cwd=tmp_path)
    assert listed.returncode == 0
    assert "echoes the links written in its config (a template)  (echo-connector)" in listed.stdout
    assert "[needs the echo_sdk library; install it with: pip install 'echo-connector[sdk]']" in listed.stdout
    (tmp_path / "tracker.toml").write_text(
        '[[domains]]\nname = "example.com"\n[connectors.echo]\n'
        'urls = ["https://example.com/a", "https://other.org/b", "https://www.example.com/c?utm_source=x"]\n',
        encoding="utf-8",
    )
    polled = _with_plugin(plugin_site, "poll", cwd=tmp_path)
    assert polled.returncode == 0, polled.stderr
    assert polled.stdout.splitlines()[1].split()[:4] == ["echo", "ok", "3", "2"]
    exported = _with_plugin(plugin_site, "export", "--format", "jsonl", cwd=tmp_path)
    urls = sorted(json.loads(line)["links"][0]["canonical_url"] for line in exported.stdout.splitlines())
    assert urls == ["https://example.com/a", "https://example.com/c"]


def test_a_plugin_missing_its_library_says_what_to_install(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "tracker.toml").write_text(
        '[[domains]]\nname = "example.com"\n[connectors.mine]\ntype = "needs_sdk"\n', encoding="utf-8"
    )
    checked = _with_plugin(plugin_site, "check", cwd=tmp_path)
    assert checked.returncode == 2
    assert checked.stderr == (
        "error: connectors.mine: needs the echo_sdk library; install it with: pip install 'echo-connector[sdk]'\n"
    )


def test_an_unknown_type_lists_the_available_ones(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "tracker.toml").write_text(
        '[[domains]]\nname = "example.com"\n[connectors.mine]\ntype = "ech"\n', encoding="utf-8"
    )
    checked = _with_plugin(plugin_site, "check", cwd=tmp_path)
    assert checked.returncode == 2
    from tracker import registry

    installed = ", ".join(sorted([*registry.available(), "echo", "needs_sdk"]))
    assert (
        checked.stderr
        == f"error: connectors.mine.type: unknown connector type 'ech' (available: {installed})\n"
    )


def test_backfill_reads_history_with_its_own_cursors(tmp_path: Path, algolia: FakeAlgolia) -> None:
    path = write(tmp_path, algolia.base_url)
    result = run("--config", str(path), "backfill", "--since", "2011-01-01")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[:4] == ["hackernews", "ok", "5", "5"]
    first = [r.param("numericFilters") for r in algolia.searches()]
    assert first[0].startswith("created_at_i>=1293840000,")  # 2011-01-01T00:00:00Z
    again = run("--config", str(path), "backfill", "--since", "2011-01-01")
    assert again.stdout.splitlines()[1].split()[:4] == ["hackernews", "ok", "0", "0"]  # resumed: nothing left
    from tracker.config import load_config
    from tracker.store import Store

    store = Store.open(load_config(path, env={}).database_url)
    assert sorted(store.cursors("hackernews")) == [
        "backfill:comment:nytimes.com",
        "backfill:story:nytimes.com",
    ]
    store.close()
    bad = CliRunner().invoke(cli, ["--config", str(path), "backfill", "--since", "soon"])
    assert bad.exit_code == 2
    assert "--since 'soon': not a date; write it like 2026-10-01" in bad.output


def test_the_service_files_run_the_daemon() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy" / "mention-tracker.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("tracker --log-format json run")
    assert (service["Restart"], service["User"], service["RestartPreventExitStatus"]) == (
        "on-failure",
        "tracker",
        "2",
    )
    assert int(service["TimeoutStopSec"]) > 10
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["run"]' in dockerfile
    assert "USER tracker" in dockerfile


def test_a_running_stream_is_healthy_while_it_saves_its_cursor(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tracker.config import load_config
    from tracker.connector import Cursor, Page, Usage
    from tracker.status import collect
    from tracker.store import Store

    path = tmp_path / "tracker.toml"
    path.write_text(
        '[[domains]]\nname = "example.com"\n[connectors.live]\ntype = "jetstream"\n', encoding="utf-8"
    )
    config = load_config(path, env={})
    store = Store.open(config.database_url)
    now = datetime.now(UTC)
    run_id = store.start_run("live", "stream", now - timedelta(hours=2))
    store.write_page(connector="live", platform="bluesky", run_id=run_id, page=Page("stream", cursor=Cursor(1, {"time_us": 1}), usage=Usage(items_read=1200)),
                     mentions_to_store=[], now=now - timedelta(seconds=20))  # fmt: skip
    (status,) = collect(config, store, now)
    assert (status.health, status.note, status.mode) == ("healthy", "streaming", "stream")
    (later,) = collect(config, store, now + timedelta(minutes=20))
    assert (later.health, later.note) == ("degraded", "stream silent: no cursor saved for 20 min")
    store.close()


def test_health_follows_polls_not_refreshes_and_notices_when_nothing_runs(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tracker.config import load_config
    from tracker.status import collect
    from tracker.store import Store

    config = load_config(write(tmp_path))  # hackernews, every 10 minutes
    store = Store.open(config.database_url)
    start = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def ran(kind: str, status: str, at: datetime) -> None:
        store.finish_run(store.start_run("hackernews", kind, at), status, at + timedelta(seconds=5), None)

    for step in range(4):
        ran("poll", "failed", start + timedelta(minutes=10 * step))
        ran("refresh", "ok", start + timedelta(minutes=10 * step + 1))
    (failing,) = collect(config, store, start + timedelta(minutes=35))
    assert (failing.health, failing.consecutive_failures) == ("down", 4)

    ran("poll", "ok", start + timedelta(minutes=40))
    assert collect(config, store, start + timedelta(minutes=55))[0].health == "healthy"
    (idle,) = collect(config, store, start + timedelta(hours=3))
    assert (idle.health, idle.note) == ("degraded", "no run for 2 h; is `tracker run` running?")
    (dead,) = collect(config, store, start + timedelta(days=3))
    assert (dead.health, dead.note) == ("down", "no run for 2 days; is `tracker run` running?")
    store.close()


def test_poll_resolves_short_links_and_status_shows_their_budget(tmp_path: Path) -> None:
    from tests.support.algolia import recorded_hits
    from tests.support.shortener import FakeShortener

    comment = next(hit for hit in recorded_hits() if "comment" in hit["_tags"])
    hit = {
        **comment,
        "objectID": "77",
        "comment_text": 'From the nytimes.com piece: <a href="https://bit.ly/nyt1">here</a>',
    }
    with RecordingServer() as server, FakeShortener() as shortener:
        algolia = FakeAlgolia(server, [hit])
        shortener.redirect("bit.ly/nyt1", "https://www.nytimes.com/2014/05/30/story.html?utm_source=twitter")
        path = tmp_path / "tracker.toml"
        path.write_text(
            f'[tracker]\ndata_dir = "data"\nresolve_shorteners = true\nconnect_to = {{"bit.ly" = "{shortener.url}"}}\n'
            f'[[domains]]\nname = "nytimes.com"\n[connectors.hackernews]\napi_base_url = "{algolia.base_url}"\n'
            'initial_lookback = "8000d"\ncomments = true\n',
            encoding="utf-8",
        )
        assert run("--config", str(path), "poll").exit_code == 0
        assert shortener.hosts_contacted() == ["bit.ly"]
    (stored,) = [
        json.loads(line)
        for line in run("--config", str(path), "export", "--format", "jsonl").stdout.splitlines()
    ]
    assert stored["platform_id"] == "77"
    assert [(link["url"], link["canonical_url"]) for link in stored["links"]] == [
        ("https://bit.ly/nyt1", "https://nytimes.com/2014/05/30/story.html")
    ]
    status = run("--config", str(path), "status")
    assert (
        "short links: 1 of 60 requests a minute used; 0 post(s) waiting; this month 1 resolved"
        in status.output
    )
    report = json.loads(run("--config", str(path), "status", "--json").stdout)
    assert report["short_links"]["requests_per_minute"] == 60
    assert report["short_links"]["waiting"] == 0


def test_check_says_how_pages_are_checked_and_where_each_alert_goes_without_its_secrets(
    tmp_path: Path,
) -> None:
    rule = """
[pages]
interval = "3d"
requests_per_second = 0.5
[[alerts]]
name = "team"
on = ["first_link_to_page", "page_broken"]
webhook_url = "https://hooks.example.net/T0KEN123abc/path"
webhook_secret = "hmac-s3cret-value"
notify = ["slack://TOKENa1b2c3/TOKENd4e5f6/#links"]
digest = "1h"
"""
    result = run("--config", str(write(tmp_path, extra=rule)), "check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "pages: each linked page of your own domains checked every 3d, at most 0.5 request(s) a second per host "
        "(tracker pages lists them)"
    ) in lines
    assert (
        "alert team: first_link_to_page, page_broken -> webhook https://hooks.example.net, notify[0] slack; "
        "a digest every 1h"
    ) in lines
    for secret in ("T0KEN123abc", "hmac-s3cret-value", "TOKENa1b2c3", "TOKENd4e5f6"):
        assert secret not in result.output
