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
- **Deadline compliance** per stage (the lifecycle's ``Deadline``, stored in ``Deadline.field``):
  *met* when the step was done by its deadline, *missed* when it was done later **or** the
  report still waits in that stage (its status runs that deadline, ``RUNNING_DEADLINE``) and
  the deadline has passed. A step not done whose deadline is still ahead, or whose clock is
  paused (``needs_info``), is pending and not counted. Rate = met / (met + missed); "—" when
  nothing counts. **Overdue**: a deadline missed while its step is still not done.
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
from typing import Any, NamedTuple

from bot.core.calendar import WorkingCalendar
from bot.core.lifecycle import RUNNING_DEADLINE, Deadline, Status, Verdict

VERDICTS = tuple(Verdict)

Stage = Deadline
"""The three stages a report is measured in are the lifecycle's three deadlines."""

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

    def position(self, stamp: float) -> float:
        """Working seconds from the table's first day to the moment ``stamp``."""
        index = bisect_right(self._starts, stamp) - 1
        if index < 0 or index >= len(self._working) - 1:
            index = self._index(stamp)
        if not self._working[index]:
            return self._cumulative[index]
        return self._cumulative[index] + (stamp - self._starts[index])

    def position_week(self, stamp: float) -> tuple[float, date]:
        """``position`` of a moment and the Monday of its local week, with one look-up."""
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
        return (self.position(end) - self.position(start)) / 86_400.0


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


class Measured(NamedTuple):
    """One report's figures (``measure``): what the tallies count and the exports write."""

    verify_days: float | None  # working days from submission to the city's decision
    first_response_days: float | None  # from forwarding to the agency's first follow-up
    completion_days: float | None  # from submission to the (latest) follow-up
    verify_met: bool | None  # per deadline: True met, False missed, None not counted
    first_response_met: bool | None
    completion_met: bool | None
    overdue: bool  # a deadline missed while its step is still not done
    week: date  # Monday of the local week the report was submitted in


# Which stage waits (its deadline runs) in each status: (verify, first response, completion),
# read from the lifecycle's table. Keyed by plain text: rows carry the stored status text.
_WAITING: dict[str, tuple[bool, bool, bool]] = {
    status.value: (
        deadline is Stage.VERIFY,
        deadline is Stage.FIRST_RESPONSE,
        deadline is Stage.COMPLETION,
    )
    for status, deadline in RUNNING_DEADLINE.items()
}
_NOTHING_WAITS = (False, False, False)
_REJECTED = Status.REJECTED.value
_DAY = 86_400.0
_new = tuple.__new__  # builds the named tuple without its per-call overhead


def _outcome(done: float | None, due: float | None, waiting: bool, now: float) -> bool | None:
    """Met when done by the deadline; missed when done late, or still waiting past it."""
    if due is None:
        return None
    if done is not None:
        return done <= due
    return False if waiting and now > due else None


def measure(row: ReportRow, clock: WorkingClock, now: float) -> Measured:
    """A report's working days per stage, deadline outcomes and whether it is overdue now."""
    (
        status,
        _kind,
        _category,
        _agency,
        _channel,
        submitted,
        assigned,
        acknowledged,
        resolved,
        closed,
        verify_due,
        first_response_due,
        completion_due,
        reopen_count,
        _verdict,
        _rating,
    ) = row
    # The city's decision: rejecting closes the report, forwarding assigns it. A reopened
    # report keeps only its latest round on the row: its verification is not measured.
    if status == _REJECTED:
        verified = closed
    elif reopen_count > 0:
        verified = verify_due = None
    else:
        verified = assigned
    position = clock.position
    # Later moments never move the clock table's origin: ``start`` stays comparable.
    start, week = clock.position_week(submitted)
    waits_verify, waits_first_response, waits_completion = _WAITING.get(status, _NOTHING_WAITS)
    verify_met = _outcome(verified, verify_due, waits_verify, now)
    first_response_met = _outcome(acknowledged, first_response_due, waits_first_response, now)
    completion_met = _outcome(resolved, completion_due, waits_completion, now)
    return _new(
        Measured,
        (
            None if verified is None else (position(verified) - start) / _DAY,
            None
            if assigned is None or acknowledged is None
            else (position(acknowledged) - position(assigned)) / _DAY,
            None if resolved is None else (position(resolved) - start) / _DAY,
            verify_met,
            first_response_met,
            completion_met,
            (verify_met is False and verified is None)
            or (first_response_met is False and acknowledged is None)
            or (completion_met is False and resolved is None),
            week,
        ),
    )


Combo = tuple[
    str,  # status
    str,  # kind
    int,  # category id
    int | None,  # agency id
    str,  # channel
    date,  # week
    bool | None,  # verification deadline met
    bool | None,  # first response deadline met
    bool | None,  # completion deadline met
    bool,  # overdue
    bool,  # reopened
    bool,  # resolved at least once
    str | None,  # verdict
    int | None,  # rating
]
"""What a tally counts of one report but its durations (``count_rows`` counts these first)."""


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

    def add_many(self, combo: Combo, count: int) -> None:
        """Count ``count`` reports of one combination; their durations are added by the caller."""
        (
            status,
            kind,
            category_id,
            agency_id,
            channel,
            week,
            verify_met,
            first_response_met,
            completion_met,
            overdue,
            reopened,
            resolved,
            verdict,
            rating,
        ) = combo
        self.total += count
        self.groups[(status, kind, category_id, agency_id, channel, week)] += count
        outcomes = (verify_met, first_response_met, completion_met)
        for stage, outcome in zip(STAGES, outcomes, strict=True):
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


def count_rows(
    result: Evaluation,
    rows: Iterable[ReportRow],
    *,
    clock: WorkingClock,
    now: float,
    measured: list[Measured] | None = None,
) -> None:
    """Count rows into the city's tally and their agency's (each row ``measure``d once).

    ``measured`` (if given) receives every row's ``Measured``, in order: exports write them.
    A year is a million rows, so everything a ``Tally`` counts but the durations is first
    counted per distinct combination of values (``Combo``), then added to the tallies once
    per combination: a year of reports has far fewer combinations than rows.
    """
    keep = measured.append if measured is not None else None
    combos: Counter[Combo] = Counter()
    city_verify, city_first_response, city_completion = (result.city.times[s] for s in STAGES)
    agencies = result.agencies
    for row in rows:
        figures = measure(row, clock, now)
        if keep is not None:
            keep(figures)
        (
            verify_days,
            first_response_days,
            completion_days,
            verify_met,
            first_response_met,
            completion_met,
            overdue,
            week,
        ) = figures
        (
            status,
            kind,
            category_id,
            agency_id,
            channel,
            _submitted,
            _assigned,
            _acknowledged,
            resolved,
            _closed,
            _verify_due,
            _first_response_due,
            _completion_due,
            reopen_count,
            verdict,
            rating,
        ) = row
        combos[
            (
                status,
                kind,
                category_id,
                agency_id,
                channel,
                week,
                verify_met,
                first_response_met,
                completion_met,
                overdue,
                reopen_count > 0,
                resolved is not None,
                verdict,
                rating,
            )
        ] += 1
        # The durations are kept one by one (for medians and percentiles).
        times = None
        if agency_id is not None:
            tally = agencies.get(agency_id)
            if tally is None:
                tally = agencies[agency_id] = Tally()
            times = tally.times
        if verify_days is not None:
            city_verify.append(verify_days)
            if times is not None:
                times[Stage.VERIFY].append(verify_days)
        if first_response_days is not None:
            city_first_response.append(first_response_days)
            if times is not None:
                times[Stage.FIRST_RESPONSE].append(first_response_days)
        if completion_days is not None:
            city_completion.append(completion_days)
            if times is not None:
                times[Stage.COMPLETION].append(completion_days)
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
