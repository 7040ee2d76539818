"""The city's monthly trend as inline SVG, drawn on the server: no chart library in the page.

Stacked bars of the reports received each month by their current status, in the colours and
order of the /stats chart (bot/reports/charts.py). Only presentation attributes are used (no
``style``), so the page's Content-Security-Policy needs no 'unsafe-inline'; every text is
escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.reports.charts import STATUS_COLOURS, STATUS_ORDER

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 92  # room for the axis labels and the legend


@dataclass(frozen=True)
class TrendBar:
    """One month: its label and its reports per status."""

    label: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        """Reports received that month."""
        return sum(self.counts.values())


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _ticks(top: int) -> list[int]:
    """Round gridline values from 0 to at least ``top`` (about five of them)."""
    if top <= 0:
        return [0, 1]
    raw = top / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, int(step))
    return [step * i for i in range(math.ceil(top / step) + 1)]


def trend_svg(bars: Sequence[TrendBar], *, title: str, statuses: Mapping[str, str]) -> str:
    """The chart as an ``<svg>`` element (``statuses``: status labels in the page's language)."""
    ticks = _ticks(max((bar.total for bar in bars), default=0))
    scale_top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="trend-title" class="trend">',
        f'<title id="trend-title">{_escape(title)}</title>',
    ]
    for value in ticks:
        y = TOP + plot_h - plot_h * value / scale_top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d0d0" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#444">{value}</text>'
        )
    for index, bar in enumerate(bars):
        x = LEFT + slot * index + slot * 0.15
        width = slot * 0.7
        bottom = float(TOP + plot_h)
        for status in STATUS_ORDER:
            count = bar.counts.get(status, 0)
            if not count:
                continue
            height = plot_h * count / scale_top
            bottom -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'fill="{STATUS_COLOURS[status]}" data-status="{status}">'
                f"<title>{_escape(bar.label)}: {_escape(statuses.get(status, status))} "
                f"{count}</title></rect>"
            )
        centre = LEFT + slot * index + slot / 2
        parts.append(
            f'<text x="{centre:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
            f'font-size="11" fill="#444">{_escape(bar.label)}</text>'
        )
        if bar.total:
            parts.append(
                f'<text x="{centre:.1f}" y="{bottom - 4:.1f}" text-anchor="middle" '
                f'font-size="11" fill="#222" class="bar-total">{bar.total}</text>'
            )
    shown = [s for s in STATUS_ORDER if any(bar.counts.get(s) for bar in bars)]
    for index, status in enumerate(shown):
        x = LEFT + (index % 4) * (plot_w / 4)
        y = HEIGHT - BOTTOM + 42 + (index // 4) * 20
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 10}" width="12" height="12" '
            f'fill="{STATUS_COLOURS[status]}"/>'
            f'<text x="{x + 18:.1f}" y="{y}" font-size="12" fill="#222">'
            f"{_escape(statuses.get(status, status))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
