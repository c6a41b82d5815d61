"""`tracker backfill`: history as far as each platform allows, with a progress display.

A backfill has cursors of its own (``backfill:`` source keys), so it resumes after an interruption and never
moves the live cursors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from tracker.poller import Poller, RunResult
from tracker.settings import Config
from tracker.store import Store


def run_backfill(config: Config, store: Store, names: Sequence[str], since: datetime) -> list[RunResult]:
    """Backfill each connector back to ``since``, showing pages and mentions as they arrive."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.fields[pages]} pages, {task.fields[fetched]} read, {task.fields[new]} new"),
        TimeElapsedColumn(),
    )
    results = []
    start = since.astimezone(UTC)
    with Progress(*columns, console=console, transient=False) as progress:
        for name in names:
            task = progress.add_task(name, total=None, name=name, pages=0, fetched=0, new=0)

            def update(result: RunResult, task_id: TaskID = task) -> None:
                progress.update(task_id, pages=result.pages, fetched=result.fetched, new=result.new)

            poller = Poller(config, store, on_page=update)
            try:
                result = poller.poll(name, kind="backfill", since=start)
            finally:
                poller.close()
            progress.update(task, total=1, completed=1)
            results.append(result)
    return results
