"""The monthly evaluation report's PDF, worded from the catalogs (see bot/reports/pdf.py)."""

from __future__ import annotations

from datetime import datetime

from bot.core.i18n import Translator
from bot.core.lifecycle import Verdict
from bot.core.periods import Period
from bot.core.stats import Evaluation, Stage
from bot.reports.charts import chart_labels, compliance_bars
from bot.reports.pdf import PdfTexts, monthly_pdf
from bot.reports.tables import AGENCY_COLUMNS, agency_rows, days, plain, rate
from storage.stats import Names


def monthly_report_pdf(
    *,
    translator: Translator,
    locale: str,
    evaluation: Evaluation,
    known: Names,
    period: Period,
    overdue: int,
    made_at: datetime,
) -> bytes:
    """Key figures, the two charts and the per-agency table of the city, as PDF."""

    def text(key: str, /, **values: object) -> str:
        return plain(translator, locale, key, **values)

    city = evaluation.city
    none = text("stats.none")
    lines = [text("stats.file.pdf_reports", total=city.total)]
    for stage in Stage:
        lines.append(
            text(
                "stats.file.pdf_times",
                stage=text(f"stats.stage.{stage}"),
                median=days(city.median(stage), none),
                p90=days(city.p90(stage), none),
                rate=rate(city.compliance_rate(stage), none),
            )
        )
    lines.append(text("stats.file.pdf_reopen", rate=rate(city.reopen_rate, none)))
    lines.append(
        text(
            "stats.file.pdf_verdicts",
            fixed=city.verdicts[Verdict.FIXED],
            partly=city.verdicts[Verdict.PARTLY],
            not_fixed=city.verdicts[Verdict.NOT_FIXED],
            rating=none if city.mean_rating is None else f"{city.mean_rating:.1f}",
        )
    )
    lines.append(text("stats.file.pdf_overdue", total=overdue))
    texts = PdfTexts(
        title=text("stats.file.pdf_title", period=period.label),
        subtitle=text(
            "stats.file.pdf_subtitle", when=f"{made_at:%Y-%m-%d %H:%M} {made_at.tzname()}"
        ),
        lines=lines,
        table_title=text("stats.file.pdf_table_title", page="{page}", pages="{pages}"),
        table_header=[text(f"stats.agency_column.{c}") for c in AGENCY_COLUMNS],
    )
    city_label = text("stats.file.city")
    bars = compliance_bars(
        evaluation, [(a, known.agency(a, "")) for a in known.agency_order], city_label
    )
    table = agency_rows(evaluation, known, city_label)
    return monthly_pdf(
        evaluation=evaluation,
        bars=bars,
        table=table,
        texts=texts,
        labels=chart_labels(translator, locale),
    )
