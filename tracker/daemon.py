"""`tracker run`: the daemon.

It takes the writer lock (SQLite) or competes for leadership (PostgreSQL), then runs every enabled
connector: polling connectors as APScheduler interval jobs (jitter, coalescing, one instance at a time,
exponential backoff while failing), stream connectors as supervised worker threads, plus the engagement
refresh, the raw-payload retention, the checks of linked own pages and (when reports are installed) the weekly
report. SIGTERM/SIGINT stop
scheduling, let in-flight work finish its transaction and exit 0 within 10 s; a second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from tracker.delivery import KEEP_DELIVERED as ALERTS_KEPT
from tracker.delivery import Sender
from tracker.delivery import prune as prune_alerts
from tracker.feeds import FeedWriter
from tracker.heartbeat import Heartbeat
from tracker.locks import WriterLock
from tracker.logs import flush_repeats
from tracker.poller import Poller, one_line
from tracker.record import format_utc
from tracker.settings import Config, format_duration
from tracker.store import Store, _safe_url

log = logging.getLogger("tracker.daemon")

REFRESH_EVERY = timedelta(minutes=5)
CURRENT_REPORT_EVERY = timedelta(
    hours=24
)  # the week so far is written on start, a few minutes later, then daily
CURRENT_REPORT_FIRST = timedelta(minutes=3)  # by then the first polls have found something
RETENTION_EVERY = timedelta(hours=24)
SHORT_LINKS_EVERY = timedelta(seconds=30)
PAGE_CHECKS_EVERY = timedelta(seconds=60)  # each run checks due pages for most of this, then yields
FEEDS_EVERY = timedelta(seconds=15)  # the Atom feeds are rewritten this soon after something new was stored
STOP_GRACE = 8.0  # seconds in-flight work gets after a signal; the process is gone within 10 s
LEADER_CHECK = 2.0  # how often the leader checks that its lock session is alive
STANDBY_RETRY = 5.0  # how often a standby tries to become the leader
BACKOFF_CAP = 3600.0


def failure_backoff(interval: float, failures: int, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait before the next try after ``failures`` failed runs in a row (exponential, capped)."""
    if failures <= 0:
        return interval
    return float(min(cap, max(interval, 1.0) * 2.0**failures))


def utcnow() -> datetime:
    return datetime.now(UTC)


def report_trigger(config: Config) -> Any:
    """Weekly, at ``reports.schedule`` in ``tracker.timezone`` (an APScheduler cron trigger)."""
    from apscheduler.triggers.cron import CronTrigger

    schedule = config.reports.schedule
    return CronTrigger(
        day_of_week=schedule.weekday, hour=schedule.hour, minute=schedule.minute,
        timezone=ZoneInfo(config.tracker.timezone),
    )  # fmt: skip


