"""`tracker report`: writes the week and prints the path of its report.html; bad weeks are usage errors; it
never clobbers what it did not write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.reports.fixtures import fill
from tests.reports.test_rollups import config_for
from tracker.cli import cli
from tracker.periods import IsoWeek
from tracker.settings import Config
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


def _run(config: Config, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config.path), *args])


@pytest.fixture
def filled_config(tmp_path: Path) -> Config:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    return config


def test_week_current_writes_the_week_so_far_and_the_index_marks_it(filled_config: Config) -> None:
    result = _run(filled_config, "report", "--week", "current")
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip()).parent
    assert folder.name == str(IsoWeek.containing(datetime.now(UTC), "UTC"))
    assert (folder / ".so-far").is_file()
    assert "this is the week so far" in (folder / "report.html").read_text(encoding="utf-8")
    index = (folder.parent / "index.html").read_text(encoding="utf-8")
    assert f'{folder.name}</a> <span class="badge">so far</span>' in index


def test_a_week_in_the_future_or_past_the_calendar_is_a_usage_error(filled_config: Config) -> None:
    next_week = IsoWeek.containing(datetime.now(UTC), "UTC").next()
    future = _run(filled_config, "report", "--week", str(next_week))
    assert future.exit_code == 2
    assert future.output.startswith(f"error: --week {next_week}: that week has not started yet")
    assert "\n" not in future.output.rstrip("\n")
    far = _run(filled_config, "report", "--week", "9999-W52")
    assert far.exit_code == 2
    assert far.output == "error: --week: '9999-W52': the year must be between 1900 and 9998\n"
    assert not (filled_config.reports.output_dir / str(next_week)).exists()


def test_a_lowercase_week_is_accepted(filled_config: Config) -> None:
    result = _run(filled_config, "report", "--week", "2026-w47")
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).parent.name == "2026-W47"


def test_an_empty_default_week_names_the_latest_week_with_mentions(filled_config: Config) -> None:
    result = _run(filled_config, "report")  # the last complete week: after the fixture's weeks, empty
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("note: ")
    assert "the latest week with mentions is 2026-W47 (tracker report --week 2026-W47)" in result.stderr


def test_with_debug_a_config_error_still_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "tracker.toml"
    path.write_text('[[domains]]\nname = "example.com"\n[reports]\nformats = ["pdf"]\n', encoding="utf-8")
    quiet = CliRunner().invoke(cli, ["--config", str(path), "report"])
    loud = CliRunner().invoke(cli, ["--debug", "--config", str(path), "report"])
    assert (quiet.exit_code, loud.exit_code) == (2, 2)
    assert "reports.formats" in quiet.output
    assert "Traceback" in loud.output and "reports.formats" in loud.output


def test_out_refuses_a_folder_holding_files_the_tracker_did_not_write(
    filled_config: Config, tmp_path: Path
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("<p>my own home page</p>", encoding="utf-8")
    result = _run(filled_config, "report", "--week", "2026-W47", "--out", str(folder))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {folder} holds files mention-tracker did not write (index.html)")
    assert (folder / "index.html").read_text(encoding="utf-8") == "<p>my own home page</p>"
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]


def test_a_folder_of_reports_from_before_the_marker_is_taken_over(
    filled_config: Config, tmp_path: Path
) -> None:
    folder = tmp_path / "older"
    assert _run(filled_config, "report", "--week", "2026-W46", "--out", str(folder)).exit_code == 0
    (folder / ".mention-tracker").unlink()  # as an older version left it: its index without the generator tag
    index = folder / "index.html"
    index.write_text(
        index.read_text(encoding="utf-8").replace('<meta name="generator"', '<meta name="x"'),
        encoding="utf-8",
    )
    (folder / ".index.html.tmp").write_text("staged by an older version", encoding="utf-8")
    result = _run(filled_config, "report", "--week", "2026-W47", "--out", str(folder))
    assert result.exit_code == 0, result.output
    assert (folder / ".mention-tracker").is_file()


def test_a_week_folder_holding_someone_elses_file_is_left_alone(filled_config: Config) -> None:
    assert _run(filled_config, "report", "--week", "2026-W47").exit_code == 0
    week = filled_config.reports.output_dir / "2026-W47"
    (week / "notes.txt").write_text("mine", encoding="utf-8")
    result = _run(filled_config, "report", "--week", "2026-W47")
    assert result.exit_code == 2
    assert "holds files mention-tracker did not write (notes.txt)" in result.output
    assert (week / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_symbolic_links_in_the_output_folder_are_never_written_through(
    filled_config: Config, tmp_path: Path
) -> None:
    assert _run(filled_config, "report", "--week", "2026-W46").exit_code == 0
    output = filled_config.reports.output_dir
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    for name in (".index.html.tmp", ".lock.tmp", ".2026-W47.old", ".retired-x", ".index-x"):
        (output / name).symlink_to(victim)
    assert _run(filled_config, "report", "--week", "2026-W47").exit_code == 0
    assert victim.read_text(encoding="utf-8") == "precious"
    (output / "index.html").unlink()
    (output / "index.html").symlink_to(victim)
    result = _run(filled_config, "report", "--week", "2026-W47")
    assert result.exit_code == 2
    assert "index.html was not written by mention-tracker" in result.output
    assert victim.read_text(encoding="utf-8") == "precious"
