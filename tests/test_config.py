"""Configuration: every malformed config gets its exact one-line message, with a dotted path and a fix."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import make_config, write_config
from tracker import registry
from tracker.config import load_config
from tracker.errors import ConfigError
from tracker.logs import JsonFormatter, RedactingFilter
from tracker.settings import parse_duration

DOMAIN = '[[domains]]\nname = "example.com"\n'
AVAILABLE = ", ".join(registry.available())  # every installed connector type, built-in or plugin

MALFORMED = [
    ('[trackr]\ndata_dir = "x"\n' + DOMAIN, "trackr: unknown key 'trackr'; did you mean 'tracker'?"),
    ("[tracker]\n", 'domains: nothing to monitor; add a [[domains]] table with name = "example.com"'),
    (
        '[[domains]]\nname = "https://example.com/x"\n',
        "domains[0].name: 'https://example.com/x' is not a domain name; write the bare host, e.g. example.com",
    ),
    (
        DOMAIN + "include_subdomain = true\n",
        "domains[0].include_subdomain: unknown key 'include_subdomain'; did you mean 'include_subdomains'?",
    ),
    (DOMAIN + "include_subdomains = 3\n", "domains[0].include_subdomains: expected true or false, got 3"),
    (
        DOMAIN + '[connectors.hackernews]\nenabled = "yes"\n',
        "connectors.hackernews.enabled: expected true or false, got 'yes'",
    ),
    (
        '[tracker]\ntimezone = "Mars/Base"\n' + DOMAIN,
        'tracker.timezone: unknown time zone \'Mars/Base\'; use an IANA name such as "Europe/Berlin" or "UTC"',
    ),
    (
        '[tracker]\nraw_retention = "90 days"\n' + DOMAIN,
        'tracker.raw_retention: expected a duration like "30s", "10m", "1h" or "1d", got \'90 days\'',
    ),
    (
        DOMAIN + "[connectors.foo]\nenabled = true\n",
        f"connectors.foo.type: unknown connector type 'foo' (available: {AVAILABLE})",
    ),
    (
        DOMAIN + '[connectors.hackernews]\napi_base_ur = "https://x"\n',
        "connectors.hackernews.api_base_ur: unknown key 'api_base_ur'; did you mean 'api_base_url'?",
    ),
    (
        DOMAIN + '[connectors.hackernews]\napi_base_url = "hn.algolia.com"\n',
        'connectors.hackernews.api_base_url: expected an http(s) URL like "https://api.example.com", '
        "got 'hn.algolia.com'",
    ),
    (
        DOMAIN + '[connectors.hackernews]\napi_base_url = "${HN_URL}"\n',
        "connectors.hackernews.api_base_url: environment variable HN_URL is not set; export HN_URL=... "
        "or write the value in the config",
    ),
    (
        DOMAIN + "[connectors.hackernews]\npage_size = 5000\n",
        "connectors.hackernews.page_size: input should be less than or equal to 1000, got 5000",
    ),
    (
        '[reports]\nschedule = "monday at 6"\n' + DOMAIN,
        "reports.schedule: expected a weekday and a time like \"mon 06:00\", got 'monday at 6'",
    ),
    (
        '[reports]\nformats = ["pdf"]\n' + DOMAIN,
        "reports.formats[0]: expected one of 'csv' or 'html', got 'pdf'",
    ),
    (
        DOMAIN + 'exclude_authors = ["bob"]\n',
        'domains[0].exclude_authors: \'bob\' is not "platform:handle"; write it like "x:yourhandle"',
    ),
    (
        DOMAIN + '[[domains]]\nname = "Example.com"\n',
        "domains[1].name: example.com is listed twice; remove one",
    ),
    (
        '[tracker]\ndatabase_url = "mysql://x"\n' + DOMAIN,
        "tracker.database_url: only sqlite:///PATH and postgresql+psycopg://USER@HOST/DB are supported; "
        "leave it empty for the embedded SQLite store",
    ),
    ('domains = "example.com"\n', 'domains: expected a list like ["a", "b"], got \'example.com\''),
    ("tracker = 5\n" + DOMAIN, "tracker: expected a table, got 5"),
    (
        "connectors = { hackernews = 5 }\n" + DOMAIN,
        "connectors.hackernews: expected a table [connectors.hackernews], got 5",
    ),
    (
        "[[domains]]\ninclude_subdomains = true\n",
        "domains[0].name: required setting is missing; add name = ... to this table",
    ),
    (
        DOMAIN + "[connectors.hackernews]\ninterval = 10\n",
        'connectors.hackernews.interval: expected a duration like "30s", "10m", "1h" or "1d", got 10',
    ),
    (
        DOMAIN + '[connectors.hackernews]\nenabled = "sometimes"\n',
        "connectors.hackernews.enabled: expected true or false, got 'sometimes'",
    ),
    (
        DOMAIN + '[connectors.hackernews]\ntype = "hackernewz"\n',
        f"connectors.hackernews.type: unknown connector type 'hackernewz' (available: {AVAILABLE})",
    ),
    (
        DOMAIN + '[connectors.hackernews]\nmax_response_size = "lots"\n',
        'connectors.hackernews.max_response_size: expected a size like "512KB", "8MB" or "1GB", got \'lots\'',
    ),
    (
        '[tracker]\ndata_dir = "${DATA}"\n' + DOMAIN,
        "tracker.data_dir: environment variable DATA is not set; export DATA=... or write the value in the config",
    ),
    (
        '[domains]\nname = "example.com"\n',
        "domains: write each domain as a [[domains]] table (double brackets), not [domains]",
    ),
    ('[[tracker]]\ndata_dir = "x"\n' + DOMAIN, "tracker: write [tracker] (single brackets), not [[tracker]]"),
    (
        DOMAIN + "[[connectors.hackernews]]\nenabled = true\n",
        "connectors.hackernews: write [connectors.hackernews] (single brackets), not [[connectors.hackernews]]",
    ),
    (
        DOMAIN + 'aliases = ["exm.pl/x"]\n',
        "domains[0].aliases: 'exm.pl/x' is not a domain name; write the bare host, e.g. example.com",
    ),
    (
        DOMAIN + 'aliases = ["Example.com."]\n',
        "domains[0].aliases: example.com is the domain itself; list only other hosts",
    ),
    (
        DOMAIN + 'aliases = ["exm.pl"]\n[[domains]]\nname = "other.org"\naliases = ["EXM.PL"]\n',
        "domains[1].aliases: exm.pl is already an alias of example.com; list a host once",
    ),
    (
        DOMAIN + '[[domains]]\nname = "other.org"\naliases = ["example.com"]\n',
        "domains[1].aliases: example.com is already a domain; list a host once",
    ),
    (
        '[tracker]\nconnect_to = { "bit.ly" = "127.0.0.1:8080" }\n' + DOMAIN,
        "tracker.connect_to: 'bit.ly' = '127.0.0.1:8080': expected an http(s) address without a path, like "
        '"http://127.0.0.1:8080"',
    ),
    (
        '[tracker]\nresolve_shorteners = "sometimes"\n' + DOMAIN,
        "tracker.resolve_shorteners: expected true or false, got 'sometimes'",
    ),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED)
def test_a_malformed_config_gets_its_exact_message(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, body)
    assert caught.value.problems == [message]
    assert caught.value.exit_code == 2


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    body = '[tracker]\ntimezone = "Nowhere"\n[[domains]]\nname = "bad name"\n[connectors.hackernews]\npage_size = 0\n'
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, body)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "tracker.timezone", "domains[0].name", "connectors.hackernews.page_size",
    ]  # fmt: skip


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tracker.toml: not valid TOML: .*line 2"):
        make_config(tmp_path, "[tracker]\ndata_dir = \n")


def test_a_missing_config_file_lists_every_place_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(None, env={})
    assert caught.value.problems == [
        "no config file: looked for --config (not given), $TRACKER_CONFIG (not set) and ./tracker.toml (missing); "
        "copy config.example.toml to tracker.toml or pass --config PATH"
    ]
    with pytest.raises(ConfigError, match=r"given in \$TRACKER_CONFIG"):
        load_config(None, env={"TRACKER_CONFIG": str(tmp_path / "nope.toml")})


def test_config_is_found_through_the_environment_then_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, DOMAIN, name="elsewhere.toml")
    assert load_config(None, env={"TRACKER_CONFIG": str(path)}).path == path.resolve()
    write_config(tmp_path, DOMAIN)
    monkeypatch.chdir(tmp_path)
    assert load_config(None, env={}).path == (tmp_path / "tracker.toml").resolve()


def test_environment_variables_are_interpolated(tmp_path: Path) -> None:
    body = DOMAIN + '[connectors.hackernews]\napi_base_url = "${HN_HOST}/api/v1"\ninterval = "${EVERY}"\n'
    config = make_config(tmp_path, body, env={"HN_HOST": "http://127.0.0.1:9", "EVERY": "5m"})
    settings = config.connectors["hackernews"]
    assert settings.api_base_url == "http://127.0.0.1:9/api/v1"  # type: ignore[attr-defined]
    assert settings.interval == timedelta(minutes=5)


def test_a_disabled_connector_may_name_unset_variables(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, DOMAIN + '[connectors.hackernews]\nenabled = false\napi_base_url = "${NOPE}"\n'
    )
    assert not config.connectors["hackernews"].enabled
    assert config.enabled_connectors == {}


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = make_config(tmp_path, '[tracker]\ndata_dir = "state"\n[reports]\noutput_dir = "out"\n' + DOMAIN)
    assert config.data_dir == tmp_path / "state"
    assert config.reports.output_dir == tmp_path / "out"
    assert config.database_url == f"sqlite:///{tmp_path / 'state' / 'tracker.db'}"
    config = make_config(tmp_path, '[tracker]\ndatabase_url = "sqlite:///db/x.db"\n' + DOMAIN)
    assert config.database_url == f"sqlite:///{tmp_path / 'db' / 'x.db'}"


def test_postgres_urls_use_psycopg(tmp_path: Path) -> None:
    config = make_config(tmp_path, '[tracker]\ndatabase_url = "postgresql://u:pw@db/x"\n' + DOMAIN)
    assert config.database_url == "postgresql+psycopg://u:pw@db/x"


def test_secrets_are_redacted_in_reprs_and_logs(tmp_path: Path) -> None:
    config = make_config(tmp_path, '[tracker]\ndatabase_url = "postgresql://u:hunter2pw@db/x"\n' + DOMAIN)
    assert "hunter2pw" not in repr(config)
    assert "hunter2pw" in config.secrets()
    record = logging.makeLogRecord({"msg": "connecting with %s", "args": ("postgresql://u:hunter2pw@db/x",)})
    RedactingFilter(config.secrets()).filter(record)
    assert record.getMessage() == "connecting with ***"
    password_only = logging.makeLogRecord({"msg": "password hunter2pw rejected"})
    RedactingFilter(config.secrets()).filter(password_only)
    assert password_only.getMessage() == "password *** rejected"


@pytest.mark.parametrize(
    "formatter", [logging.Formatter("%(message)s"), JsonFormatter()], ids=["text", "json"]
)
def test_secrets_are_redacted_in_tracebacks_and_extra_fields(formatter: logging.Formatter) -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter(["hunter2pw"]))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False  # the record is for this handler only, not for whatever the root logger holds
    try:
        try:
            raise RuntimeError("login as u:hunter2pw failed")
        except RuntimeError:
            logger.exception("poll failed", extra={"url": "https://u:hunter2pw@db/x"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = handler.stream.getvalue()
    assert "RuntimeError: login as u:*** failed" in output
    assert "hunter2pw" not in output


def test_defaults_fill_what_is_left_out(tmp_path: Path) -> None:
    config = make_config(tmp_path, DOMAIN + "[connectors.hackernews]\n")
    assert config.domains[0].include_subdomains is True
    assert config.tracker.timezone == "UTC"
    assert str(config.reports.schedule) == "mon 06:00"
    assert config.connectors["hackernews"].interval == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), ("2w", 1209600)],
)
def test_durations_are_written_with_a_unit(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_the_example_config_is_valid() -> None:
    config = load_config(Path(__file__).parents[1] / "config.example.toml", env={})
    assert [d.name for d in config.domains] == ["example.com"]
    assert "hackernews" in config.enabled_connectors
