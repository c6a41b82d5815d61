"""`tracker report`: writes the week and prints the path of its report.html; bad weeks are usage errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.reports.fixtures import fill
from tests.reports.test_rollups import config_for
from tracker.cli import cli
from tracker.store import Store


def test_report_prints_the_page_it_wrote(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    result = CliRunner().invoke(cli, ["--config", str(config.path), "report", "--week", "2026-W47"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "out" / "2026-W47" / "report.html")
    elsewhere = CliRunner().invoke(
        cli, ["--config", str(config.path), "report", "--week", "2026-W47", "--out", str(tmp_path / "x")]
    )
    assert elsewhere.stdout.strip() == str(tmp_path / "x" / "2026-W47" / "report.html")


def test_the_default_is_the_last_complete_week(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    result = CliRunner().invoke(cli, ["--config", str(config.path), "report"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).parent.name.count("-W") == 1


def test_a_bad_week_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    result = CliRunner().invoke(cli, ["--config", str(config.path), "report", "--week", "2026-W60"])
    assert result.exit_code == 2
    assert result.output == "error: --week: '2026-W60': 2026 has no ISO week 60\n"
