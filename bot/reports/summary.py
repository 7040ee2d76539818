"""The /stats answer as chat messages (catalog text, at most 4,096 characters each).

Superadmins and viewers get the city with a per-agency message; an agency admin gets their
agency, each figure beside the city's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Markup, Translator
from bot.core.stats import VERDICTS, Evaluation, Stage, Tally
from bot.reports.tables import days, rate
from storage.stats import Names, OverdueItem

TOP_ITEMS = 8
MAX_TEXT = 4000


@dataclass(frozen=True)
class Scope:
    """Whose figures: the city (agency None) or one agency beside the city."""

    agency_id: int | None
    name: str


def _items(counter: Counter[str], label: Callable[[str], str]) -> str:
    top = [f"{label(key)} {count}" for key, count in counter.most_common() if count][:TOP_ITEMS]
    rest = sum(counter.values()) - sum(count for _, count in counter.most_common(TOP_ITEMS))
    if len(counter) > TOP_ITEMS and rest:
        top.append(f"… {rest}")
    return " · ".join(top) or "—"


def summary_messages(
    *,
    evaluation: Evaluation,
    scope: Scope,
    names: Names,
    overdue: tuple[int, list[OverdueItem]],
    translator: Translator,
    locale: str,
    calendar: WorkingCalendar,
    label: str,
) -> list[str]:
    """The figures, the per-agency lines (city scope) and the overdue list."""

    def t(key: str, /, **values: object) -> Markup:
        return translator(locale, key, **values)

    none = t("stats.none")
    city = evaluation.city
    tally = city if scope.agency_id is None else evaluation.agencies.get(scope.agency_id, Tally())
    compare = scope.agency_id is not None
    lines: list[str] = [
        t("stats.header", scope=scope.name, period=label),
        t("stats.reports", total=tally.total),
    ]
    if tally.total == 0:
        lines.append(t("stats.empty"))
    else:
        lines += [
            t("stats.by_status", items=_items(tally.by_status, lambda s: t(f"stats.status.{s}"))),
            t("stats.by_kind", items=_items(tally.by_kind, lambda k: t(f"stats.kind.{k}"))),
            t("stats.by_channel", items=_items(tally.by_channel, lambda c: t(f"channel.{c}"))),
            t(
                "stats.by_category",
                items=_items(
                    Counter({names.category(k, locale): v for k, v in tally.by_category.items()}),
                    str,
                ),
            ),
        ]
        if not compare:
            agencies = Counter(
                {names.agency(k, t("stats.unassigned")): v for k, v in tally.by_agency.items()}
            )
            lines.append(t("stats.by_agency", items=_items(agencies, str)))
    lines += ["", t("stats.times_header")]
    for stage in Stage:
        values: dict[str, object] = {
            "stage": t(f"stats.stage.{stage}"),
            "median": days(tally.median(stage), none),
            "p90": days(tally.p90(stage), none),
        }
        if compare:
            lines.append(
                t(
                    "stats.time_line_compare",
                    **values,
                    city_median=days(city.median(stage), none),
                    city_p90=days(city.p90(stage), none),
                )
            )
        else:
            lines.append(t("stats.time_line", **values))
    lines += ["", t("stats.compliance_header")]
    for stage in Stage:
        values = {
            "stage": t(f"stats.stage.{stage}"),
            "rate": rate(tally.compliance_rate(stage), none),
            "met": tally.met[stage],
            "counted": tally.met[stage] + tally.missed[stage],
        }
        if compare:
            lines.append(
                t(
                    "stats.compliance_line_compare",
                    **values,
                    city_rate=rate(city.compliance_rate(stage), none),
                )
            )
        else:
            lines.append(t("stats.compliance_line", **values))
    lines.append("")
    reopen: dict[str, object] = {
        "rate": rate(tally.reopen_rate, none),
        "reopened": tally.reopened,
        "resolved": tally.ever_resolved,
    }
    verdicts = {v.value: tally.verdicts[v] for v in VERDICTS}
    rating = none if tally.mean_rating is None else f"{tally.mean_rating:.1f}"
    city_rating = none if city.mean_rating is None else f"{city.mean_rating:.1f}"
    if compare:
        lines.append(
            t("stats.reopen_line_compare", **reopen, city_rate=rate(city.reopen_rate, none))
        )
        lines.append(
            t("stats.verdict_line_compare", **verdicts, rating=rating, city_rating=city_rating)
        )
    else:
        lines.append(t("stats.reopen_line", **reopen))
        lines.append(t("stats.verdict_line", **verdicts, rating=rating))
    messages = ["\n".join(lines)]
    if not compare:
        messages.append(_agency_message(evaluation, names, t, none, label))
    messages.append(_overdue_message(overdue, names, t, calendar))
    return [m[:MAX_TEXT] for m in messages]


def _agency_message(
    evaluation: Evaluation, names: Names, t: Callable[..., Markup], none: str, label: str
) -> str:
    lines: list[str] = [t("stats.agencies_header", period=label)]
    for agency_id in names.agency_order:
        tally = evaluation.agencies.get(agency_id, Tally())
        lines.append(
            t(
                "stats.agency_line",
                agency=names.agency(agency_id, ""),
                total=tally.total,
                first_response=rate(tally.compliance_rate(Stage.FIRST_RESPONSE), none),
                completion=rate(tally.compliance_rate(Stage.COMPLETION), none),
                overdue=tally.overdue,
            )
        )
    return "\n".join(lines)


def _overdue_message(
    overdue: tuple[int, list[OverdueItem]],
    names: Names,
    t: Callable[..., Markup],
    calendar: WorkingCalendar,
) -> str:
    total, items = overdue
    if total == 0:
        return t("stats.overdue_none")
    lines: list[str] = [t("stats.overdue_header", total=total)]
    for item in items:
        lines.append(
            t(
                "stats.overdue_item",
                code=item.tracking_code,
                status=t(f"stats.status.{item.status}"),
                agency=names.agency(item.agency_id, t("stats.unassigned")),
                deadline=_when(item.deadline, calendar),
            )
        )
    if total > len(items):
        lines.append(t("stats.overdue_more", count=total - len(items)))
    return "\n".join(lines)


def _when(moment: datetime, calendar: WorkingCalendar) -> str:
    local = calendar.local(moment)
    return f"{local:%d-%m-%Y %H:%M} {local.tzname()}"
