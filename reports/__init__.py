"""Weekly reports: pandas roll-ups of the store, rendered to CSV files and a self-contained HTML page.

``write_report`` (which imports pandas) is loaded on first use, so the daemon can plan reports without
carrying pandas' memory; it runs the writing in a child process.
"""

from __future__ import annotations

from typing import Any

from reports.weeks import missing_weeks

__all__ = ["Written", "latest_week_with_mentions", "missing_weeks", "write_index", "write_report"]


def __getattr__(name: str) -> Any:
    if name in ("Written", "latest_week_with_mentions", "write_index", "write_report"):
        from reports import writer

        return getattr(writer, name)
    raise AttributeError(name)
