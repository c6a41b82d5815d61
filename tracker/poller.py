"""One pass of a connector: fetch pages, keep the posts that link to us, store each page with its cursor."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tracker import outbox, registry
from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, Usage
from tracker.errors import AuthError, ConnectorError, Interrupted, StoreError
from tracker.outbound import Outbound
from tracker.periods import month_start
from tracker.record import Link, Mention
from tracker.refresh import BATCH
from tracker.settings import Config, ConnectorSettings, DomainSettings
from tracker.shortlinks import RequestBudget, ShortLinkResolver
from tracker.store import Store, StoreAuthorCache, StoreConnectorState
from tracker.urls import DomainMatcher, ShortLink

log = logging.getLogger("tracker.poller")
_NOTHING_RESOLVED: Mapping[str, str | None] = MappingProxyType({})


class MentionFilter:
    """Keeps a post's links to monitored domains and their aliases (canonicalized, redirect wrappers
    unwrapped) and drops posts with none left.

    A link is also dropped when the post's author is in that domain's ``exclude_authors``. With
    ``resolve_shorteners``, a link on a public shortener counts by its target once that is known
    (:meth:`split`).
    """

    def __init__(self, domains: Sequence[DomainSettings], *, resolve_shorteners: bool = False) -> None:
        self.matcher = DomainMatcher.for_domains(domains, resolve_shorteners=resolve_shorteners)
        self._excluded = {domain.name: frozenset(domain.exclude_authors) for domain in domains}

    def __call__(self, mention: Mention) -> Mention | None:
        """The post with only its links to us, short links aside; None when it has none."""
        return self.keep(mention, _NOTHING_RESOLVED)[0]

    def keep(self, mention: Mention, resolved: Mapping[str, str | None]) -> tuple[Mention | None, set[str]]:
        """The post with only its links to us (None when it has none), and the short links it has whose
        outcome ``resolved`` does not tell yet (their targets, or None for a failed lookup)."""
        kept = []
        seen: set[str] = set()
        unresolved: set[str] = set()
        author_refs: set[str] | None = None
        classify = self.matcher.classify
        for link in mention.links:
            found = classify(link.url)
            if isinstance(found, ShortLink):
                if found.url not in resolved:
                    unresolved.add(found.url)
                    continue
                target = resolved[found.url]
                found = self.matcher.match_url(target) if target is not None else None
            if found is None or found.canonical_url in seen:
                continue
            excluded = self._excluded.get(found.domain)
            if excluded:
                if author_refs is None:
                    author_refs = {
                        f"{mention.platform}:{value.lower().lstrip('@')}"
                        for value in (mention.author_handle, mention.author_id)
                        if value
                    }
                if author_refs & excluded:
                    continue
            seen.add(found.canonical_url)
            kept.append(Link(link.url, link.source, link.anchor_text, found.canonical_url, found.domain))
        return (mention.with_links(tuple(kept)) if kept else None), unresolved

    def apply(self, batch: Iterable[Mention]) -> list[Mention]:
        return [kept for mention in batch if (kept := self(mention)) is not None]

    def split(
        self, batch: Iterable[Mention], lookup: Callable[[set[str]], Mapping[str, str | None]]
    ) -> tuple[list[Mention], list[tuple[Mention, set[str]]]]:
        """The posts to store now, and the posts (as given) that wait for short links ``lookup`` (the known
        outcomes of a set of short links) does not know yet. A post with links to us beside such a short
        link is in both: stored now, and again with its short link's target once that is known."""
        kept: list[Mention] = []
        short: list[Mention] = []
        urls: set[str] = set()
        for mention in batch:
            found, unresolved = self.keep(mention, {})
            if unresolved:
                short.append(mention)
                urls |= unresolved
            elif found is not None:
                kept.append(found)
        waiting: list[tuple[Mention, set[str]]] = []
        if short:
            known = lookup(urls)
            for mention in short:
                found, unresolved = self.keep(mention, known)
                if found is not None:
                    kept.append(found)
                if unresolved:
                    waiting.append((mention, unresolved))
        return kept, waiting


@dataclass
class RunResult:
    """The outcome of one connector pass, as `tracker poll` prints it."""

    connector: str
    status: str = "ok"  # ok | failed | budget | interrupted
    pages: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    seconds: float = 0.0
    run_id: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


