"""`tracker alerts test NAME`, alert rules in `tracker status`, and one-line errors for bad [[alerts]] tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.webhook_receiver import WebhookReceiver
from tracker.cli import cli

SECRET = "cli-secret-0123456789"
TOKEN = "T0KEN-in-the-path-42"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        server.route("POST", f"/hook/{TOKEN}", server.routes[("POST", "/hook")])
        yield server


def write(tmp_path: Path, alerts: str) -> Path:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f'[tracker]\ndata_dir = "data"\n[[domains]]\nname = "example.com"\n{alerts}\n', encoding="utf-8"
    )
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def team(receiver: WebhookReceiver) -> str:
    return f"""
[[alerts]]
name = "team"
webhook_url = "{receiver.url}/hook/{TOKEN}"
webhook_secret = "{SECRET}"
notify = ["json://{receiver.url.removeprefix("http://")}/apprise/{TOKEN}"]
"""


def test_alerts_test_sends_a_sample_event_through_every_channel_and_says_what_each_answered(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    receiver.route("POST", f"/apprise/{TOKEN}", receiver.routes[("POST", "/apprise")])
    config = write(tmp_path, team(receiver))
    result = run("--config", str(config), "alerts", "test", "team")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "webhook http://127.0.0.1: ok: accepted (HTTP 204)",
        "notify[0] json: ok: accepted",
    ]
    (body,) = receiver.bodies.values()
    assert (body["event"], body["rule"], body["domain"]) == ("new_mention", "team", "example.com")
    assert receiver.apprise[0]["title"] == "New mention: example.com"

    receiver.mode = "fail"
    result = run("--config", str(config), "alerts", "test", "team")
    assert result.exit_code == 1
    assert "webhook http://127.0.0.1: failed: HTTP 500" in result.output
    assert TOKEN not in result.output and SECRET not in result.output


def test_alerts_test_of_an_unknown_rule_is_a_usage_error(tmp_path: Path, receiver: WebhookReceiver) -> None:
    result = run("--config", str(write(tmp_path, team(receiver))), "alerts", "test", "tema")
    assert result.exit_code == 2
    assert result.output.strip() == "error: alerts test tema: no alert rule of that name; the rules are: team"


def test_status_shows_each_rule_and_channel_without_secrets(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    config = write(tmp_path, team(receiver))
    text = run("--config", str(config), "status")
    assert "alert team (on first_link_to_page, new_community" in text.output
    assert "  webhook http://127.0.0.1: 0 pending, 0 sent, 0 failed" in text.output
    report = json.loads(run("--config", str(config), "status", "--json").output)
    assert [c["channel"] for c in report["alerts"][0]["channels"]] == [
        "webhook http://127.0.0.1",
        "notify[0] json",
    ]
    assert TOKEN not in text.output + json.dumps(report) and SECRET not in text.output + json.dumps(report)


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ('[alerts]\nname = "x"\nwebhook_url = "https://h.example/"\nwebhook_secret = "s"',
         "alerts: write each rule as an [[alerts]] table (double brackets), not [alerts]"),
        ('[[alerts]]\nname = "x"\nwebhook_url = "https://h.example/"',
         "alerts[0].webhook_secret: required with webhook_url"),
        ('[[alerts]]\nname = "x"', "alerts[0]: no channel; set notify"),
        ('[[alerts]]\nname = "x"\nnotify = ["json://h"]\nmin_value = 101', "alerts[0].min_value: input should be less than or equal to 100"),
        ('[[alerts]]\nname = "x"\nnotify = ["json://h"]\non = ["new_post"]', "alerts[0].on[0]: expected one of"),
        ('[[alerts]]\nname = "x"\nnotify = ["json://h"]\ndomains = ["other.com"]', "alerts[0].domains: other.com is not a configured domain"),
        ('[[alerts]]\nname = "x"\nnotify = ["json://h"]\ndigest = "soon"', "alerts[0].digest: expected a duration"),
        ('[[alerts]]\nname = "x"\nnotify = ["not a url"]', "alerts[0].notify: entry 0 is not an Apprise URL"),
        ('[[alerts]]\nname = "x"\nwebhook_url = "https://h.example/"\nwebhook_secret = "${UNSET_SECRET_VAR}"',
         "alerts[0].webhook_secret: environment variable UNSET_SECRET_VAR is not set"),
    ],
)  # fmt: skip
def test_a_bad_alert_rule_is_one_line_naming_the_fix(tmp_path: Path, alerts: str, message: str) -> None:
    result = run("--config", str(write(tmp_path, alerts)), "check")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_rule_without_a_webhook_needs_no_webhook_secret_variable(tmp_path: Path) -> None:
    config = write(
        tmp_path, '[[alerts]]\nname = "x"\nnotify = ["json://h"]\nwebhook_secret = "${UNSET_SECRET_VAR}"'
    )
    assert "UNSET_SECRET_VAR" not in run("--config", str(config), "check").output


def test_poll_writes_the_feeds_and_delivers_the_events_of_its_pass(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    from datetime import UTC, datetime, timedelta

    import feedparser

    posts = tmp_path / "posts.jsonl"
    created = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    posts.write_text("".join(
        json.dumps({"id": i, "created": created, "author": f"u{i}", "text": "see", "likes": i,
                    "urls": [f"https://example.com/p/{i}"]}) + "\n" for i in range(3)), encoding="utf-8")  # fmt: skip
    config = write(tmp_path, team(receiver).replace('notify = [', "# notify = [") + f"""
on = ["new_mention"]
[reports]
output_dir = "out"
[connectors.synthetic]
type = "tests.support.synthetic:SyntheticConnector"
path = "{posts}"
""")  # fmt: skip
    result = run("--config", str(config), "poll")
    assert result.exit_code == 0, result.output
    assert sorted(b["mention"]["platform_id"] for b in receiver.bodies.values()) == ["0", "1", "2"]
    feed = feedparser.parse((tmp_path / "out" / "feeds" / "example.com.atom").read_bytes())
    assert sorted(e.id for e in feed.entries) == ["synthetic:0", "synthetic:1", "synthetic:2"]
    status = run("--config", str(config), "status").output
    assert "  webhook http://127.0.0.1: 0 pending, 3 sent, 0 failed" in status
