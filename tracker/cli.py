"""The `tracker` command line (CONTRACT §4).

Only click is imported at start-up: SQLAlchemy, pydantic, pandas and the platform SDKs are imported inside
the commands that need them, so `tracker --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from tracker.locks import WriterLock
    from tracker.poller import RunResult
    from tracker.settings import Config
    from tracker.store import Store

F = TypeVar("F", bound=Callable[..., Any])
SETTLE_SECONDS = 30.0  # how long `tracker poll` resolves short links after its passes


class State:
    """Global options, with the config loaded on first use."""

    def __init__(self, config_path: str | None, log_format: str, debug: bool) -> None:
        self.config_path = config_path
        self.log_format = log_format
        self.debug = debug
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from tracker.config import load_config
            from tracker.logs import redact_secrets

            self._config = load_config(self.config_path)
            redact_secrets(self._config.secrets())
        return self._config

    def open_store(self) -> Store:
        from tracker.store import Store

        return Store.open(self.config.database_url)

    def writer_lock(self, store: Store, what: str) -> WriterLock:
        """Take the database's writer lock for a one-off command (LockedError, exit 2, if a daemon runs)."""
        from tracker.locks import WriterLock

        lock = WriterLock(self.config.database_url, self.config.data_dir)
        leader = store.state("leader").get("leader", ("", None))[0]
        lock.acquire(what, leader=leader)
        return lock