class Poller:
    """Builds connectors from the config and runs their passes against the store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime] | None = None,
        stop: threading.Event | None = None,
        sleeper: Callable[[float], None] | None = None,
        on_page: Callable[[RunResult], None] | None = None,
    ) -> None:
        self.config = config
        self.on_page = on_page
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stop = stop or threading.Event()
        self.sleeper = sleeper
        self.filter = MentionFilter(config.domains, resolve_shorteners=config.tracker.resolve_shorteners)
        self._connectors: dict[str, Connector] = {}
        self._states: dict[str, StoreConnectorState] = {}
        self._resolver: ShortLinkResolver | None = None
        self.outbox = outbox.for_rules(  # the alert events the store decides with each page (None: no rules)
            config.own_domains, config.alerts, {name: c.interval for name, c in config.connectors.items()}
        )

    def context(self, name: str, settings: ConnectorSettings) -> ConnectorContext:
        """What connector ``name`` is lent: the poller's clock, stop event and sleep, the author cache, its
        state (whose writes are stored with its pages, see _store_page), a usage meter of its own and its
        response size cap."""
        self._states[name] = StoreConnectorState(self.store, name)
        return ConnectorContext(
            data_dir=self.config.data_dir,
            clock=self.clock,
            stop=self.stop,
            authors=StoreAuthorCache(self.store, self.clock),
            state=self._states[name],
            sleeper=self.sleeper,
            max_response_size=settings.max_response_size,
            domains=self.config.domains,
        )

    def connector(self, name: str) -> Connector:
        """The connector instance configured as ``[connectors.<name>]`` (built once)."""
        if name not in self._connectors:
            settings = self.config.connectors[name]
            connector_class = registry.load(settings.type)
            self._connectors[name] = connector_class(name, settings, self.context(name, settings))
        return self._connectors[name]

    def _state_changes(self, name: str) -> dict[str, str | None]:
        state = self._states.get(name)
        return state.take_changes() if state is not None else {}

    def close(self) -> None:
        for connector in self._connectors.values():
            try:
                connector.close()
            except Exception:  # closing must never mask the run's outcome
                log.debug("closing %s failed", connector.name, exc_info=True)
        self._connectors.clear()

    def poll(
        self, name: str, *, kind: str = "poll", since: datetime | None = None, follow: bool = False
    ) -> RunResult:
        """Run one pass of connector ``name``; faults are recorded in the run, never raised.

        ``kind`` is ``poll``, ``stream`` or ``backfill``; a backfill reads back to ``since`` with cursors of
        its own (stored under ``backfill:``), so the live cursors never move.
        """
        prefix = "backfill:" if kind == "backfill" else ""

        def pages(connector: Connector, now: datetime) -> Iterator[Page]:
            stored = self.store.cursors(name)
            cursors = {key[len(prefix) :]: c for key, c in stored.items() if key.startswith(prefix)}
            if not prefix:
                cursors = {key: c for key, c in cursors.items() if not key.startswith("backfill:")}
            request = FetchRequest(
                searched_domains(self.config.domains), cursors, now, since=since, follow=follow,
                matcher=self.filter.matcher,
            )  # fmt: skip
            return connector.fetch(request)

        return self._run(name, kind, pages, prefix)

    def refresh(self, name: str, platform_ids: Sequence[str]) -> RunResult:
        """Re-read these mentions through the connector's batch lookup, as a run of kind ``refresh``."""
        return self._run(name, "refresh", lambda connector, now: connector.refresh(platform_ids), "")

    def refresh_due(self, name: str, *, limit: int = 1000) -> list[RunResult]:
        """Refresh the mentions connector ``name`` found that are due now (see :mod:`tracker.refresh`), in
        batches of :data:`~tracker.refresh.BATCH`; one run per batch, stopping at the first that fails."""
        connector = self.connector(name)
        if not connector.refresh_kinds:
            return []
        due = self.store.due_for_refresh(name, self.clock(), limit=limit)
        results = []
        for start in range(0, len(due), BATCH):
            if self.stop.is_set():
                break
            batch = due[start : start + BATCH]
            result = self.refresh(name, [platform_id for platform_id, _ in batch])
            results.append(result)
            if result.status != "ok":
                break  # due again next time; a failing platform is not hammered
            self.store.advance_refresh(connector.platform, batch, self.clock(), connector.refresh_every)
        return results

    def settle_short_links(self, *, seconds: float = 60.0, batch: int = 200) -> int:
        """Resolve the short links that posts wait for, oldest posts first, for up to ``seconds`` and within
        the request budget; store the posts that turn out to link to us (found late, with their own
        ``created_at``) and drop the others. Returns the number of new mentions; the rest waits."""
        if not self.filter.matcher.resolve_shorteners:
            return 0
        resolver = self.short_link_resolver()
        started = time.monotonic()
        stored = 0
        try:
            while not self.stop.is_set():
                items = self.store.waiting_for_links(batch)
                if not items:
                    break
                wanted = list(dict.fromkeys(url for item in items for url in sorted(item.short_urls)))
                known = self.store.known_short_links(wanted, self.clock())
                stopped = False
                for url in wanted:
                    if url in known:
                        continue
                    if self.stop.is_set() or time.monotonic() - started >= seconds:
                        stopped = True
                        break
                    resolution = resolver.resolve(url)
                    if resolution is None:  # this minute's budget is spent
                        stopped = True
                        break
                    self.store.remember_short_link(resolution)
                    known[url] = resolution.target
                    log.debug("short link %s: %s", url, resolution.target or resolution.error)
                decided = [
                    (item, self.filter.keep(item.mention, known)[0])
                    for item in items
                    if item.short_urls <= known.keys()
                ]
                if decided:
                    stored += self.store.settle_waiting(decided, self.clock(), self.outbox)
                if stopped or len(decided) < len(items):
                    break
        except Interrupted:
            pass
        finally:
            budget = resolver.budget
            self.store.set_state(
                {
                    "short_links": json.dumps(
                        {"per_minute": budget.per_minute, "used_last_minute": budget.used()}
                    )
                },
                self.clock(),
            )
        if stored:
            log.info("stored %d mention(s) found behind short links", stored)
        return stored

    def short_link_resolver(self) -> ShortLinkResolver:
        """The resolver this poller's short links go through (one request budget), built on first use."""
        if self._resolver is None:
            context = ConnectorContext(
                data_dir=self.config.data_dir, clock=self.clock, stop=self.stop, sleeper=self.sleeper
            )
            outbound = Outbound(
                connect_to=self.config.tracker.connect_to, user_agent=context.user_agent, sleep=context.sleep
            )
            self._resolver = ShortLinkResolver(outbound, RequestBudget(), self.clock)
        return self._resolver

    def _run(
        self, name: str, kind: str, pages: Callable[[Connector, datetime], Iterator[Page]], prefix: str
    ) -> RunResult:
        result = RunResult(name)
        started = time.monotonic()
        now = self.clock()
        try:
            connector = self.connector(name)
            result.run_id = self.store.start_run(name, kind, now)
        except (SQLAlchemyError, StoreError) as exc:
            result.status, result.error = "failed", f"database error: {one_line(exc)}"
            return result
        keyboard: KeyboardInterrupt | None = None
        try:
            self._consume(connector, now, pages, result, prefix)
        except Interrupted:
            result.status = "interrupted"
        except KeyboardInterrupt as exc:  # Ctrl-C in `tracker poll` or `backfill`: close the run, then stop
            result.status, keyboard = "interrupted", exc
        except AuthError as exc:
            result.status, result.error = "failed", f"credentials rejected: {one_line(exc)}"
        except ConnectorError as exc:
            result.status, result.error = "failed", one_line(exc)
        except SQLAlchemyError as exc:
            result.status, result.error = "failed", f"database error: {one_line(exc)}"
        except Exception as exc:  # a bug in a connector must not stop the others
            result.status, result.error = "failed", f"internal error: {type(exc).__name__}: {one_line(exc)}"
            log.error("connector %s crashed: %s (--debug shows the traceback)", name, result.error)
            log.debug("traceback of %s's crash", name, exc_info=True)
        result.seconds = time.monotonic() - started
        try:
            leftover = connector.context.usage.take()  # e.g. the requests of a pass that failed
            changes = self._state_changes(name)  # with the usage it may account for, e.g. X's paid reads
            if leftover != Usage() or changes:
                self.store.record_usage(
                    result.run_id, leftover, connector=name, state=changes, now=self.clock()
                )
                result.cost_usd += leftover.cost_usd
            self.store.finish_run(
                result.run_id, result.status, self.clock(), result.error, outbox=self.outbox
            )
        except SQLAlchemyError as exc:
            log.error("could not record the end of %s's run: %s", name, one_line(exc))
        if keyboard is not None:
            raise keyboard
        log.info(
            "%s %s: %s, fetched %d, new %d, updated %d, %.1fs, cost $%.4f%s",
            kind, name, result.status, result.fetched, result.new, result.updated, result.seconds,
            result.cost_usd, f" ({result.error})" if result.error else "",
            extra={"connector": name, "kind": kind, "status": result.status, "fetched": result.fetched,
                   "new": result.new, "updated": result.updated, "duration_s": round(result.seconds, 3),
                   "cost_usd": round(result.cost_usd, 6)},
        )  # fmt: skip
        return result

    def _consume(
        self,
        connector: Connector,
        now: datetime,
        make_pages: Callable[[Connector, datetime], Iterator[Page]],
        result: RunResult,
        prefix: str,
    ) -> None:
        assert result.run_id is not None
        budget = connector.monthly_budget_usd()
        spent = self.store.spend_since(result.connector, month_start(now)) if budget is not None else 0.0
        pages: Iterator[Page] | None = None
        with self.store.holding_connection():
            try:
                while True:
                    if budget is not None and spent + connector.max_page_cost_usd > budget:
                        result.status = "budget"
                        result.error = (
                            f"monthly budget reached: ${spent:.2f} of ${budget:.2f} spent, the next page could cost "
                            f"${connector.max_page_cost_usd:.2f}; raise monthly_budget_usd or wait for next month"
                        )
                        return
                    if self.stop.is_set():
                        raise Interrupted("shutdown requested")
                    if pages is None:
                        pages = make_pages(connector, now)
                    try:
                        page = next(pages)
                    except StopIteration:
                        return
                    spent += page.usage.cost_usd
                    self._store_page(connector, page, result, prefix)
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()  # lets the connector's generator run its cleanup now

    def _store_page(self, connector: Connector, page: Page, result: RunResult, prefix: str) -> None:
        waiting: list[tuple[Mention, set[str]]] | None = None
        if self.filter.matcher.resolve_shorteners:
            kept, waiting = self.filter.split(
                page.mentions, lambda urls: self.store.known_short_links(urls, self.clock())
            )
        else:
            kept = self.filter.apply(page.mentions)
        if prefix:  # a backfill's progress and gaps are kept apart from the live ones
            gaps = [replace(gap, source_key=prefix + gap.source_key) for gap in page.gaps]
            page = replace(page, source_key=prefix + page.source_key, gaps=gaps)
        written = self.store.write_page(
            connector=result.connector,
            platform=connector.platform,
            run_id=result.run_id,
            page=page,
            mentions_to_store=kept,
            now=self.clock(),
            refresh_kinds=connector.refresh_kinds,
            state=self._state_changes(result.connector),
            waiting_for_links=waiting,
            refresh_every=connector.refresh_every,
            outbox=self.outbox,
        )
        result.pages += 1
        result.fetched += len(page.mentions)
        result.new += written.new
        result.updated += written.updated
        result.deleted += written.deleted
        result.skipped += page.skipped
        result.cost_usd += page.usage.cost_usd
        result.problems.extend(page.problems)
        if self.on_page is not None:
            self.on_page(result)
        for problem in page.problems:
            log.warning("%s: skipped an item: %s", result.connector, problem)


