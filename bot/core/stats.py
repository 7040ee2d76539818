"""Evaluation figures from report rows: pure, ORM-free, one pass over the rows.

Definitions (times in working days of the configured calendar, fractional 24-hour days as in
``WorkingCalendar.working_days_between``; the report set is every report *submitted* in the
period, in the viewer's scope):

- **Time to verification**: ``submitted_at`` → the city's decision: ``assigned_at`` (forwarded)
  or ``closed_at`` of a rejected report. A report that was handed back and forwarded again
  counts up to the last forwarding (re-routing is part of verification). A reopened report
  (``reopen_count > 0``) keeps only its latest round on the row, so its verification is not
  measured.
- **Time to the agency's first follow-up**: ``assigned_at`` → ``acknowledged_at`` (resolving
  straight away sets ``acknowledged_at`` too); for a reopened report, the latest round.
- **Time to resolution**: ``submitted_at`` → ``resolved_at`` (the latest follow-up).
- **Deadline compliance** per stage (verification: ``verify_due_at``; first follow-up:
  ``first_response_due_at``; completion: ``completion_due_at``): *met* when the step was done by
  its deadline, *missed* when it was done later **or** the report still waits in that stage
  and the deadline has passed (open and overdue). A step not done whose deadline is still
  ahead, or whose clock is paused (``needs_info``), is pending and not counted. Rate =
  met / (met + missed); "—" when nothing counts.
- **Reopen rate**: reports reopened at least once / reports resolved at least once.
- **Verdicts**: the citizens' latest verdicts (fixed / partly / not fixed); **mean rating** over
  rated reports.
- **Percentiles**: linear interpolation between closest ranks (Hyndman–Fan type 7, as
  numpy's default, Excel's PERCENTILE.INC and PostgreSQL's percentile_cont); the median is the
  50th percentile (the mean of the two middle values of an even count).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from bot.core.calendar import WorkingCalendar

VERDICTS = ("fixed", "partly", "not_fixed")


class Stage(StrEnum):
    """The three deadlines a report runs against."""

    VERIFY = "verify"
    FIRST_RESPONSE = "first_response"
    COMPLETION = "completion"


STAGES = tuple(Stage)  # iterating the enum itself is slow in the per-row loop


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0–100) of ``values``, linear interpolation (type 7)."""
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0-100, got {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    """The 50th percentile."""
    return percentile(values, 50)


_CLOCK_TEXTS = tuple(f" {minute // 60:02d}:{minute % 60:02d}" for minute in range(24 * 60))


class WorkingClock:
    """``working_days_between`` in O(1) per call: cumulative working seconds per local day.

    Gives the same figures as ``WorkingCalendar.working_days_between`` (tested), which walks
    every day between the two moments: too slow for a year of reports.
    """

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar
        self._zone = calendar.timezone
        self._first: date | None = None
        self._starts: list[float] = []  # UTC timestamp of each local midnight
        self._cumulative: list[float] = []  # working seconds before each day
        self._working: list[bool] = []
        self._texts: dict[int, str] = {}  # index -> local date text, reset on every rebuild
        self._weeks: dict[int, date] = {}  # index -> Monday of that day's week, likewise

    def cover(self, first: date, last: date) -> None:
        """Build the table for ``first``..``last`` up front (rows then rarely rebuild it).

        A table that starts before every moment asked about never moves its origin, so the
        positions of two moments are always comparable (``between``).
        """
        self._build(first, last)

    def _midnight(self, day: date) -> float:
        return datetime.combine(day, time(0), tzinfo=self._zone).timestamp()

    def _build(self, first: date, last: date) -> None:
        first -= timedelta(days=7)
        last += timedelta(days=7)
        if self._first is not None:
            first = min(first, self._first)
            last = max(last, self._first + timedelta(days=len(self._working) - 2))
        self._first = first
        self._starts, self._cumulative, self._working = [], [], []
        self._texts = {}
        self._weeks = {}
        total = 0.0
        day = first
        while day <= last + timedelta(days=1):
            start = self._midnight(day)
            self._starts.append(start)
            self._cumulative.append(total)
            working = self.calendar.is_working_day(day)
            self._working.append(working)
            if working:
                total += self._midnight(day + timedelta(days=1)) - start
            day += timedelta(days=1)

    def _index(self, stamp: float) -> int:
        """The table index of the local day containing the UTC timestamp ``stamp``."""
        index = bisect_right(self._starts, stamp) - 1
        if index < 0 or index >= len(self._working) - 1:
            day = datetime.fromtimestamp(stamp, self._zone).date()
            self._build(day, day)
            index = bisect_right(self._starts, stamp) - 1
        return index

    def _position(self, stamp: float) -> float:
        """Working seconds from the table's first day to the moment ``stamp``."""
        index = bisect_right(self._starts, stamp) - 1
        if index < 0 or index >= len(self._working) - 1:
            index = self._index(stamp)
        if not self._working[index]:
            return self._cumulative[index]
        return self._cumulative[index] + (stamp - self._starts[index])

    def local_day(self, stamp: float) -> date:
        """The local date of the moment ``stamp``."""
        index = self._index(stamp)
        assert self._first is not None
        return self._first + timedelta(days=index)

    def position_week(self, stamp: float) -> tuple[float, date]:
        """``_position`` of a moment and the Monday of its local week, with one look-up."""
        index = bisect_right(self._starts, stamp) - 1
        if index < 0 or index >= len(self._working) - 1:
            index = self._index(stamp)
        monday = self._weeks.get(index)
        if monday is None:
            assert self._first is not None
            day = self._first + timedelta(days=index)
            monday = self._weeks[index] = day - timedelta(days=day.weekday())
        if not self._working[index]:
            return self._cumulative[index], monday
        return self._cumulative[index] + (stamp - self._starts[index]), monday

    def local_text(self, stamp: float) -> str:
        """The moment as local ``YYYY-MM-DD HH:MM`` (exports), without making a datetime."""
        index = bisect_right(self._starts, stamp) - 1
        if index < 0 or index >= len(self._working) - 1:
            index = self._index(stamp)
        day = self._texts.get(index)
        if day is None:
            day = self._texts[index] = self._day_text(index)
        if not day:  # a DST change that day: be exact
            return datetime.fromtimestamp(stamp, self._zone).isoformat(" ", "minutes")[:16]
        return day + _CLOCK_TEXTS[int(stamp - self._starts[index]) // 60]

    def _day_text(self, index: int) -> str:
        """The local date of table day ``index`` as text; empty if the day is not 24 hours."""
        if self._starts[index + 1] - self._starts[index] != 86_400.0:
            return ""
        assert self._first is not None
        return (self._first + timedelta(days=index)).isoformat()

    def between(self, start: float, end: float) -> float:
        """Working days elapsed from ``start`` to ``end`` (negative if end < start)."""
        return (self._position(end) - self._position(start)) / 86_400.0


class ReportRow(NamedTuple):
    """The columns of one report that the figures need.

    Moments are POSIX timestamps (UTC seconds, ``datetime.timestamp()``): a year of reports
    is read and compared without making a million datetime objects (and a named tuple is
    built several times faster than a frozen dataclass).
    """

    status: str
    kind: str
    category_id: int
    agency_id: int | None
    channel: str
    submitted_at: float
    assigned_at: float | None = None
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    verify_due_at: float | None = None
    first_response_due_at: float | None = None
    completion_due_at: float | None = None
    reopen_count: int = 0
    verdict: str | None = None
    rating: int | None = None


def verified_at(row: ReportRow) -> float | None:
    """When the city forwarded or rejected the report (None: not yet, or not measurable)."""
    if row.status == "rejected":
        return row.closed_at
    if row.reopen_count > 0:
        return None
    return row.assigned_at


def durations(row: ReportRow, clock: WorkingClock) -> dict[Stage, float | None]:
    """Working days to verification, to first follow-up, and to resolution."""
    verified = verified_at(row)
    return {
        Stage.VERIFY: clock.between(row.submitted_at, verified) if verified is not None else None,
        Stage.FIRST_RESPONSE: (
            clock.between(row.assigned_at, row.acknowledged_at)
            if row.assigned_at is not None and row.acknowledged_at is not None
            else None
        ),
        Stage.COMPLETION: (
            clock.between(row.submitted_at, row.resolved_at)
            if row.resolved_at is not None
            else None
        ),
    }


def _outcome(done: float | None, due: float | None, waiting: bool, now: float) -> bool | None:
    if due is None:
        return None
    if done is not None:
        return done <= due
    return False if waiting and now > due else None


def compliance(row: ReportRow, now: float) -> dict[Stage, bool | None]:
    """Per stage: True met, False missed (late, or open and overdue), None not counted."""
    verify_done = verified_at(row)
    verify_due = row.verify_due_at if (verify_done is not None or row.reopen_count == 0) else None
    return {
        Stage.VERIFY: _outcome(verify_done, verify_due, row.status == "submitted", now),
        Stage.FIRST_RESPONSE: _outcome(
            row.acknowledged_at, row.first_response_due_at, row.status == "assigned", now
        ),
        Stage.COMPLETION: _outcome(
            row.resolved_at, row.completion_due_at, row.status == "in_progress", now
        ),
    }


def is_overdue(row: ReportRow, now: float) -> bool:
    """Open and past the deadline of its current stage."""
    return overdue_from(row, compliance(row, now))


def overdue_from(row: ReportRow, outcomes: dict[Stage, bool | None]) -> bool:
    """Missed a deadline and still waiting in that stage (a step done late is not overdue)."""
    return (
        (outcomes[Stage.VERIFY] is False and row.status == "submitted")
        or (outcomes[Stage.FIRST_RESPONSE] is False and row.acknowledged_at is None)
        or (outcomes[Stage.COMPLETION] is False and row.resolved_at is None)
    )


@dataclass
class Tally:
    """Running totals of one scope (the city or one agency)."""

    total: int = 0
    # One counter keyed by (status, kind, category, agency, channel, week): a single dict
    # update per report instead of six; the breakdowns below are summed from it when read.
    groups: Counter[tuple[str, str, int, int | None, str, date]] = field(default_factory=Counter)
    times: dict[Stage, list[float]] = field(default_factory=lambda: {s: [] for s in Stage})
    met: Counter[Stage] = field(default_factory=Counter)
    missed: Counter[Stage] = field(default_factory=Counter)
    overdue: int = 0
    reopened: int = 0
    ever_resolved: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    rating_sum: int = 0
    ratings: int = 0

    def add(
        self,
        row: ReportRow,
        spans: dict[Stage, float | None],
        outcomes: dict[Stage, bool | None],
        overdue: bool,
        week: date,
    ) -> None:
        """Count one report."""
        self.total += 1
        self.groups[(row.status, row.kind, row.category_id, row.agency_id, row.channel, week)] += 1
        for stage in STAGES:
            span = spans[stage]
            if span is not None:
                self.times[stage].append(span)
            outcome = outcomes[stage]
            if outcome is True:
                self.met[stage] += 1
            elif outcome is False:
                self.missed[stage] += 1
        if overdue:
            self.overdue += 1
        if row.reopen_count > 0:
            self.reopened += 1
            self.ever_resolved += 1
        elif row.resolved_at is not None:
            self.ever_resolved += 1
        if row.verdict is not None and row.verdict in VERDICTS:
            self.verdicts[row.verdict] += 1
        if row.rating is not None:
            self.rating_sum += row.rating
            self.ratings += 1

    def add_many(self, combo: tuple[Any, ...], count: int) -> None:
        """Count ``count`` reports of one combination (see ``count_rows``); not their times."""
        status, kind, category_id, agency_id, channel, week = combo[:6]
        verify_ok, first_ok, done_ok, overdue, reopened, resolved, verdict, rating = combo[6:]
        self.total += count
        self.groups[(status, kind, category_id, agency_id, channel, week)] += count
        for stage, outcome in zip(STAGES, (verify_ok, first_ok, done_ok), strict=True):
            if outcome is True:
                self.met[stage] += count
            elif outcome is False:
                self.missed[stage] += count
        if overdue:
            self.overdue += count
        if reopened:
            self.reopened += count
            self.ever_resolved += count
        elif resolved:
            self.ever_resolved += count
        if verdict is not None and verdict in VERDICTS:
            self.verdicts[verdict] += count
        if rating is not None:
            self.rating_sum += rating * count
            self.ratings += count

    def _by(self, position: int) -> Counter[Any]:
        counts: Counter[Any] = Counter()
        for key, count in self.groups.items():
            counts[key[position]] += count
        return counts

    @property
    def by_status(self) -> Counter[str]:
        """Reports per current status."""
        return self._by(0)

    @property
    def by_kind(self) -> Counter[str]:
        """Reports per kind."""
        return self._by(1)

    @property
    def by_category(self) -> Counter[int]:
        """Reports per category id."""
        return self._by(2)

    @property
    def by_agency(self) -> Counter[int | None]:
        """Reports per agency id (None: not forwarded)."""
        return self._by(3)

    @property
    def by_channel(self) -> Counter[str]:
        """Reports per channel."""
        return self._by(4)

    @property
    def weekly(self) -> Counter[tuple[date, str]]:
        """Reports per (Monday of the submission's week, current status)."""
        counts: Counter[tuple[date, str]] = Counter()
        for key, count in self.groups.items():
            counts[(key[5], key[0])] += count
        return counts

    def compliance_rate(self, stage: Stage) -> float | None:
        """Met share of the counted steps of a stage."""
        counted = self.met[stage] + self.missed[stage]
        return self.met[stage] / counted if counted else None

    def median(self, stage: Stage) -> float | None:
        """Median working days of a stage."""
        return median(self.times[stage])

    def p90(self, stage: Stage) -> float | None:
        """90th percentile of working days of a stage."""
        return percentile(self.times[stage], 90)

    @property
    def reopen_rate(self) -> float | None:
        """Reopened share of the reports resolved at least once."""
        return self.reopened / self.ever_resolved if self.ever_resolved else None

    @property
    def mean_rating(self) -> float | None:
        """Mean 1–5 rating."""
        return self.rating_sum / self.ratings if self.ratings else None


@dataclass
class Evaluation:
    """The city's tally and one per agency (every agency asked for, even without reports)."""

    city: Tally
    agencies: dict[int, Tally]
    weeks: list[date]


def evaluate(
    rows: Iterable[ReportRow],
    *,
    calendar: WorkingCalendar,
    now: datetime,
    agency_ids: Iterable[int] = (),
    first_day: date | None = None,
    last_day: date | None = None,
) -> Evaluation:
    """Count every row into the city's tally and its agency's."""
    clock = WorkingClock(calendar)
    result = Evaluation(Tally(), {agency_id: Tally() for agency_id in agency_ids}, [])
    if first_day is not None and last_day is not None:
        clock.cover(first_day, last_day)
    count_rows(result, rows, clock=clock, now=now.timestamp())
    result.weeks = weeks_between(first_day, last_day, result.city)
    return result


def measure(
    row: ReportRow, clock: WorkingClock, now: float
) -> tuple[dict[Stage, float | None], dict[Stage, bool | None]]:
    """A row's durations and deadline outcomes (computed once, used by figures and exports)."""
    return durations(row, clock), compliance(row, now)


def add_row(
    result: Evaluation,
    row: ReportRow,
    *,
    clock: WorkingClock,
    now: float,
    measured: tuple[dict[Stage, float | None], dict[Stage, bool | None]] | None = None,
) -> None:
    """Count one row (for callers that feed rows in batches)."""
    spans, outcomes = measured or measure(row, clock, now)
    overdue = overdue_from(row, outcomes)
    day = clock.local_day(row.submitted_at)
    week = day - timedelta(days=day.weekday())
    result.city.add(row, spans, outcomes, overdue, week)
    if row.agency_id is not None:
        tally = result.agencies.get(row.agency_id)
        if tally is None:
            tally = result.agencies[row.agency_id] = Tally()
        tally.add(row, spans, outcomes, overdue, week)


Measured = tuple[float | None, float | None, float | None, bool | None, bool | None, bool | None]
"""Per row: working days to verification, first follow-up, resolution; then the outcomes."""


def count_rows(
    result: Evaluation,
    rows: Iterable[ReportRow],
    *,
    clock: WorkingClock,
    now: float,
    measured: list[Measured] | None = None,
) -> None:
    """``add_row`` for many rows at once, with the same figures, several times faster.

    The per-stage logic of ``durations``, ``compliance`` and ``overdue_from`` is inlined,
    and everything a ``Tally`` counts (but the durations) is first counted per distinct
    combination in one counter, then added to the tallies once per combination: a year of
    reports has far fewer combinations than rows. ``measured`` (if given) receives every
    row's durations and outcomes, in order (exports write them).
    """
    position = clock._position
    position_week = clock.position_week
    keep = measured.append if measured is not None else None
    combos: Counter[tuple[Any, ...]] = Counter()
    city_times = result.city.times
    city_verify = city_times[Stage.VERIFY]
    city_first = city_times[Stage.FIRST_RESPONSE]
    city_done = city_times[Stage.COMPLETION]
    agencies = result.agencies
    for row in rows:
        (
            status,
            kind,
            category_id,
            agency_id,
            channel,
            submitted,
            assigned,
            acknowledged,
            resolved,
            closed,
            verify_due,
            first_due,
            completion_due,
            reopen_count,
            verdict,
            rating,
        ) = row
        # durations() / verified_at(); same arithmetic as WorkingClock.between (end first)
        if status == "rejected":
            verified = closed
        elif reopen_count > 0:
            verified = None
        else:
            verified = assigned
        # (the table starts before the period: a rebuild never moves its origin mid-row)
        start, week = position_week(submitted)
        to_verify = (position(verified) - start) / 86_400.0 if verified is not None else None
        to_first = (
            (position(acknowledged) - position(assigned)) / 86_400.0
            if assigned is not None and acknowledged is not None
            else None
        )
        to_done = (position(resolved) - start) / 86_400.0 if resolved is not None else None
        # compliance() / _outcome()
        if verify_due is None or (verified is None and reopen_count != 0):
            verify_ok = None
        elif verified is not None:
            verify_ok = verified <= verify_due
        else:
            verify_ok = False if status == "submitted" and now > verify_due else None
        if first_due is None:
            first_ok = None
        elif acknowledged is not None:
            first_ok = acknowledged <= first_due
        else:
            first_ok = False if status == "assigned" and now > first_due else None
        if completion_due is None:
            done_ok = None
        elif resolved is not None:
            done_ok = resolved <= completion_due
        else:
            done_ok = False if status == "in_progress" and now > completion_due else None
        if keep is not None:
            keep((to_verify, to_first, to_done, verify_ok, first_ok, done_ok))
        combos[
            (
                status,
                kind,
                category_id,
                agency_id,
                channel,
                week,
                verify_ok,
                first_ok,
                done_ok,
                # overdue_from()
                (verify_ok is False and status == "submitted")
                or (first_ok is False and acknowledged is None)
                or (done_ok is False and resolved is None),
                reopen_count > 0,
                resolved is not None,
                verdict,
                rating,
            )
        ] += 1
        if agency_id is not None:
            tally = agencies.get(agency_id)
            if tally is None:
                tally = agencies[agency_id] = Tally()
            times = tally.times
        else:
            times = None
        if to_verify is not None:
            city_verify.append(to_verify)
            if times is not None:
                times[Stage.VERIFY].append(to_verify)
        if to_first is not None:
            city_first.append(to_first)
            if times is not None:
                times[Stage.FIRST_RESPONSE].append(to_first)
        if to_done is not None:
            city_done.append(to_done)
            if times is not None:
                times[Stage.COMPLETION].append(to_done)
    for combo, count in combos.items():
        result.city.add_many(combo, count)
        if combo[3] is not None:
            agencies[combo[3]].add_many(combo, count)


def weeks_between(first: date | None, last: date | None, tally: Tally) -> list[date]:
    """Every Monday from the first day's week to the last day's (or those with reports)."""
    seen = sorted({week for week, _ in tally.weekly})
    if first is None or last is None:
        return seen
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks
