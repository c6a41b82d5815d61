"""The ``[connectors.reddit]`` table: each mistake is one line with its dotted path and the fix, and checking
a config (or building the connector for `tracker check` and `tracker status`) never imports praw."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import make_config, write_config
from tracker.cli import cli
from tracker.errors import ConfigError

DOMAIN = '[[domains]]\nname = "example.com"\n'


def problems(tmp_path: Path, table: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, DOMAIN + "[connectors.reddit]\n" + textwrap.dedent(table), env)
    return caught.value.problems


def test_the_api_needs_a_client_id_and_secret_and_says_where_to_get_them(tmp_path: Path) -> None:
    assert problems(tmp_path, 'user_agent = "mention-tracker/1.0 by u/me"\n') == [
        'connectors.reddit.client_id: required with auth = "oauth"; set client_id = "${REDDIT_CLIENT_ID}" from '
        'your Reddit app (https://www.reddit.com/prefs/apps), or set auth = "none" to read the public feeds '
        "without an API key",
        'connectors.reddit.client_secret: required with auth = "oauth"; set client_secret = '
        '"${REDDIT_CLIENT_SECRET}" from your Reddit app (https://www.reddit.com/prefs/apps), or set auth = '
        '"none" to read the public feeds without an API key',
    ]


def test_an_unset_credential_variable_is_named_once(tmp_path: Path) -> None:
    table = 'client_id = "${REDDIT_CLIENT_ID}"\nclient_secret = "${REDDIT_CLIENT_SECRET}"\n'
    assert problems(tmp_path, table, {"REDDIT_CLIENT_ID": "abc"}) == [
        "connectors.reddit.client_secret: environment variable REDDIT_CLIENT_SECRET is not set; export "
        "REDDIT_CLIENT_SECRET=... or write the value in the config"
    ]


def test_the_public_feeds_need_no_credentials_and_poll_gently(tmp_path: Path) -> None:
    config = make_config(tmp_path, DOMAIN + '[connectors.reddit]\nauth = "none"\n')
    settings = config.connectors["reddit"]
    assert (settings.auth, settings.interval.total_seconds()) == ("none", 1800)  # type: ignore[attr-defined]
    explicit = make_config(tmp_path, DOMAIN + '[connectors.reddit]\nauth = "none"\ninterval = "1h"\n')
    assert explicit.connectors["reddit"].interval.total_seconds() == 3600


def test_switching_to_the_feeds_leaves_unset_credential_variables_alone(tmp_path: Path) -> None:
    table = 'auth = "none"\nclient_id = "${REDDIT_CLIENT_ID}"\nclient_secret = "${REDDIT_CLIENT_SECRET}"\n'
    config = make_config(tmp_path, DOMAIN + "[connectors.reddit]\n" + table, {})
    assert config.connectors["reddit"].auth == "none"  # type: ignore[attr-defined]


def test_a_disabled_table_may_leave_the_credentials_out(tmp_path: Path) -> None:
    config = make_config(tmp_path, DOMAIN + "[connectors.reddit]\nenabled = false\n")
    assert config.connectors["reddit"].enabled is False


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('auth = "password"\n', "connectors.reddit.auth: expected one of 'oauth' or 'none', got 'password'"),
        (
            'auth = "none"\nwatch_subreddits = ["python", "r/rust", "no spaces"]\n',
            "connectors.reddit.watch_subreddits: 'no spaces' is not a subreddit name; write names like "
            '"python" (letters, digits, underscores)',
        ),
        (
            'auth = "none"\nuser_agent = "bot"\n',
            "connectors.reddit.user_agent: 'bot' is too short; describe the app, e.g. "
            '"mention-tracker/1.0 by u/you"',
        ),
        (
            'auth = "none"\nfeed_base_url = "www.reddit.com"\n',
            'connectors.reddit.feed_base_url: expected an http(s) URL like "https://api.example.com", '
            "got 'www.reddit.com'",
        ),
        (
            'auth = "none"\nmax_items = 5\n',
            "connectors.reddit.max_items: input should be greater than or equal to 100, got 5",
        ),
        (
            'auth = "none"\nrequests_per_minute = 500\n',
            "connectors.reddit.requests_per_minute: input should be less than or equal to 100, got 500",
        ),
        (
            'auth = "none"\nwatch_subreddit = []\n',
            "connectors.reddit.watch_subreddit: unknown key 'watch_subreddit'; did you mean 'watch_subreddits'?",
        ),
    ],
)
def test_each_mistake_is_one_line_with_its_path_and_fix(tmp_path: Path, table: str, problem: str) -> None:
    assert problems(tmp_path, table) == [problem]


def test_subreddit_names_may_be_written_with_r_and_are_kept_once(tmp_path: Path) -> None:
    table = 'auth = "none"\nwatch_subreddits = ["r/Python", "/r/rust", "python", "The_Donald"]\n'
    config = make_config(tmp_path, DOMAIN + "[connectors.reddit]\n" + table)
    assert config.connectors["reddit"].watch_subreddits == ("Python", "rust", "The_Donald")  # type: ignore[attr-defined]


def test_checking_a_reddit_config_never_imports_praw(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        DOMAIN
        + '[connectors.reddit]\nclient_id = "id"\nclient_secret = "secret"\nwatch_subreddits = ["python"]\n'
        '[connectors.reddit_feeds]\ntype = "reddit"\nauth = "none"\n',
    )
    code = (
        "import sys\nfrom tracker.cli import main\n"
        f"try:\n    main(['--config', {str(path)!r}, 'check'])\nexcept SystemExit:\n    pass\n"
        "print('praw' in sys.modules, 'prawcore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[-1] == "False False"
    assert any(
        line.startswith("  reddit (reddit, oauth): reads Reddit new link posts, searches for self posts and new "
                        "comments in r/python linking to example.com, through the API (praw)")
        for line in lines
    )  # fmt: skip
    assert any(line.startswith("  reddit_feeds (reddit, feeds): ") and "every 30m" in line for line in lines)


def test_tracker_connectors_lists_reddit(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["connectors"], catch_exceptions=False)
    assert any(line.startswith("reddit ") and "poll" in line for line in result.output.splitlines())


def test_check_says_what_a_pass_over_many_domains_costs(tmp_path: Path) -> None:
    from connectors.reddit.connector import RedditConnector, RedditSettings
    from tracker.connector import ConnectorContext
    from tracker.settings import DomainSettings

    settings = RedditSettings(type="reddit", auth="none")
    connector = RedditConnector("reddit", settings, ConnectorContext(data_dir=tmp_path))
    line = connector.describe([DomainSettings(name=f"site{n}.com") for n in range(1000)])
    # Two requests a domain (its listing and the search), ten a minute for the public feeds.
    assert line.endswith("; at least 2,000 request(s) a pass, about 200 min at 10 a minute")
    assert "linking to 1,000 domains (site0.com, " in line
