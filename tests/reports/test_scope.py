"""A report covers the own domains of the current config: two configs over one database each see their own;
mentions of a domain removed from the config stay in the store and in `tracker export --domain`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from reports import write_report
from reports.rollups import build
from tests.conftest import make_config
from tests.reports.fixtures import fill
from tests.reports.test_rollups import NOW, W47, read
from tracker.cli import cli
from tracker.settings import Config
from tracker.store import Store


def config_with(folder: Path, database_url: str, *domains: str) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    tables = "".join(f'[[domains]]\nname = "{domain}"\n' for domain in domains)
    return make_config(
        folder, f'[tracker]\ndatabase_url = "{database_url}"\n{tables}[reports]\noutput_dir = "out"\n'
    )


def test_two_configs_over_one_database_each_report_only_their_domains(
    tmp_path: Path, database_url: str
) -> None:
    both = config_with(tmp_path / "both", database_url, "example.com", "example.org")
    store = Store.open(both.database_url)
    fill(store)
    store.close()
    only_com = config_with(tmp_path / "com", database_url, "example.com")
    only_org = config_with(tmp_path / "org", database_url, "example.org")

    com = write_report(only_com, week=W47, now=NOW).folder
    # the week's example.com posts: HN 1, Reddit t3_2 (which also links docs.example.org), Reddit t1_4
    assert [r["platform_id"] for r in read(com / "mentions.csv")] == ["t1_4", "t3_2", "1"]
    assert {r["domain"] for r in read(com / "links.csv")} == {"example.com"}
    two_links = next(r for r in read(com / "mentions.csv") if r["platform_id"] == "t3_2")
    assert (two_links["canonical_url"], two_links["link_count"]) == ("https://example.com/a", "1")
    summary = {r["metric"]: r["this_week"] for r in read(com / "summary.csv")}
    assert (summary["mentions"], summary["pages_linked"]) == ("3", "2")
    assert "mentions:example.org" not in summary
    assert "example.org" not in (com / "report.html").read_text(encoding="utf-8")

    org = write_report(only_org, week=W47, now=NOW).folder
    # example.org: the Bluesky post, and t3_2 by its second link (which then stands for the post)
    assert [r["platform_id"] for r in read(org / "mentions.csv")] == [
        "at://did:plc:carol/app.bsky.feed.post/3",
        "t3_2",
    ]
    two_links = next(r for r in read(org / "mentions.csv") if r["platform_id"] == "t3_2")
    assert (two_links["canonical_url"], two_links["domain"], two_links["link_count"]) == (
        "https://docs.example.org/x", "example.org", "1",
    )  # fmt: skip
    assert {r["canonical_url"] for r in read(org / "top_pages.csv")} == {
        "https://example.org/b", "https://docs.example.org/x",
    }  # fmt: skip

    store = Store.open(both.database_url)
    report = build(store, W47, timezone="UTC", domains=["example.org"], platforms={}, now=NOW)
    store.close()
    previous = {s.metric: s.previous_week for s in report.summary}
    assert previous["mentions"] == 0  # the week before linked example.com only: counted in scope too


def test_export_keeps_removed_domains_and_filters_by_domain(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    both = config_with(tmp_path / "both", database_url, "example.com", "example.org")
    store = Store.open(both.database_url)
    fill(store)
    store.close()
    only_com = config_with(tmp_path / "com", database_url, "example.com")
    path = str(only_com.path)
    everything = CliRunner().invoke(cli, ["--config", path, "export", "--format", "jsonl"])
    ids = {json.loads(line)["platform_id"] for line in everything.stdout.splitlines()}
    assert (
        "at://did:plc:carol/app.bsky.feed.post/3" in ids
    )  # example.org is no longer configured: still exported
    org = CliRunner().invoke(
        cli, ["--config", path, "export", "--domain", "example.org", "--since", "2026-11-16"]
    )
    rows = list(csv.DictReader(org.stdout.lstrip("\ufeff").splitlines()))
    assert [r["platform_id"] for r in rows] == ["at://did:plc:carol/app.bsky.feed.post/3", "t3_2"]
    assert [(r["domain"], r["link_count"], r["url"]) for r in rows] == [
        ("example.org", "1", "https://example.org/b"), ("example.org", "1", "https://docs.example.org/x"),
    ]  # fmt: skip
    assert (rows[0]["reach"], rows[0]["value"], rows[0]["views"]) == (
        "500",
        "36",
        "",
    )  # value: rated at ingest
    both_domains = CliRunner().invoke(
        cli,
        [
            "--config",
            path,
            "export",
            "--domain",
            "example.org",
            "--domain",
            "example.com",
            "--format",
            "jsonl",
        ],
    )
    assert len(both_domains.stdout.splitlines()) == len(ids)
    record = json.loads(org_jsonl(path).splitlines()[0])
    assert (record["reach"], record["value"], record["community_size"]) == (500, 36, None)
    bad = CliRunner().invoke(cli, ["--config", path, "export", "--domain", "not a domain"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --domain: ")


def org_jsonl(path: str) -> str:
    return (
        CliRunner()
        .invoke(cli, ["--config", path, "export", "--domain", "example.org", "--format", "jsonl"])
        .stdout
    )
