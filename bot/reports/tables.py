"""The per-agency summary (XLSX sheet, PDF table) and how figures are written.

Columns: agency, reports, open, resolved (followed up at least once), overdue (open and past
the current deadline), median and P90 working days to the first follow-up, first follow-up
compliance, median and P90 working days to resolution, completion compliance, reopen rate,
verdicts fixed / partly / not fixed, mean rating. Every active agency has a row, also one
without reports; the last row is the whole city (reports not yet forwarded included).
"""

from __future__ import annotations

import html
import re
from typing import Any

from bot.core.i18n import Translator
from bot.core.lifecycle import Status, Verdict
from bot.core.stats import Evaluation, Stage, Tally
from storage.stats import Names

AGENCY_COLUMNS = (
    "agency",
    "reports",
    "open",
    "resolved",
    "overdue",
    "median_first_response",
    "p90_first_response",
    "first_response_compliance",
    "median_resolution",
    "p90_resolution",
    "completion_compliance",
    "reopen_rate",
    "fixed",
    "partly",
    "not_fixed",
    "mean_rating",
)
# Waiting for the city or the agency (needs_info too: the citizen was asked).
OPEN = (Status.SUBMITTED, Status.NEEDS_INFO, Status.ASSIGNED, Status.IN_PROGRESS)
_TAG = re.compile(r"<[^>]*>")


def plain(translator: Translator, locale: str, key: str, /, **values: object) -> str:
    """Catalog text for a file (PDF, XLSX, CSV, chart): no HTML tags, no HTML escaping."""
    return html.unescape(_TAG.sub("", translator(locale, key, **values)))


def days(value: float | None, none: str = "—") -> str:
    """Working days with one decimal."""
    return none if value is None else f"{value:.1f}"


def rate(value: float | None, none: str = "—") -> str:
    """A share as a whole percentage."""
    return none if value is None else f"{value * 100:.0f}%"


def rounded(value: float | None, digits: int = 2) -> float | None:
    """A figure for a spreadsheet cell."""
    return None if value is None else round(value, digits)


def tally_row(name: str, tally: Tally) -> list[Any]:
    """One row of the per-agency table (numbers, None where there is nothing to measure)."""
    statuses = tally.by_status
    return [
        name,
        tally.total,
        sum(statuses[s] for s in OPEN),
        tally.ever_resolved,
        tally.overdue,
        rounded(tally.median(Stage.FIRST_RESPONSE)),
        rounded(tally.p90(Stage.FIRST_RESPONSE)),
        rounded(tally.compliance_rate(Stage.FIRST_RESPONSE), 4),
        rounded(tally.median(Stage.COMPLETION)),
        rounded(tally.p90(Stage.COMPLETION)),
        rounded(tally.compliance_rate(Stage.COMPLETION), 4),
        rounded(tally.reopen_rate, 4),
        tally.verdicts[Verdict.FIXED],
        tally.verdicts[Verdict.PARTLY],
        tally.verdicts[Verdict.NOT_FIXED],
        rounded(tally.mean_rating),
    ]


def agency_rows(
    evaluation: Evaluation, names: Names, city_label: str, only: int | None = None
) -> list[list[Any]]:
    """A row per active agency (or just ``only``), then the city's."""
    ids = [only] if only is not None else list(names.agency_order)
    ids += [a for a in evaluation.agencies if a not in ids and only is None]
    rows = [
        tally_row(
            names.agency(agency_id, str(agency_id)), evaluation.agencies.get(agency_id, Tally())
        )
        for agency_id in ids
    ]
    rows.append(tally_row(city_label, evaluation.city))
    return rows


def shown(row: list[Any]) -> list[str]:
    """A table row as text (PDF): shares as percentages, days with one decimal."""
    out: list[str] = []
    for key, value in zip(AGENCY_COLUMNS, row, strict=True):
        if value is None:
            out.append("—")
        elif key.endswith("compliance") or key == "reopen_rate":
            out.append(rate(value))
        elif isinstance(value, float):
            out.append(f"{value:.1f}")
        else:
            out.append(str(value))
    return out
