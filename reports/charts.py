"""Charts as plain HTML and CSS (no scripts, no SVG text that shrinks with the page): bars are boxes sized in
percent, labels are page text, so they stay readable at any width (at least 12 px on a phone)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from reports.labels import platform_name

PLATFORM_COLORS = {
    "hackernews": "#ff6600",
    "x": "#14171a",
    "reddit": "#c62d42",
    "bluesky": "#1185fe",
    "mastodon": "#6364ff",
    "lemmy": "#00a878",
}
_FALLBACK = ("#7c8aa5", "#b5651d", "#8e44ad", "#2e8b57", "#c0392b", "#16a085")


def color(platform: str, order: Sequence[str]) -> str:
    if platform in PLATFORM_COLORS:
        return PLATFORM_COLORS[platform]
    others = [p for p in order if p not in PLATFORM_COLORS]
    return _FALLBACK[others.index(platform) % len(_FALLBACK)] if platform in others else _FALLBACK[0]


def _legend(platforms: Sequence[str], counts: dict[str, int] | None = None, total: int = 0) -> str:
    items = []
    for platform in platforms:
        label = escape(platform_name(platform))
        if counts is not None:
            share = f" {counts[platform]:,} ({100 * counts[platform] / (total or 1):.0f}%)"
            label = Markup(f"{label}{escape(share)}")  # noqa: S704 - both parts escaped
        items.append(
            f'<li><span class="swatch" style="background:{color(platform, platforms)}"></span>{label}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def daily_by_platform(
    days: Sequence[str], labels: Sequence[str], platforms: Sequence[str], counts: dict[tuple[str, str], int]
) -> Markup:
    """Stacked columns: mentions per day, one colour per platform, the day's total above, with a legend."""
    totals = [sum(counts.get((day, p), 0) for p in platforms) for day in days]
    peak = max(totals) or 1
    described = ", ".join(f"{label}: {total}" for label, total in zip(labels, totals, strict=True))
    columns = []
    for day, label, total in zip(days, labels, totals, strict=True):
        segments = "".join(
            f'<i style="flex-grow:{counts[(day, p)]};background:{color(p, platforms)}" '
            f'title="{escape(platform_name(p))}: {counts[(day, p)]:,}"></i>'
            for p in platforms
            if counts.get((day, p))
        )
        height = 100 * total / peak
        columns.append(
            f'<div class="day"><span class="count">{total:,}</span><div class="plot">'
            f'<div class="stack" style="height:{height:.1f}%">{segments}</div></div>'
            f'<span class="label">{escape(label).replace(" ", Markup("<br>"), 1)}</span></div>'
        )
    return Markup(  # noqa: S704 - every text went through escape()
        f'<div class="chart daily" role="img" aria-label="Mentions per day: {escape(described)}">'
        f"{''.join(columns)}</div>{_legend(platforms)}"
    )


def platform_split(shares: Sequence[tuple[str, int]]) -> Markup:
    """One bar split by platform, with each share's count and percentage in the legend."""
    total = sum(value for _, value in shares)
    order = [platform for platform, _ in shares]
    segments = "".join(
        f'<i style="flex-grow:{value};background:{color(platform, order)}" '
        f'title="{escape(platform_name(platform))}: {value:,}"></i>'
        for platform, value in shares
        if value
    )
    described = ", ".join(f"{platform_name(p)} {v}" for p, v in shares)
    return Markup(  # noqa: S704 - every text went through escape()
        f'<div class="chart split" role="img" aria-label="Mentions by platform: {escape(described)}">{segments}</div>'
        f"{_legend(order, dict(shares), total)}"
    )


def horizontal_bars(labels: Sequence[Markup | str], values: Sequence[int], title: str) -> Markup:
    """One bar per item, its label above it (a page's URL, wrapping at its slashes), the count at its end."""
    peak = max(values, default=0) or 1
    rows = "".join(
        f'<li><span class="label">{escape(label)}</span><span class="track">'
        f'<span class="fill" style="width:{max(100 * value / peak, 0.5):.1f}%"></span></span>'
        f'<span class="count">{value:,}</span></li>'
        for label, value in zip(labels, values, strict=True)
    )
    return Markup(f'<ol class="chart bars" aria-label="{escape(title)}">{rows}</ol>')  # noqa: S704 - escaped
