"""Charts as small inline SVG (no scripts, no fonts, no network): they scale with the page via ``viewBox``."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

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


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(  # noqa: S704 - every text in the body went through escape()
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def daily_by_platform(
    days: Sequence[str], platforms: Sequence[str], counts: dict[tuple[str, str], int]
) -> Markup:
    """Stacked bars: mentions per day, one colour per platform, with a legend."""
    width, height, left, bottom, top = 640, 260, 40, 40, 16
    plot_height = height - bottom - top
    totals = [sum(counts.get((day, p), 0) for p in platforms) for day in days]
    peak = max(totals) or 1
    slot = (width - left - 10) / len(days)
    body = [
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - 10}" y2="{top + plot_height}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11" fill="#555">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_height}" text-anchor="end" font-size="11" fill="#555">0</text>',
    ]
    for index, day in enumerate(days):
        x = left + index * slot + slot * 0.15
        y = float(top + plot_height)
        for platform in platforms:
            value = counts.get((day, platform), 0)
            if not value:
                continue
            bar = plot_height * value / peak
            y -= bar
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" '
                f'fill="{color(platform, platforms)}"><title>{escape(day)} {escape(platform)}: {value}</title></rect>'
            )
        label = escape(day[5:])
        body.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_height + 16}" text-anchor="middle" font-size="11" '
            f'fill="#333">{label}</text>'
        )
    for index, platform in enumerate(platforms):
        x = left + index * 120
        body.append(
            f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{color(platform, platforms)}"/>'
        )
        body.append(
            f'<text x="{x + 14}" y="{height - 5}" font-size="11" fill="#333">{escape(platform)}</text>'
        )
    return _svg(width, height, "Mentions per day by platform", body)


def horizontal_bars(labels: Sequence[str], values: Sequence[int], title: str) -> Markup:
    """One bar per item (for the top pages), the count at its end."""
    row, width, label_width = 26, 640, 300
    height = row * len(labels) + 8
    peak = max(values, default=0) or 1
    body = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + index * row
        short = label if len(label) <= 40 else label[:39] + "…"
        bar = (width - label_width - 50) * value / peak
        body.append(
            f'<text x="{label_width - 8}" y="{y + 16}" text-anchor="end" font-size="12" fill="#333">'
            f"{escape(short)}<title>{escape(label)}</title></text>"
        )
        body.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{max(bar, 1):.1f}" height="18" fill="#4a7fd4"/>'
        )
        body.append(
            f'<text x="{label_width + bar + 6:.1f}" y="{y + 16}" font-size="12" fill="#333">{value}</text>'
        )
    return _svg(width, height, title, body)


def platform_split(shares: Sequence[tuple[str, int]]) -> Markup:
    """One 100% bar split by platform, with each share's count and percentage."""
    width, height = 640, 70
    total = sum(value for _, value in shares) or 1
    order = [platform for platform, _ in shares]
    body = []
    x = 0.0
    for platform, value in shares:
        part = (width - 2) * value / total
        body.append(
            f'<rect x="{x + 1:.1f}" y="4" width="{part:.1f}" height="26" fill="{color(platform, order)}">'
            f"<title>{escape(platform)}: {value}</title></rect>"
        )
        x += part
    for index, (platform, value) in enumerate(shares):
        lx = 1 + index * 150
        body.append(f'<rect x="{lx}" y="44" width="10" height="10" fill="{color(platform, order)}"/>')
        body.append(
            f'<text x="{lx + 14}" y="53" font-size="11" fill="#333">{escape(platform)} {value} '
            f"({100 * value / total:.0f}%)</text>"
        )
    return _svg(width, height, "Mentions by platform", body)