def searched_domains(domains: Sequence[DomainSettings]) -> tuple[DomainSettings, ...]:
    """The domains a connector searches for: each monitored domain, then each alias as a domain of its own
    (same subdomain rule, excluded authors and role), so posts linking only to an alias are found too."""
    aliases = [
        DomainSettings(
            name=alias,
            include_subdomains=domain.include_subdomains,
            exclude_authors=domain.exclude_authors,
            role=domain.role,
        )
        for domain in domains
        for alias in domain.aliases
    ]
    return (*domains, *aliases)


POLL_CONCURRENCY = 4
"""How many connectors `tracker poll` runs at once: each mostly waits on its platform."""


def run_all(
    poller: Poller, names: Sequence[str], *, workers: int = POLL_CONCURRENCY, **options: Any
) -> list[RunResult]:
    """Poll the named connectors at the same time, at most ``workers`` at once, so a pass takes about as long
    as the slowest; one failing never stops the others. Results come in the order of ``names``.

    Ctrl-C stops every pass at its next page or wait (each is recorded as interrupted), then is raised.
    """
    if workers <= 1 or len(names) <= 1:
        return [poller.poll(name, **options) for name in names if not poller.stop.is_set()]
    with ThreadPoolExecutor(max_workers=min(workers, len(names)), thread_name_prefix="poll") as pool:
        futures = [pool.submit(poller.poll, name, **options) for name in names]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            poller.stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
            raise
