"""The monthly evaluation report as PDF (matplotlib's PDF backend, no display needed).

Pages: 1. title and key figures (reports, median / P90 working days and compliance per stage,
reopen rate, verdicts, overdue now); 2. weekly volume by status; 3. deadline compliance per
agency; 4… the per-agency table (``TABLE_ROWS_PER_PAGE`` agencies a page, the city's row on
the last). So a city with up to 17 agencies gets 4 pages.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from bot.core.stats import Evaluation
from bot.reports.charts import ChartLabels, ComplianceBar, draw_compliance, draw_volume
from bot.reports.tables import shown

A4_LANDSCAPE = (11.69, 8.27)
TABLE_ROWS_PER_PAGE = 18
AGENCY_COLUMN_WIDTH = 0.13


@dataclass(frozen=True)
class PdfTexts:
    """The words of the report (plain text from the catalog)."""

    title: str
    subtitle: str
    lines: Sequence[str]
    table_title: str  # with {page} and {pages}
    table_header: Sequence[str]


def page_count(agency_rows: int) -> int:
    """How many pages a report with this many table rows (city row included) has."""
    return 3 + max(1, math.ceil(agency_rows / TABLE_ROWS_PER_PAGE))


def _page() -> Figure:
    # matplotlib is imported on the first report drawn, not at start (bot/reports/charts.py).
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_LANDSCAPE)
    FigureCanvasPdf(figure)
    return figure


def monthly_pdf(
    *,
    evaluation: Evaluation,
    bars: Sequence[ComplianceBar],
    table: Sequence[list[Any]],
    texts: PdfTexts,
    labels: ChartLabels,
) -> bytes:
    """The whole report as PDF bytes."""
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": texts.title, "Creator": "Aduan"}) as pdf:
        cover = _page()
        cover.text(0.06, 0.9, texts.title, fontsize=22, weight="bold")
        cover.text(0.06, 0.85, texts.subtitle, fontsize=10, wrap=True)
        for index, line in enumerate(texts.lines):
            cover.text(0.06, 0.75 - index * 0.06, line, fontsize=14)
        pdf.savefig(cover)

        volume = _page()
        draw_volume(volume, 1, evaluation, evaluation.city, labels)
        volume.tight_layout()
        pdf.savefig(volume)

        compliance = _page()
        draw_compliance(compliance, 1, bars, labels)
        compliance.tight_layout()
        pdf.savefig(compliance)

        chunks = [
            list(table[i : i + TABLE_ROWS_PER_PAGE])
            for i in range(0, len(table), TABLE_ROWS_PER_PAGE)
        ] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            page = _page()
            axes = page.add_subplot(1, 1, 1)
            axes.axis("off")
            axes.set_title(texts.table_title.format(page=number, pages=len(chunks)), fontsize=14)
            if chunk:
                header = [textwrap.fill(label, 11) for label in texts.table_header]
                rest = (1 - AGENCY_COLUMN_WIDTH) / max(1, len(header) - 1)
                cells = axes.table(
                    cellText=[shown(row) for row in chunk],
                    colLabels=header,
                    colWidths=[AGENCY_COLUMN_WIDTH] + [rest] * (len(header) - 1),
                    loc="upper center",
                    cellLoc="center",
                )
                cells.auto_set_font_size(False)
                cells.set_fontsize(7.5)
                cells.scale(1, 1.6)
                for (row, _), cell in cells.get_celld().items():
                    if row == 0:
                        cell.set_height(cell.get_height() * 2.6)
            pdf.savefig(page)
    return buffer.getvalue()