class Work:
    """What the process that holds the writer lock runs, until ``stop`` is set."""

    def __init__(
        self, config: Config, store: Store, stop: threading.Event, clock: Callable[[], datetime]
    ) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.config = config
        self.store = store
        self.stop = stop
        self.clock = clock
        self.failures: dict[str, int] = {}
        self._active = 0
        self._active_lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._pollers: list[Poller] = []
        self._senders: list[Sender] = []
        # poll and refresh per connector; retention, report, catch-up, short links, the week so far, page checks,
        # feeds
        jobs = 2 * len(config.enabled_connectors) + 7
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=jobs)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=ZoneInfo(config.tracker.timezone),
        )

    def _poller(self, name: str) -> Poller:
        poller = Poller(self.config, self.store, clock=self.clock, stop=self.stop)
        self._pollers.append(poller)
        return poller

    def start(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        now = self.clock()
        for index, (name, settings) in enumerate(self.config.enabled_connectors.items()):
            poller = self._poller(name)
            connector = poller.connector(name)
            if connector.streaming:
                thread = threading.Thread(
                    target=self._stream, args=(poller, name), name=f"stream-{name}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                interval = settings.interval.total_seconds()
                self.scheduler.add_job(
                    self._tracked(self._poll_job),
                    IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 60.0)),
                    args=(poller, name),
                    id=f"poll:{name}",
                    name=f"poll {name}",
                    next_run_time=now + timedelta(seconds=index * 0.5),
                    misfire_grace_time=max(1, int(interval)),
                )
            if connector.refresh_kinds:
                self.scheduler.add_job(
                    self._tracked(self._refresh_job),
                    IntervalTrigger(seconds=REFRESH_EVERY.total_seconds()),
                    args=(self._poller(name), name),
                    id=f"refresh:{name}",
                    name=f"refresh {name}",
                    next_run_time=now + timedelta(minutes=1),
                )
        self.scheduler.add_job(
            self._tracked(self._report_job),
            report_trigger(self.config),
            id="report",
            name="weekly report",
            misfire_grace_time=6 * 3600,
        )
        self.scheduler.add_job(
            self._tracked(self._catch_up_reports),
            id="report-catch-up",
            name="missed weekly reports",
            next_run_time=now + timedelta(seconds=5),
        )
        self.scheduler.add_job(
            self._tracked(self._report_job),
            IntervalTrigger(seconds=CURRENT_REPORT_EVERY.total_seconds()),
            args=("current",),
            id="report-current",
            name="this week's report so far",
            next_run_time=now + CURRENT_REPORT_FIRST,
        )
        self.scheduler.add_job(
            self._tracked(self._retention_job),
            IntervalTrigger(seconds=RETENTION_EVERY.total_seconds()),
            id="retention",
            name="raw payload retention",
            next_run_time=now + timedelta(seconds=30),
        )
        if self.config.tracker.resolve_shorteners:  # off the polling and stream threads, one request budget
            self.scheduler.add_job(
                self._tracked(self._short_links_job),
                IntervalTrigger(seconds=SHORT_LINKS_EVERY.total_seconds()),
                args=(self._poller("short-links"),),
                id="short-links",
                name="resolve short links",
                next_run_time=now + timedelta(seconds=10),
            )
        if self.config.pages.check and self.config.own_domains:  # its own job: checks never delay polling
            from tracker.page_checker import PageChecker

            checker = PageChecker(self.config, self.store, clock=self.clock, stop=self.stop)
            self.scheduler.add_job(
                self._tracked(self._page_checks_job),
                IntervalTrigger(seconds=PAGE_CHECKS_EVERY.total_seconds()),
                args=(checker,),
                id="page-checks",
                name="check linked pages",
                next_run_time=now + timedelta(seconds=20),
            )
        feeds = FeedWriter(self.config, self.store)
        self.scheduler.add_job(
            self._tracked(self._feeds_job),
            IntervalTrigger(seconds=FEEDS_EVERY.total_seconds()),
            args=(feeds,),
            id="feeds",
            name="Atom feeds",
            next_run_time=now + timedelta(seconds=2),
        )
        if self.config.alerts:  # the sender: a thread of its own, so no channel ever holds up polling
            sender = Sender(self.config, self.store, self.clock)
            self._senders.append(sender)
            thread = threading.Thread(target=sender.run, args=(self.stop,), name="alerts", daemon=True)
            self._threads.append(thread)
            thread.start()
        self.scheduler.start()
        polls = sum(1 for job in self.scheduler.get_jobs() if job.id.startswith("poll:"))
        streams = sum(1 for thread in self._threads if thread.name != "alerts")
        log.info("running %d polling job(s) and %d stream(s)", polls, streams)

    def _tracked(self, job: Callable[..., None]) -> Callable[..., None]:
        """Counts running jobs so shutdown can wait for in-flight work."""

        def run(*args: Any) -> None:
            if self.stop.is_set():
                return
            with self._active_lock:
                self._active += 1
            try:
                job(*args)
            except Exception as exc:  # a job must never take the scheduler down
                job_name = getattr(job, "__name__", job)
                log.error(
                    "job %s failed: %s: %s (--debug shows the traceback)", job_name, type(exc).__name__, exc
                )
                log.debug("traceback of job %s", job_name, exc_info=True)
            finally:
                with self._active_lock:
                    self._active -= 1
                    self._active_lock.notify_all()

        return run

    def _poll_job(self, poller: Poller, name: str) -> None:
        result = poller.poll(name)
        if result.status == "failed":
            self.failures[name] = self.failures.get(name, 0) + 1
            interval = self.config.connectors[name].interval.total_seconds()
            delay = failure_backoff(interval, self.failures[name])
            log.warning("%s failed %d time(s) in a row; next try in %.0fs", name, self.failures[name], delay)
            job = self.scheduler.get_job(f"poll:{name}")
            if job is not None and not self.stop.is_set():
                job.modify(next_run_time=self.clock() + timedelta(seconds=delay))
        else:
            self.failures[name] = 0
        self._publish_next_run(name)

    def _publish_next_run(self, name: str) -> None:
        job = self.scheduler.get_job(f"poll:{name}")
        if job is not None and job.next_run_time is not None:
            self.store.set_state({f"next_run:{name}": format_utc(job.next_run_time)}, self.clock())

    def _feeds_job(self, feeds: FeedWriter) -> None:
        feeds.maybe_write(self.clock())

    def _short_links_job(self, poller: Poller) -> None:
        poller.settle_short_links(seconds=SHORT_LINKS_EVERY.total_seconds() * 0.9)

    def _page_checks_job(self, checker: Any) -> None:
        done = checker.run(seconds=PAGE_CHECKS_EVERY.total_seconds() * 0.9)
        if done.checked:
            log.info(
                "checked %d linked page(s): %d broken (%d newly)",
                done.checked,
                done.broken,
                done.became_broken,
            )

    def _refresh_job(self, poller: Poller, name: str) -> None:
        poller.refresh_due(name)

    def _retention_job(self) -> None:
        cutoff = self.clock() - self.config.tracker.raw_retention
        self.store.optimize()
        erased = self.store.erase_raw_before(cutoff)
        if self.config.alerts:
            prune_alerts(self.store, self.clock() - ALERTS_KEPT)
        if erased:
            log.info(
                "erased the raw payloads of %d mention(s) received before %s", erased, format_utc(cutoff)
            )

    def _report_job(self, week: str | None = None) -> None:
        """Write a weekly report in a child process, so pandas' memory goes back to the system."""
        command = [sys.executable, "-m", "tracker.cli", "--config", str(self.config.path), "report"]
        if week is not None:
            command += ["--week", week]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603 - our own CLI
        while child.poll() is None:
            if self.stop.wait(0.5):
                child.terminate()  # the report is written again at the next start (catch-up)
                child.wait(timeout=5)
                return
        out, err = child.communicate()
        if child.returncode == 0:
            log.info("weekly report written: %s", out.strip())
            self.store.set_state({"last_report": out.strip()}, self.clock())
        else:
            log.error("the weekly report failed: %s", (err.strip().splitlines() or ["no output"])[-1])

    def _catch_up_reports(self) -> None:
        from reports import missing_weeks

        for week in missing_weeks(self.config, self.clock(), since=self.store.first_run_at()):
            if self.stop.is_set():
                return
            log.info("writing the missed report for %s", week)
            self._report_job(str(week))
        if not self.stop.is_set():
            self._report_job("current")  # a page to look at from the start, marked "so far"

    def _stream(self, poller: Poller, name: str) -> None:
        """Runs a stream connector until shutdown, restarting it with backoff when it ends or fails."""
        failures = 0
        while not self.stop.is_set():
            result = poller.poll(name, kind="stream", follow=True)
            if self.stop.is_set():
                break
            failures = failures + 1 if result.status == "failed" else 0
            delay = failure_backoff(1.0, failures, cap=300.0)
            log.warning(
                "stream %s ended (%s); restarting in %.0fs", name, result.error or result.status, delay
            )
            self.stop.wait(delay)

    def shutdown(self, grace: float) -> bool:
        """Stop scheduling and wait up to ``grace`` seconds for running work; True if all of it finished."""
        self.stop.set()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # already stopped
            log.debug("scheduler was already stopped", exc_info=True)
        deadline = time.monotonic() + grace
        with self._active_lock:
            while self._active and time.monotonic() < deadline:
                self._active_lock.wait(timeout=0.1)
            jobs_done = self._active == 0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        finished = jobs_done and not any(thread.is_alive() for thread in self._threads)
        if finished:
            for poller in self._pollers:
                poller.close()
            for sender in self._senders:
                sender.close()
        return finished


