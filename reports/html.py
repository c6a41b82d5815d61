"""The report page: Jinja2 with autoescape, inline CSS, HTML charts, no scripts and no network. Times are shown
in the report's time zone, for people ("Thu 3 Dec, 14:05"); the CSV files keep ISO 8601 UTC."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from reports import charts, labels, link_value, share
from reports.rollups import WeekReport, as_records
from reports.text import readable, shorten
from tracker.record import format_utc

TEMPLATES = Path(__file__).parent / "templates"
GENERATOR = "mention-tracker"  # the generator meta tag: how the writer knows a page is the tracker's
_BREAK_AFTER = re.compile(r"([/?&=#])")


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


def breakable(url: object) -> Markup:
    """A URL shown without its scheme, allowed to wrap after each ``/``, ``?``, ``&``, ``=`` and ``#``."""
    if not isinstance(url, str) or not url:
        return Markup("")
    shown = re.sub(r"^https?://", "", url.strip(), flags=re.IGNORECASE)
    out = []
    for index, piece in enumerate(_BREAK_AFTER.split(shown)):  # text, separator, text, ...
        out.append(escape(piece))
        if index % 2:
            out.append(Markup("<wbr>"))
    return Markup("").join(out)


def _signed(value: int | float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "±0"
    return f"+{value:,}" if value > 0 else f"{value:,}"


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{int(value):,}"


def human_time(value: Any, timezone: str, *, year: int | None = None) -> str:
    """``Thu 3 Dec, 14:05`` in ``timezone`` (with the year when it is not ``year``)."""
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return ""
    local = pd.Timestamp(value).to_pydatetime().astimezone(ZoneInfo(timezone))
    text = f"{local:%a} {local.day} {local:%b}"
    if year is not None and local.year != year:
        text += f" {local.year}"
    return f"{text}, {local:%H:%M}"


def human_day(value: Any, timezone: str) -> str:
    local = pd.Timestamp(value).to_pydatetime().astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b}"


def environment(timezone: str = "UTC", year: int | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["href"] = safe_href
    env.filters["signed"] = _signed
    env.filters["number"] = _number
    env.filters["breakable"] = breakable
    env.filters["utc"] = lambda value: format_utc(value) if value is not None else ""
    env.filters["when"] = lambda value: human_time(value, timezone, year=year)
    env.filters["platform"] = labels.platform_name
    env.filters["shorten"] = shorten
    env.globals["generator"] = GENERATOR
    return env


def _post(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a top post: readable title and snippet, the URL as posted and the page it is."""
    platform = record["platform"]
    title = readable(record.get("title"), platform)
    text = readable(record.get("text"), platform)
    comment = record.get("kind") in ("comment", "reply", "answer")
    headline = text if comment and text else title or text or record.get("permalink") or ""
    return {
        **record,
        "headline": shorten(headline, 180),
        "snippet": shorten(text, 240) if (text and not comment and title) else "",
        "thread_title": shorten(title, 120) if comment and title else "",
        "thread_url": labels.thread_url(platform, record.get("thread_id"), record.get("permalink"))
        if comment
        else None,
        "posted_url": record.get("url") or record.get("canonical_url"),
        "anchor": shorten(readable(record.get("anchor_text"), platform), 120),
        "same_page": (record.get("url") or "").rstrip("/") == (record.get("canonical_url") or "").rstrip("/"),
    }


def render_report(report: WeekReport) -> str:
    timezone = report.timezone
    days = [day.isoformat() for day in report.week.days()]
    day_labels = [f"{day:%a} {day.day}" for day in report.week.days()]
    platforms = sorted(set(report.daily["platform"].astype(str))) if len(report.daily) else []
    counts = {(row["date"], str(row["platform"])): int(row["mentions"]) for row in as_records(report.daily)}
    pages = as_records(report.top_pages.head(10))
    shares = sorted(
        ((p, sum(counts.get((d, p), 0) for d in days)) for p in platforms), key=lambda item: -item[1]
    )
    present = [p for p, n in shares if n]
    summary = {row.metric: row for row in report.summary}
    context: dict[str, Any] = {
        "report": report,
        "headline": [summary[name] for name in ("mentions", "pages_linked", "authors", "communities", "engagement", "reach")],
        "breakdown": report.summary[6:],
        "metric_label": lambda metric: labels.metric_label(metric, report.domains),
        "metric_note": labels.METRIC_NOTES,
        "new_counts": {"pages_linked": report.new_pages, "authors": report.new_authors,
                       "communities": report.new_communities},
        "daily_chart": charts.daily_by_platform(days, day_labels, platforms, counts) if report.total else None,
        "pages_chart": charts.horizontal_bars([breakable(p["canonical_url"]) for p in pages],
                                              [int(p["value"]) for p in pages], "Top pages by summed link value")
        if pages else None,
        "platform_chart": charts.platform_split(shares) if report.total else None,
        "top_pages": as_records(report.top_pages.head(25)),
        "new_pages": as_records(report.top_pages[report.top_pages["new"]].head(10)) if len(report.top_pages) else [],
        "top_posts": [_post(record) for record in as_records(report.top_posts.head(25))],
        "top_authors": as_records(report.top_authors.head(25)),
        "new_authors": as_records(report.top_authors[report.top_authors["new"]].head(10)) if len(report.top_authors) else [],
        "communities": as_records(report.communities.head(25)),
        "new_communities": as_records(report.communities[report.communities["new"]].head(10)) if len(report.communities) else [],
        "anchors": as_records(report.anchors),
        "sections": [(section, as_records(section.top_pages)) for section in report.sections],
        "engagement_rules": [(labels.platform_name(p), labels.engagement_rule(p)) for p in present],
        "coverage": [_coverage(item, report) for item in report.coverage],
        "first_day": human_day(report.start, timezone),
        "last_day": human_day(report.end - pd.Timedelta(seconds=1), timezone),
        **link_value.page_context(report.valuable, report.attention),
        "share": share.page(report.share_of_voice),
    }  # fmt: skip
    year = report.week.monday.year
    return environment(timezone, year).get_template("report.html.j2").render(**context)


def _coverage(item: Any, report: WeekReport) -> dict[str, Any]:
    return {
        "source": labels.connector_label(item.connector, report.platforms),
        "what": labels.COVERAGE_KINDS.get(item.kind, item.kind),
        "start": item.start,
        "end": item.end,
        "hours": item.hours,
        "detail": item.detail,
    }


def render_index(weeks: list[dict[str, Any]], generated: datetime, timezone: str = "UTC") -> str:
    return environment(timezone).get_template("index.html.j2").render(weeks=weeks, generated=generated)
