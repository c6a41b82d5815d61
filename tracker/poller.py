"""One pass of a connector: fetch pages, keep the posts that link to us, store each page with its cursor."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tracker import registry
from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, Usage
from tracker.errors import AuthError, ConnectorError, Interrupted, StoreError
from tracker.periods import month_start
from tracker.record import Link, Mention
from tracker.refresh import BATCH
from tracker.settings import Config, DomainSettings
from tracker.store import Store, StoreAuthorCache
from tracker.urls import DomainMatcher

log = logging.getLogger("tracker.poller")


class MentionFilter:
    """Keeps a post's links to monitored domains (canonicalized) and drops posts with none left.

    A link is also dropped when the post's author is in that domain's ``exclude_authors``.
    """

    def __init__(self, domains: Sequence[DomainSettings]) -> None:
        self.matcher = DomainMatcher((domain.name, domain.include_subdomains) for domain in domains)
        self._excluded = {domain.name: frozenset(domain.exclude_authors) for domain in domains}

    def __call__(self, mention: Mention) -> Mention | None:
        kept = []
        seen: set[str] = set()
        author_refs: set[str] | None = None
        for link in mention.links:
            match = self.matcher.match_url(link.url)
            if match is None or match.canonical_url in seen:
                continue
            excluded = self._excluded.get(match.domain)
            if excluded:
                if author_refs is None:
                    author_refs = {
                        f"{mention.platform}:{value.lower().lstrip('@')}"
                        for value in (mention.author_handle, mention.author_id)
                        if value
                    }
                if author_refs & excluded:
                    continue
            seen.add(match.canonical_url)
            kept.append(Link(link.url, link.source, link.anchor_text, match.canonical_url, match.domain))
        if not kept:
            return None
        return mention.with_links(tuple(kept))

    def apply(self, batch: Iterable[Mention]) -> list[Mention]:
        return [kept for mention in batch if (kept := self(mention)) is not None]


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
        self.filter = MentionFilter(config.domains)
        self._connectors: dict[str, Connector] = {}

    def context(self) -> ConnectorContext:
        return ConnectorContext(
            data_dir=self.config.data_dir,
            clock=self.clock,
            stop=self.stop,
            authors=StoreAuthorCache(self.store, self.clock),
            sleeper=self.sleeper,
            domains=self.config.domains,
        )

    def connector(self, name: str) -> Connector:
        """The connector instance configured as ``[connectors.<name>]`` (built once)."""
        if name not in self._connectors:
            settings = self.config.connectors[name]
            connector_class = registry.load(settings.type)
            self._connectors[name] = connector_class(name, settings, self.context())
        return self._connectors[name]

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
            return connector.fetch(
                FetchRequest(self.config.domains, cursors, now, since=since, follow=follow)
            )

        return self._run(name, kind, pages, prefix)

    def refresh(self, name: str, platform_ids: Sequence[str]) -> RunResult:
        """Re-read these mentions through the connector's batch lookup, as a run of kind ``refresh``."""
        return self._run(name, "refresh", lambda connector, now: connector.refresh(platform_ids), "")

    def refresh_due(self, name: str, *, limit: int = 1000) -> list[RunResult]:
        """Refresh the mentions connector ``name`` found that are due now (see :mod:`tracker.refresh`), in
        batches of :data:`~tracker.refresh.BATCH`; one run per batch, stopping at the first that fails."""
        connector = self.connector(name)
        if not connector.can_refresh():
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
            leftover = connector.pending_usage()
            if leftover != Usage():
                self.store.record_usage(result.run_id, leftover)
                result.cost_usd += leftover.cost_usd
            self.store.finish_run(result.run_id, result.status, self.clock(), result.error)
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
            refresh_every=connector.refresh_every,
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


def run_all(poller: Poller, names: Sequence[str], **options: Any) -> list[RunResult]:
    """Poll each named connector in turn; one failing never stops the next."""
    results = []
    for name in names:
        if poller.stop.is_set():
            break
        results.append(poller.poll(name, **options))
    return results