class TrackerGroup(click.Group):
    """Turns tracker errors into one line on stderr and the contract's exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        from tracker.errors import TrackerError
        from tracker.logs import flush_repeats

        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            if ctx.params.get("debug"):  # the traceback, and still the exit code systemd keys on
                traceback.print_exc()
            problems = getattr(exc, "problems", None) or [str(exc)]
            for problem in problems:
                click.echo(f"error: {problem}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `tracker export | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet too
            ctx.exit(141)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            if isinstance(exc, OSError) and exc.filename is not None:  # a path the user gave or configured
                click.echo(
                    f"error: {exc.filename}: {exc.strerror}; check the path and its permissions", err=True
                )
                ctx.exit(2)
            text = " ".join(str(exc).split())
            click.echo(
                f"error: internal error: {type(exc).__name__}: {text} (rerun with --debug for details)",
                err=True,
            )
            ctx.exit(1)
        finally:
            flush_repeats(everything=True)  # how many like warnings a short command held back


@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config_path", metavar="PATH", help="Config file (default: $TRACKER_CONFIG, ./tracker.toml)."
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--debug", is_flag=True, help="Verbose logs and full tracebacks.")
@click.version_option(package_name="mention-tracker")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str, debug: bool) -> None:
    """Find the social media posts that link to your website."""
    from tracker.logs import setup_logging

    setup_logging(log_format, debug=debug)
    ctx.obj = State(config_path, log_format, debug)


pass_state = click.make_pass_decorator(State)


@cli.command()
@click.option("--online", is_flag=True, help="Also make one cheap request per enabled connector.")
@pass_state
def check(state: State, online: bool) -> None:
    """Validate the config, open the database and folders as poll does (changing nothing), and print what
    each enabled connector will do."""
    from tracker import registry
    from tracker.checks import check_database, check_folder
    from tracker.connector import ConnectorContext
    from tracker.settings import format_duration

    config = state.config
    click.echo(f"config: {config.path}")
    listed = [d.name + ("" if d.include_subdomains else " (no subdomains)") for d in config.domains]
    if len(listed) > 10:  # a thousand names would bury the rest
        own = sum(1 for d in config.domains if d.role == "own")
        listed = [
            f"{len(listed):,} ({own:,} own, {len(listed) - own:,} competitors): {', '.join(listed[:5])} "
            f"and {len(listed) - 5:,} more"
        ]
    click.echo(f"domains: {', '.join(listed)}")
    competitors = [d.name for d in config.domains if d.role == "competitor"]
    if competitors:
        named = ", ".join(competitors[:5]) + (
            f" and {len(competitors) - 5:,} more" if len(competitors) > 5 else ""
        )
        click.echo(f"competitors (polled for the share of voice only): {named}")
    click.echo(f"database: {check_database(config)}")
    check_folder(config.data_dir)
    click.echo(f"data: {config.data_dir} (writable)")
    check_folder(config.reports.output_dir)
    click.echo(
        f"reports: {config.reports.output_dir} (writable) every {config.reports.schedule} {config.tracker.timezone}"
    )
    _describe_pages_and_alerts(config)
    for name, settings in config.connectors.items():
        if not settings.enabled:
            click.echo(f"  {name}: disabled")
            continue
        connector = registry.load(settings.type)(name, settings, ConnectorContext(data_dir=config.data_dir))
        when = (
            "streams continuously" if connector.streaming else f"every {format_duration(settings.interval)}"
        )
        click.echo(
            f"  {name} ({settings.type}, {connector.mode()}): {connector.describe(config.domains)}; {when}"
        )
    if not config.enabled_connectors:
        click.echo("no connector is enabled: set enabled = true in a [connectors.NAME] table")
    click.echo("config OK")
    if online:
        _check_online(config)


def _describe_pages_and_alerts(config: Config) -> None:
    """What ``tracker check`` says of the page checks and the alert rules (channels without their secrets)."""
    from tracker.delivery import channel_label
    from tracker.settings import format_duration

    pages = config.pages
    if pages.check and config.own_domains:
        rate = f"{pages.requests_per_second:g}"
        click.echo(
            f"pages: each linked page of your own domains checked every {format_duration(pages.interval)}, "
            f"at most {rate} request(s) a second per host (tracker pages lists them)"
        )
    else:
        click.echo("pages: not checked" + ("" if pages.check else " ([pages] check = false)"))
    for rule in config.alerts:
        channels = ", ".join(channel_label(rule, channel) for channel in rule.channels)
        digest = f"; a digest every {format_duration(rule.digest)}" if rule.digest else ""
        click.echo(f"alert {rule.name}: {', '.join(rule.on)} -> {channels}{digest}")


def _check_online(config: Config) -> None:
    """One cheap request per enabled connector; exit 2 when credentials are rejected, 1 on other failures."""
    from tracker.checks import check_online

    click.echo("online:")
    answers = check_online(config)
    for answer in answers:
        click.echo(f"  {answer.connector}: {'ok' if answer.ok else 'FAILED'}: {answer.text}")
    if any(answer.credentials_rejected for answer in answers):
        sys.exit(2)
    if not all(answer.ok for answer in answers):
        sys.exit(1)


@cli.command()
def connectors() -> None:
    """List the available connector types, plugins included."""
    from tracker import registry

    for type_name, target in registry.available().items():
        try:
            connector_class = registry.load(type_name)
        except registry.UnknownConnectorError as exc:
            click.echo(f"{type_name:16} (broken: {exc})")
            continue
        missing = registry.missing_dependencies(connector_class)
        origin = registry.distribution_of(type_name) or target
        kind = "stream" if connector_class.streaming else "poll"
        note = f"  [{missing[0]}]" if missing else ""
        click.echo(f"{type_name:16} {kind:6} {connector_class.description}  ({origin}){note}")


@cli.command()
@click.option("--connector", "names", multiple=True, metavar="NAME", help="Only this connector (repeatable).")
@pass_state
def poll(state: State, names: Sequence[str]) -> None:
    """Run one pass of each enabled (or named) connector now, then exit."""
    from tracker.poller import Poller, run_all

    selected = _select_connectors(state.config, names)
    store = state.open_store()
    lock = state.writer_lock(store, "tracker poll")
    poller = Poller(state.config, store)
    try:
        results = run_all(poller, selected)
        poller.settle_short_links(seconds=SETTLE_SECONDS)  # the rest waits for the next poll or the daemon
        _after_poll(state.config, store, new=sum(result.new for result in results))
    finally:
        poller.close()
        lock.release()
        store.close()
    _print_results(results)
    if any(result.failed for result in results):
        sys.exit(1)


def _after_poll(config: Config, store: Store, *, new: int) -> None:
    """The feeds when something new was stored, and one delivery attempt per alert channel (what fails is
    retried by the next poll or the daemon)."""
    from datetime import UTC, datetime

    if new:
        from tracker.feeds import write_feeds

        write_feeds(config, store, datetime.now(UTC))
    if config.alerts:
        from tracker.delivery import Sender

        sender = Sender(config, store)
        try:
            sender.pass_once()
        finally:
            sender.close()


def _select_connectors(config: Config, names: Sequence[str]) -> list[str]:
    from tracker.errors import ConfigError

    if not names:
        selected = list(config.enabled_connectors)
        if not selected:
            raise ConfigError("no connector is enabled; set enabled = true in a [connectors.NAME] table")
        return selected
    unknown = [name for name in names if name not in config.connectors]
    if unknown:
        known = ", ".join(config.connectors) or "none"
        raise ConfigError(f"--connector {unknown[0]}: no such connector in the config (configured: {known})")
    disabled = [name for name in names if not config.connectors[name].enabled]
    if disabled:
        raise ConfigError(
            f"--connector {disabled[0]}: it is disabled; set enabled = true in [connectors.{disabled[0]}]"
        )
    return list(dict.fromkeys(names))


def _print_results(results: Sequence[RunResult]) -> None:
    header = (
        f"{'connector':20} {'status':12} {'fetched':>8} {'new':>6} {'updated':>8} {'errors':>6} {'time':>7}"
    )
    click.echo(header)
    for r in results:
        errors = r.skipped + (1 if r.failed else 0)
        click.echo(
            f"{r.connector:20} {r.status:12} {r.fetched:8d} {r.new:6d} {r.updated:8d} {errors:6d} {r.seconds:6.1f}s"
        )
    for r in results:
        if r.error:
            click.echo(f"{r.connector}: {r.error}", err=True)


@cli.command()
@pass_state
def run(state: State) -> None:
    """Run the daemon: poll on schedule, stream, refresh engagement; SIGTERM/SIGINT stop it cleanly."""
    from tracker.daemon import Daemon

    sys.exit(Daemon(state.config).run())


@cli.command()
@click.option("--since", required=True, metavar="DATE", help="Read history back to this date (YYYY-MM-DD).")
@click.option("--connector", "names", multiple=True, metavar="NAME", help="Only this connector (repeatable).")
@pass_state
def backfill(state: State, since: str, names: Sequence[str]) -> None:
    """Fetch history as far as each platform allows, without moving the live cursors; resumable."""
    from tracker.backfill import run_backfill
    from tracker.errors import ConfigError
    from tracker.export import parse_range_bound

    try:
        start = parse_range_bound(since, state.config.tracker.timezone, end=False)
    except ValueError as exc:
        raise ConfigError(f"--since {since!r}: not a date; write it like 2026-10-01") from exc
    selected = _select_connectors(state.config, names)
    store = state.open_store()
    lock = state.writer_lock(store, "tracker backfill")
    try:
        results = run_backfill(state.config, store, selected, start)
    finally:
        lock.release()
        store.close()
    _print_results(results)
    if any(result.failed for result in results):
        sys.exit(1)


@cli.command()
@click.option(
    "--week", metavar="YYYY-Www|current", help="The ISO week to report (default: the last complete week)."
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Write under this folder instead of reports.output_dir."
)
@pass_state
def report(state: State, week: str | None, out: str | None) -> None:
    """Write a week's report (CSV files and report.html) and print the path of its report.html."""
    from datetime import UTC, datetime
    from pathlib import Path

    from reports.standby import Standby, worth_starting
    from tracker.errors import ConfigError
    from tracker.periods import IsoWeek, last_complete_week

    config = state.config
    timezone = config.tracker.timezone
    now = datetime.now(UTC)
    current = IsoWeek.containing(now, timezone)
    if week is not None and week.strip().lower() == "current":
        chosen = current
    else:
        try:
            chosen = IsoWeek.parse(week) if week else last_complete_week(now, timezone)
        except ValueError as exc:
            raise ConfigError(f"--week: {exc}") from exc
    if chosen > current:
        raise ConfigError(
            f"--week {chosen}: that week has not started yet (this week is {current}); "
            "use --week current for the week so far"
        )
    # a big store's second report process loads its libraries while this one loads the same
    standby = Standby() if worth_starting(config.database_url) else None
    try:
        from reports import latest_week_with_mentions, write_report

        written = write_report(
            config, week=chosen, out_dir=Path(out) if out else None, now=now, standby=standby
        )
    finally:
        if standby is not None:
            standby.close()
    if not written.mentions and week is None:
        latest = latest_week_with_mentions(config, now)
        if latest is not None:
            click.echo(
                f"note: {chosen} has no mentions; the latest week with mentions is {latest} "
                f"(tracker report --week {latest})",
                err=True,
            )
    click.echo(str(written.html) if "html" in config.reports.formats else str(written.folder))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def status(state: State, as_json: bool) -> None:
    """Whether the daemon runs, and per connector: health, last success and error, next run, cursor age, usage
    and spend this month.

    Exits 0 when healthy, 1 when degraded, 2 when down (the daemon has stopped, or every connector is down):
    a health probe for systemd, Docker or Kubernetes.
    """
    from datetime import UTC, datetime

    from tracker.delivery import rule_status
    from tracker.heartbeat import daemon_status
    from tracker.status import HEALTH_ORDER, collect, overall, page_checks, short_links

    config = state.config
    store = state.open_store()
    try:
        now = datetime.now(UTC)
        daemon = daemon_status(store, now)
        statuses = collect(config, store, now)
        links = short_links(config, store, now)
        checks = page_checks(config, store, now)
        alerts = rule_status(config, store) if config.alerts else []
    finally:
        store.close()
    health = overall(statuses, daemon)
    if as_json:
        report = {
            "health": health,
            "daemon": daemon.to_json(),
            "connectors": [s.to_json(now) for s in statuses],
            "short_links": links,
            "pages": checks,
            "alerts": alerts,
        }
        click.echo(json.dumps(report, indent=2))
    else:
        _print_status(statuses, health, now, daemon)
        if links is not None:
            click.echo(
                f"short links: {links['used_last_minute']} of {links['requests_per_minute']} requests a minute used; "
                f"{links['waiting']} post(s) waiting; this month {links['resolved_this_month']} resolved, "
                f"{links['failed_this_month']} failed, {links['requests_this_month']} requests"
            )
        if checks is not None:
            from tracker.settings import format_duration

            click.echo(
                f"pages: {checks['checked']} of {checks['linked']} linked page(s) checked within "
                f"{format_duration(config.pages.interval)}, {checks['due']} due; {checks['broken']} broken "
                f"({checks['no_answer']} without an answer); last check {checks['last_checked_at'] or 'never'}"
                + (" (tracker pages --broken lists them)" if checks["broken"] else "")
            )
        _print_alerts(alerts)
    sys.exit(max(HEALTH_ORDER[health], 0))