def describe_start(config: Config) -> str:
    """The daemon's first log line: what it runs on (the database without its password)."""
    connectors = [
        f"{name} ({settings.type}, "
        + ("stream" if name in config.connector_info and config.connector_info[name].streaming
           else f"every {format_duration(settings.interval)}")
        + ")"
        for name, settings in config.enabled_connectors.items()
    ]  # fmt: skip
    return (
        f"starting with config {config.path}; domains: {', '.join(d.name for d in config.domains)}; "
        f"database: {_safe_url(config.database_url)}; connectors: {', '.join(connectors) or 'none enabled'}"
    )


class Daemon:
    """The `tracker run` process."""

    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.stop = threading.Event()
        self._signals = 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            sys.stderr.write("second signal: exiting at once\n")
            sys.stderr.flush()
            os._exit(1)
        log.info("%s received: stopping (send it again to exit at once)", signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> int:
        """Run until a signal; returns the exit code."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        log.info("%s", describe_start(self.config))
        store = Store.open(self.config.database_url)
        lock = WriterLock(self.config.database_url, self.config.data_dir)
        heartbeat = Heartbeat(store, self.clock)
        finished = True
        try:
            if not lock.is_postgres:
                lock.acquire("tracker run")
                heartbeat.role = "leader"
                heartbeat.start(on_beat=flush_repeats)
                finished = self._lead(store, lambda: True)
            else:
                heartbeat.role = "standby"
                heartbeat.start(on_beat=flush_repeats)
                finished = self._compete(store, lock, heartbeat)
        finally:
            if heartbeat.started:  # marked stopped, so `tracker status` says down at once
                heartbeat.stop()
            flush_repeats(everything=True)
            if finished:
                lock.release()
                store.close()
        log.info("stopped")
        if not finished:
            logging.shutdown()
            os._exit(0)  # threads stuck in a network call hold no uncommitted work worth waiting for
        return 0

    def _compete(self, store: Store, lock: WriterLock, heartbeat: Heartbeat) -> bool:
        announced = False
        while not self.stop.is_set():
            if lock.try_lead():
                log.info("leading: this daemon does the work now")
                store.set_state({"leader": f"pid {os.getpid()} on {socket.gethostname()}"}, self.clock())
                heartbeat.set_role("leader")
                finished = self._lead(store, lock.still_leading)
                if self.stop.is_set():
                    return finished
                log.error("lost the leader lock (database connection gone); standing by")
                heartbeat.set_role("standby")
                lock.release()
                announced = False
                continue
            if not announced:
                log.info("standing by: another daemon leads; checking every %.0fs", STANDBY_RETRY)
                announced = True
            self.stop.wait(STANDBY_RETRY)
        return True

    def _lead(self, store: Store, still_leading: Callable[[], bool]) -> bool:
        work_stop = threading.Event()
        work = Work(self.config, store, work_stop, self.clock)
        work.start()
        try:
            while not self.stop.wait(LEADER_CHECK):
                try:
                    leading = still_leading()
                except Exception as exc:
                    log.error("leader check failed: %s", one_line(exc))
                    leading = False
                if not leading:
                    break
        finally:
            finished = work.shutdown(STOP_GRACE)
        if not finished:
            log.warning(
                "some work was still in a network call after %.0fs; its uncommitted page is read again next time",
                STOP_GRACE,
            )
        return finished
