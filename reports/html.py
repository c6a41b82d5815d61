"""The report page: Jinja2 with autoescape, inline CSS and SVG, no scripts and no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from reports import charts
from reports.rollups import WeekReport, as_records
from tracker.record import format_utc

TEMPLATES = Path(__file__).parent / "templates"


def safe_href(url: object) -> str | None:
    """``url`` when it is an http(s) link, else None (javascript:, data: and the like never become links)."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return None
    return text if scheme in ("http", "https") and "//" in text[:10] else None


def _signed(value: int | float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "±0"
    return f"+{value:,}" if value > 0 else f"{value:,}"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["href"] = safe_href
    env.filters["signed"] = _signed
    env.filters["utc"] = lambda value: format_utc(value) if value is not None else ""
    return env


def render_report(report: WeekReport) -> str:
    days = [day.isoformat() for day in report.week.days()]
    platforms = sorted(set(report.daily["platform"])) if len(report.daily) else []
    counts = {(row["date"], row["platform"]): int(row["mentions"]) for row in as_records(report.daily)}
    pages = as_records(report.top_pages.head(10))
    shares = sorted(
        ((p, sum(counts.get((d, p), 0) for d in days)) for p in platforms), key=lambda item: -item[1]
    )
    context: dict[str, Any] = {
        "report": report,
        "headline": report.summary[:5],
        "breakdown": report.summary[5:],
        "daily_chart": charts.daily_by_platform(days, platforms, counts) if report.total else None,
        "pages_chart": charts.horizontal_bars(
            [p["canonical_url"].split("://", 1)[-1] for p in pages],
            [int(p["mentions"]) for p in pages],
            "Top pages",
        )
        if pages
        else None,
        "platform_chart": charts.platform_split(shares) if report.total else None,
        "top_pages": as_records(report.top_pages.head(25)),
        "top_posts": as_records(report.top_posts.head(25)),
        "top_authors": as_records(report.top_authors.head(25)),
        "communities": as_records(report.communities.head(25)),
        "anchors": as_records(report.anchors),
        "first_day": days[0],
        "last_day": days[-1],
    }
    return environment().get_template("report.html.j2").render(**context)


def render_index(weeks: list[dict[str, Any]], generated: str) -> str:
    return environment().get_template("index.html.j2").render(weeks=weeks, generated=generated)
