"""Charts with matplotlib's object API on the Agg canvas: no pyplot, no display ever needed.

The /stats image (PNG, sized for a phone held upright): weekly volume by status (stacked
bars) above per-agency deadline compliance (horizontal bars: first follow-up and completion,
percent on time). The monthly PDF draws the same two charts on pages of their own.

matplotlib (with numpy and Pillow, about 40 MB) is imported when the first chart is drawn, not
when the bot starts: most processes never draw one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from bot.core.i18n import Translator
from bot.core.lifecycle import Status
from bot.core.stats import Evaluation, Stage, Tally
from bot.reports.tables import plain

STATUS_ORDER = tuple(Status)  # the lifecycle's order
STATUS_COLOURS = {
    Status.SUBMITTED: "#9e9e9e",
    Status.NEEDS_INFO: "#ffb300",
    Status.ASSIGNED: "#42a5f5",
    Status.IN_PROGRESS: "#1e88e5",
    Status.RESOLVED: "#66bb6a",
    Status.CLOSED: "#2e7d32",
    Status.REJECTED: "#e53935",
}
FONT = 13


@dataclass(frozen=True)
class ChartLabels:
    """The words on the charts (from the catalog, plain text)."""

    volume_title: str
    volume_axis: str
    week_axis: str
    compliance_title: str
    compliance_axis: str
    first_response: str
    completion: str
    statuses: dict[str, str]


def chart_labels(translator: Translator, locale: str) -> ChartLabels:
    """The chart words in a locale."""
    keys = ("volume_title", "volume_axis", "week_axis", "compliance_title", "compliance_axis")
    texts = {key: plain(translator, locale, f"stats.file.{key}") for key in keys}
    return ChartLabels(
        first_response=plain(translator, locale, "stats.file.first_response"),
        completion=plain(translator, locale, "stats.file.completion"),
        statuses={s: plain(translator, locale, f"stats.status.{s}") for s in STATUS_ORDER},
        **texts,
    )


@dataclass(frozen=True)
class ComplianceBar:
    """One agency (or the city) on the compliance chart."""

    name: str
    first_response: float | None
    completion: float | None


def compliance_bars(
    evaluation: Evaluation, agencies: Sequence[tuple[int, str]], city: str
) -> list[ComplianceBar]:
    """A bar pair per agency given, then the city's."""
    bars = []
    for agency_id, name in agencies:
        tally = evaluation.agencies.get(agency_id, Tally())
        bars.append(
            ComplianceBar(
                name,
                tally.compliance_rate(Stage.FIRST_RESPONSE),
                tally.compliance_rate(Stage.COMPLETION),
            )
        )
    bars.append(
        ComplianceBar(
            city,
            evaluation.city.compliance_rate(Stage.FIRST_RESPONSE),
            evaluation.city.compliance_rate(Stage.COMPLETION),
        )
    )
    return bars


def draw_volume(
    figure: Figure,
    position: int,
    evaluation: Evaluation,
    tally: Tally,
    labels: ChartLabels,
    rows: int = 1,
) -> None:
    """Stacked weekly bars of the tally's reports by current status."""
    axes = figure.add_subplot(rows, 1, position)
    weekly = tally.weekly
    weeks = evaluation.weeks or sorted({week for week, _ in weekly})
    positions = list(range(len(weeks)))
    bottom = [0.0] * len(weeks)
    for status in STATUS_ORDER:
        heights = [float(weekly.get((week, status), 0)) for week in weeks]
        if any(heights):
            axes.bar(
                positions,
                heights,
                bottom=bottom,
                color=STATUS_COLOURS[status],
                label=labels.statuses.get(status, status),
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    step = max(1, len(weeks) // 8)
    axes.set_xticks(positions[::step], [f"{w:%d-%m}" for w in weeks[::step]], fontsize=FONT - 2)
    axes.set_title(labels.volume_title, fontsize=FONT + 2)
    axes.set_ylabel(labels.volume_axis, fontsize=FONT)
    axes.set_xlabel(labels.week_axis, fontsize=FONT)
    axes.tick_params(axis="y", labelsize=FONT - 2)
    if any(bottom):
        axes.legend(
            fontsize=FONT - 3,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncols=4,
            frameon=False,
        )
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)


def draw_compliance(
    figure: Figure, position: int, bars: Sequence[ComplianceBar], labels: ChartLabels, rows: int = 1
) -> None:
    """Horizontal bars: % on time for the first follow-up and completion, per agency."""
    axes = figure.add_subplot(rows, 1, position)
    y = list(range(len(bars)))
    first = [100 * (b.first_response or 0) for b in bars]
    done = [100 * (b.completion or 0) for b in bars]
    axes.barh([v - 0.2 for v in y], first, height=0.4, color="#1e88e5", label=labels.first_response)
    axes.barh([v + 0.2 for v in y], done, height=0.4, color="#2e7d32", label=labels.completion)
    for index, bar in enumerate(bars):
        for offset, value in ((-0.2, bar.first_response), (0.2, bar.completion)):
            text = "—" if value is None else f"{value * 100:.0f}%"
            axes.text(101, index + offset, text, va="center", fontsize=FONT - 3)
    axes.set_yticks(y, [b.name for b in bars], fontsize=FONT - 2)
    axes.invert_yaxis()
    axes.set_xlim(0, 115)
    axes.set_xlabel(labels.compliance_axis, fontsize=FONT)
    axes.set_title(labels.compliance_title, fontsize=FONT + 2)
    axes.tick_params(axis="x", labelsize=FONT - 2)
    axes.legend(
        fontsize=FONT - 3,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncols=2,
        frameon=False,
    )
    axes.grid(axis="x", alpha=0.3)


def stats_chart_png(
    evaluation: Evaluation, tally: Tally, bars: Sequence[ComplianceBar], labels: ChartLabels
) -> bytes:
    """The /stats image: volume above compliance, 1080 px wide, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 6.5 + 0.45 * max(len(bars), 2)
    figure = Figure(figsize=(9, height), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    draw_volume(figure, 1, evaluation, tally, labels, rows=2)
    draw_compliance(figure, 2, bars, labels, rows=2)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
