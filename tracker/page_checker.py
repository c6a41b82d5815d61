"""The page-check job (CONTRACT §3 ``[pages]``): the daemon runs it on its own schedule, off the polling threads,
so checks never delay polling.

Each run takes the due pages (never checked, or checked ``[pages] interval`` ago) a batch at a time, checks
each host's pages one after another (one worker per host, a few hosts at once, at most
``requests_per_second`` to a host) until its time is up, and stores each outcome as it comes
(:func:`tracker.page_checks.record_check`). Only pages of own domains are checked, never a competitor's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from tracker.outbound import Outbound
from tracker.outbox import for_rules
from tracker.page_checks import DuePage, due_pages, record_check
from tracker.page_probe import PageProber
from tracker.settings import Config
from tracker.store import Store
from tracker.urls import DomainMatcher, url_host

log = logging.getLogger("tracker.pages")

BATCH = 200  # due pages read at a time: memory stays flat however many pages are linked
HOSTS_AT_ONCE = 4


@dataclass
class CheckRun:
    """What one run did."""

    checked: int = 0
    broken: int = 0
    became_broken: int = 0
    requests: int = 0


class PageChecker:
    """Checks the due linked pages of the own domains (see the module documentation)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime],
        stop: threading.Event | None = None,
        outbound: Outbound | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.stop = stop or threading.Event()
        settings = config.pages
        self.outbound = outbound or Outbound(
            connect_to=config.tracker.connect_to,
            timeout=settings.timeout.total_seconds(),
            per_host_interval=1.0 / settings.requests_per_second,
            sleep=self._wait,
            allow_private=settings.allow_private_addresses,
        )
        self.own = tuple(config.own_domains)
        self.outbox = for_rules(
            config.own_domains, config.alerts
        )  # page_broken events, when a rule wants them
        # Every configured domain, so a competitor's host (even a subdomain of an own one) is told apart.
        self.matcher = DomainMatcher.for_domains(config.domains)
        self.prober = PageProber(self.outbound, self.allowed)
        self._lock = threading.Lock()

    def _wait(self, seconds: float) -> None:
        self.stop.wait(seconds)  # a shutdown ends the wait; the check it was for is not stored

    def allowed(self, host: str) -> bool:
        """Whether ``host`` is an own domain, one of its subdomains (when included) or an alias."""
        return self.matcher.match_host(host) in self.own

    def run(self, *, seconds: float | None = None, limit: int | None = None) -> CheckRun:
        """Check due pages until none is left, ``seconds`` have passed or ``limit`` pages were checked."""
        done = CheckRun()
        if not self.own:
            return done
        deadline = None if seconds is None else time.monotonic() + seconds
        interval = self.config.pages.interval
        previous: set[str] = set()  # the batch before: a page in it that is still due was not stored
        with ThreadPoolExecutor(max_workers=HOSTS_AT_ONCE, thread_name_prefix="page-check") as pool:
            while not self._finished(deadline, done, limit):
                wanted = BATCH if limit is None else min(BATCH, limit - done.checked)
                with self.store.read() as conn:
                    batch = due_pages(conn, self.own, self.clock(), interval, wanted)
                if not batch or previous.intersection(page.canonical_url for page in batch):
                    break  # nothing due, or the clock stands still: the rest waits for the next run
                previous = {page.canonical_url for page in batch}
                by_host: dict[str, list[DuePage]] = {}
                for page in batch:
                    by_host.setdefault(url_host(page.canonical_url) or "", []).append(page)
                for future in [
                    pool.submit(self._check_host, pages, deadline, done, limit) for pages in by_host.values()
                ]:
                    future.result()
        return done

    def _finished(self, deadline: float | None, done: CheckRun, limit: int | None) -> bool:
        if self.stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return True
        return limit is not None and done.checked >= limit

    def _check_host(
        self, pages: list[DuePage], deadline: float | None, done: CheckRun, limit: int | None
    ) -> None:
        for page in pages:
            with self._lock:
                if self._finished(deadline, done, limit):
                    return
            check = self.prober.check(page.canonical_url)
            if self.stop.is_set():
                return  # an interrupted wait may have cut the check short: it is made again next time
            became_broken = record_check(self.store.engine, check, page.domain, self.clock(), self.outbox)
            with self._lock:
                done.checked += 1
                done.requests += check.requests
                done.broken += check.broken
                done.became_broken += became_broken
            if became_broken:
                log.warning(
                    "linked page broken: %s (%s)",
                    page.canonical_url,
                    f"HTTP {check.status}" if check.status is not None else check.error,
                )
