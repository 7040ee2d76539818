"""The public page's figures: /stats's own code (bot/core/stats.py, storage/stats.py) over a window.

Window: the last ``months`` local months, the current one included (from the first day of the
oldest month to today, in the configured timezone). Every report *submitted* in the window is
read once with ``storage.stats.report_rows`` and counted with ``bot.core.stats.count_rows``,
exactly as ``ReportRunner.evaluate_period`` does for /stats: once into the window's evaluation
(per agency and for the city) and once into its month's (the trend).

Published-data rule (decided here, written in README): these figures are aggregates over
**all** reports, confidential ones included, so that they are the same figures as /stats for
the whole city. Leaving confidential reports out would let a hidden report disappear from an
agency's compliance. Aggregates never identify a report: the page shows counts, shares, medians
and ratings per agency and per month, never a code, category, place or text of a report it
counts; per-report detail (the map, the list, the search) comes only from
``storage.publication`` (public and anonymous reports).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.core.calendar import WorkingCalendar
from bot.core.periods import Period
from bot.core.stats import Evaluation, Tally, WorkingClock, count_rows, weeks_between
from storage.database import SessionFactory
from storage.stats import Names, names, report_rows

# As the /stats runner: the clock's table also covers the deadlines after the period.
COVER_AFTER = timedelta(days=120)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def public_window(now: datetime, calendar: WorkingCalendar, months: int) -> Period:
    """The last ``months`` local months up to today, as a /stats period."""
    today = calendar.local(now).date()
    first = add_months(today, -(months - 1))
    return Period(first, today, calendar.timezone, f"{first:%Y-%m}..{today:%Y-%m-%d}")


@dataclass(frozen=True)
class MonthTally:
    """One month of the trend (``first_day``: its first local day)."""

    first_day: date
    tally: Tally


@dataclass(frozen=True)
class PublicFigures:
    """What the page shows from the statistics, and when it was computed."""

    period: Period
    evaluation: Evaluation
    months: list[MonthTally]
    names: Names
    computed_at: datetime

    def agency_ids(self) -> list[int]:
        """Active agencies in their order, then any other agency with reports in the window."""
        ids = list(self.names.agency_order)
        return ids + [a for a in self.evaluation.agencies if a not in ids]

    def agency(self, agency_id: int) -> Tally:
        """An agency's tally (empty when it has no reports in the window)."""
        return self.evaluation.agencies.get(agency_id, Tally())


class _Counter:
    """Counts batches into the window's evaluation and each month's (run in a worker thread)."""

    def __init__(self, period: Period, calendar: WorkingCalendar, now: datetime) -> None:
        self.clock = WorkingClock(calendar)
        self.clock.cover(period.first_day, period.last_day + COVER_AFTER)
        self.now = now.timestamp()
        self.window = Evaluation(Tally(), {}, [])
        self.first_days: list[date] = []
        day = period.first_day
        while day <= period.last_day:
            self.first_days.append(day)
            day = add_months(day, 1)
        zone = calendar.timezone
        self.starts = [
            datetime.combine(d, datetime.min.time(), zone).timestamp() for d in self.first_days
        ]
        self.months = [Evaluation(Tally(), {}, []) for _ in self.first_days]

    def count(self, batch: list[Any]) -> None:
        count_rows(self.window, batch, clock=self.clock, now=self.now)
        split: list[list[Any]] = [[] for _ in self.first_days]
        for row in batch:
            # The row's submission moment (``ReportRow.submitted_at``) picks its month.
            split[max(0, bisect_right(self.starts, row.submitted_at) - 1)].append(row)
        for evaluation, rows in zip(self.months, split, strict=True):
            if rows:
                count_rows(evaluation, rows, clock=self.clock, now=self.now)


async def public_figures(
    *,
    sessions: SessionFactory,
    calendar: WorkingCalendar,
    clock: Callable[[], datetime],
    months: int,
) -> PublicFigures:
    """The window's figures, computed with /stats's code (one streamed query, one pass)."""
    now = clock()
    period = public_window(now, calendar, months)
    counter = _Counter(period, calendar, now)
    async with sessions() as session:
        known = await names(session=session)
        counting: asyncio.Future[None] | None = None
        # The next batch is read while a worker thread counts this one (as the /stats runner).
        async for batch in report_rows(session=session, start=period.start, end=period.end):
            if counting is not None:
                await counting
            counting = asyncio.ensure_future(asyncio.to_thread(counter.count, batch))
        if counting is not None:
            await counting
    counter.window.weeks = weeks_between(period.first_day, period.last_day, counter.window.city)
    trend = [
        MonthTally(first_day, evaluation.city)
        for first_day, evaluation in zip(counter.first_days, counter.months, strict=True)
    ]
    return PublicFigures(period, counter.window, trend, known, now)