@cli.command()
@click.option(
    "--broken", is_flag=True, help="Only pages whose last check found them broken (4xx/5xx, no answer)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one JSON object a line).")
@pass_state
def pages(state: State, broken: bool, as_json: bool) -> None:
    """The checked pages of your own domains: status, redirects, final URL, noindex, canonical tag and title
    as their latest check found them (`[pages]` in the config)."""
    from tracker.page_checks import checked_pages
    from tracker.page_probe import page_problems
    from tracker.record import format_utc

    config = state.config
    store = state.open_store()
    try:
        with store.read() as conn:
            rows = checked_pages(conn, config.own_domains, broken_only=broken)
    finally:
        store.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps({**row, "checked_at": format_utc(row["checked_at"])}, ensure_ascii=False))
            continue
        status = str(row["status"]) if row["status"] is not None else "---"
        line = f"{status:>3} {row['canonical_url']}"
        if row["redirects"]:
            line += " -> " + " -> ".join(f"{hop['status']} {hop['location']}" for hop in row["redirects"])
        notes = [note for note, on in (("BROKEN", row["broken"]), ("noindex", row["noindex"])) if on]
        if "canonical" in page_problems(False, (), False, row["canonical_tag"], row["final_url"]):
            notes.append(f"canonical {row['canonical_tag']}")
        if row["error"]:
            notes.append(row["error"])
        click.echo(
            line
            + (f"  [{'; '.join(notes)}]" if notes else "")
            + f"  (checked {format_utc(row['checked_at'])})"
        )
    if not rows and not as_json:
        click.echo(
            "no broken pages"
            if broken
            else "no page checked yet (the daemon checks linked pages: tracker run)"
        )


