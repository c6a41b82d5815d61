"""The configuration reference in docs/ is generated from the settings classes and must be current."""

from __future__ import annotations

from pathlib import Path

from tracker.docs import generate

ROOT = Path(__file__).resolve().parents[1]


def test_the_configuration_reference_is_current() -> None:
    current = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == generate(), (
        "docs/configuration.md is stale: regenerate it with `make docs` (python -m tracker.docs > docs/configuration.md)"
    )


def test_the_reference_lists_every_key_of_every_table_with_its_default() -> None:
    text = generate()
    for row in [
        '| `data_dir` | path | `"data"` | Folder for the SQLite database, session files and locks (created when missing). |',
        "| `include_subdomains` | boolean | `true` |",
        '| `schedule` | weekday and time ("mon 06:00") | `"mon 06:00"` |',
        "| `type` | string | NAME |",
        "| `bearer_token` | string (secret: never logged) | required |",
        '| `interval` | duration | `"15m"` |',  # X polls less often than the common default
        '| `auth` | "oauth" or "none" | `"oauth"` |',
        "| `page_size` | integer (>= 1, <= 1000) | `100` |",
        '| `endpoints` | list of URLs | `["wss://jetstream2.us-east.bsky.network/subscribe"]` |',
    ]:
        assert row in text
    for section in ["## `[tracker]`", "## `[[domains]]`", "## `[reports]`", "## `[connectors.NAME]`"]:
        assert section in text
    for connector in ["bluesky", "hackernews", "jetstream", "reddit", "x"]:
        assert f'### `type = "{connector}"`' in text


def test_the_example_config_points_to_the_reference() -> None:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "docs/configuration.md" in example.splitlines()[0]
    assert "CONTRACT" not in example


def test_a_key_without_a_docstring_is_described_by_the_comment_on_its_line() -> None:
    from tracker.docs import _description
    from tracker.settings import ConnectorSettings

    class PluginSettings(ConnectorSettings):
        depth: int = 3  # how many pages back a pass reads  # fmt: skip
        quiet: bool = False

    fields = PluginSettings.model_fields
    assert _description(PluginSettings, "depth", fields["depth"]) == "How many pages back a pass reads"
    assert _description(PluginSettings, "quiet", fields["quiet"]) == ""
    assert _description(PluginSettings, "enabled", fields["enabled"]).startswith("`false` keeps the table")


def test_every_key_of_every_table_has_a_meaning() -> None:
    rows = [line for line in generate().splitlines() if line.startswith("| `")]
    blank = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert rows and not blank, f"keys without a docstring or line comment: {blank}"


def test_a_key_redeclared_only_for_its_default_keeps_the_meaning_it_overrides() -> None:
    from datetime import timedelta

    from tracker.docs import _description
    from tracker.settings import ConnectorSettings, Duration

    class SlowSettings(ConnectorSettings):
        interval: Duration = timedelta(hours=6)

    field = SlowSettings.model_fields["interval"]
    assert _description(SlowSettings, "interval", field) == "How often the daemon polls it."
