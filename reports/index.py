"""``<output_dir>/index.html``: every written week, newest first, with its headline figures (read back from
each week's summary.csv) and the current week marked "so far"."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from reports import html


def read_week(folder: Path, so_far_marker: str) -> dict[str, Any]:
    """A week's line of the index, from its folder."""
    with (folder / "summary.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["metric"]: row for row in csv.DictReader(handle)}
    mentions = rows.get("mentions", {})
    percent = mentions.get("change_pct") or ""
    return {
        "name": folder.name,
        "mentions": mentions.get("this_week", ""),
        "change": f"{percent}%" if percent else mentions.get("change", ""),
        "pages": rows.get("pages_linked", {}).get("this_week", ""),
        "engagement": rows.get("engagement", {}).get("this_week", ""),
        "reach": rows.get("reach", {}).get("this_week", ""),
        "so_far": (folder / so_far_marker).is_file(),
    }


def render_index_page(weeks: list[dict[str, Any]], now: datetime, timezone: str = "UTC") -> str:
    return html.render_index(weeks, now, timezone)