def _print_alerts(rules: Sequence[dict[str, Any]]) -> None:
    for rule in rules:
        click.echo(f"alert {rule['rule']} (on {', '.join(rule['on'])}):")
        for channel in rule["channels"]:
            line = f"  {channel['channel']}: {channel['pending']} pending, {channel['sent']} sent, {channel['failed']} failed"
            if channel["last_failure"]:
                line += f"; last failure {channel['last_failure_at']}: {channel['last_failure']}"
            click.echo(line)


@cli.group()
def alerts() -> None:
    """Alert rules ([[alerts]] in the config)."""


@alerts.command("test")
@click.argument("name")
@pass_state
def alerts_test(state: State, name: str) -> None:
    """Send one sample event through alert NAME's channels and say what each answered (exit 1 if one failed)."""
    from datetime import UTC, datetime

    from tracker.delivery import Channels, channel_label, sample_body
    from tracker.errors import ConfigError

    config = state.config
    rules = {rule.name: rule for rule in config.alerts}
    if name not in rules:
        known = ", ".join(rules) or "none (add an [[alerts]] table)"
        raise ConfigError(f"alerts test {name}: no alert rule of that name; the rules are: {known}")
    rule = rules[name]
    channels = Channels(config)
    failed = False
    try:
        for channel in rule.channels:
            body = sample_body(config, rule, datetime.now(UTC))
            answer = channels.send(rule, channel, body["id"], body)
            failed |= not answer.ok
            click.echo(f"{channel_label(rule, channel)}: {'ok' if answer.ok else 'failed'}: {answer.detail}")
    finally:
        channels.close()
    if failed:
        sys.exit(1)


def _print_daemon(daemon: Any, ago: Callable[[Any], str]) -> None:
    from tracker.heartbeat import DaemonStatus
    from tracker.record import format_utc

    assert isinstance(daemon, DaemonStatus)
    if daemon.last_seen is None:
        click.echo("daemon: never run on this database (`tracker run` starts it)")
    elif not daemon.running:
        last = daemon.last_seen
        click.echo(
            f"down: daemon not running (last seen {format_utc(last.seen_at)}, pid {last.pid}, host {last.host})"
        )
    else:
        if daemon.leader is None:
            click.echo("daemon: no leader: every daemon alive stands by")
        for beat in (daemon.leader, *daemon.standbys):
            if beat is not None:
                click.echo(
                    f"daemon: {'leader' if beat is daemon.leader else 'standby'} {beat.describe()}, "
                    f"up since {format_utc(beat.started_at)}, heartbeat {ago(beat.seen_at)}"
                )


def _print_status(statuses: Sequence[Any], health: str, now: Any, daemon: Any) -> None:
    from tracker.status import ConnectorStatus

    def ago(moment: Any) -> str:
        if moment is None:
            return "never"
        seconds = int((now - moment).total_seconds())
        if seconds < 0:
            return f"in {_span(-seconds)}"
        return f"{_span(seconds)} ago"

    click.echo(f"health: {health}")
    _print_daemon(daemon, ago)
    for s in statuses:
        assert isinstance(s, ConnectorStatus)
        click.echo(f"{s.name} ({s.type}, {s.mode}): {s.health}" + (f" - {s.note}" if s.note else ""))
        if not s.enabled:
            continue
        if s.partial_coverage:
            click.echo(f"  coverage: partial - {s.partial_coverage}")
        click.echo(
            f"  last success: {ago(s.last_success_at)}; last run: {s.last_run_status or '-'} {ago(s.last_run_at)}"
        )
        if s.last_error:
            click.echo(f"  last error ({ago(s.last_error_at)}): {s.last_error}")
        if s.next_run_at is not None:
            click.echo(f"  next run: {ago(s.next_run_at)}")
        click.echo(f"  cursor saved: {ago(s.cursor_updated_at)}")
        usage = f"  this month: {s.requests_this_month} requests, {s.items_read_this_month} items read"
        if s.counters_this_month:
            usage += " (" + ", ".join(f"{k} {v}" for k, v in sorted(s.counters_this_month.items())) + ")"
        if s.budget_usd is not None or s.spend_this_month_usd:
            usage += f", spend ${s.spend_this_month_usd:.2f}"
            if s.budget_usd is not None:
                usage += f" of ${s.budget_usd:.2f} budget"
        click.echo(usage)
        click.echo(f"  mentions this week: {s.mentions_this_week}")


def _span(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@cli.command()
@click.option("--since", metavar="DATE", help="From this date (YYYY-MM-DD in tracker.timezone) or ISO time.")
@click.option("--until", metavar="DATE", help="Up to this date (inclusive) or ISO time (exclusive).")
@click.option(
    "--domain", "domains", multiple=True, metavar="DOMAIN",
    help="Only mentions linking to this domain or its subdomains (repeatable).",
)  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file instead of stdout."
)
@pass_state
def export(
    state: State, since: str | None, until: str | None, domains: Sequence[str], fmt: str, out: str | None
) -> None:
    """Export all mentions in a date range (deleted ones left out), domains removed from the config included."""
    from datetime import datetime

    from tracker.errors import ConfigError
    from tracker.export import DomainFilter, parse_range_bound, write_parquet
    from tracker.urls import normalize_domain

    if fmt == "parquet" and not out and sys.stdout.isatty():
        raise ConfigError("--format parquet: parquet is binary; use --out FILE")
    timezone = state.config.tracker.timezone
    bounds: list[datetime | None] = []
    for option, value, is_end in (("--since", since, False), ("--until", until, True)):
        try:
            bounds.append(parse_range_bound(value, timezone, end=is_end) if value else None)
        except ValueError as exc:
            raise ConfigError(
                f"{option} {value!r}: not a date; write a date like 2026-11-17 or a time like 2026-11-17T09:00:00Z"
            ) from exc
    start, end = bounds
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--since {since} is not before --until {until}; swap them")
    try:
        chosen = DomainFilter(normalize_domain(domain) for domain in domains) if domains else None
    except ValueError as exc:
        raise ConfigError(f"--domain: {exc}") from exc
    store = state.open_store()
    try:
        items = store.iter_mentions(start, end)
        if chosen is not None:
            items = chosen.select(items)
        if fmt == "parquet":
            write_parquet(out or sys.stdout.buffer, items, chosen)
        elif out:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                _write_text(stream, fmt, items, chosen)
        else:
            _write_text(sys.stdout, fmt, items, chosen)
    finally:
        store.close()


def _write_text(stream: Any, fmt: str, items: Any, domains: Any) -> None:
    from tracker.export import export_csv, jsonl_lines

    if fmt == "csv":
        export_csv(stream, items, domains)
    else:
        for line in jsonl_lines(items):
            stream.write(line)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="tracker")


if __name__ == "__main__":
    main()
