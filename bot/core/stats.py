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


_DAY = 86_400.0

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

    def positions(self, stamps: Any) -> Any:
        """``position`` of every moment of a numpy array (NaN stays NaN)."""
        return self.positions_days(stamps)[0]

    def positions_days(self, stamps: Any) -> tuple[Any, Any]:
        """``position`` of every moment of a numpy array (NaN stays NaN), with the table index
        of its local day: the same arithmetic element by element, so the same floats."""
        import numpy as np

        present = stamps[~np.isnan(stamps)]
        if present.size:  # grow the table first, as ``position`` would
            self.position(float(present.min()))
            self.position(float(present.max()))
        starts = np.array(self._starts)
        index = np.searchsorted(starts, stamps, side="right") - 1
        index = np.clip(index, 0, len(self._working) - 2)  # NaN sorts last: masked below
        working = np.array(self._working)[index]
        cumulative = np.array(self._cumulative)[index]
        elapsed = np.where(working, stamps - starts[index], 0.0)
        return np.where(np.isnan(stamps), np.nan, cumulative + elapsed), index

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


# --- the same counts, a whole table of rows at once (numpy) ------------------------------

_NONE = -1  # the code of a missing value in the coded columns


def _coded(values: list[Any]) -> tuple[Any, list[Any]]:
    """A column as small integer codes (``_NONE`` for None) and the value of each code."""
    import numpy as np

    index: dict[Any, int] = {}
    codes = [_NONE if v is None else index.setdefault(v, len(index)) for v in values]
    return np.array(codes, dtype=np.int64), list(index)


def _packed(parts: Sequence[tuple[Any, int, int]], size: int) -> Any | None:
    """One integer per row from (codes, bits, offset) columns; None if a code does not fit."""
    import numpy as np

    assert sum(bits for _, bits, _ in parts) <= 62
    key = np.zeros(size, dtype=np.int64)
    for values, bits, offset in parts:
        shifted = values.astype(np.int64) + offset
        if int(shifted.min()) < 0 or int(shifted.max()) >= 1 << bits:
            return None
        key = (key << bits) | shifted
    return key


def _unpacked(packed: int, parts: Sequence[tuple[Any, int, int]]) -> list[int]:
    fields = []
    for _, bits, offset in reversed(parts):
        fields.append((packed & ((1 << bits) - 1)) - offset)
        packed >>= bits
    return fields[::-1]


def count_table(
    result: Evaluation, rows: Sequence[Sequence[Any]], *, clock: WorkingClock, now: float
) -> None:
    """``count_rows`` for many rows at once: the same tallies (the same floats, the durations
    in row order), computed column by column with numpy instead of row by row.

    ``rows`` are plain tuples in ``ReportRow``'s order. Every rule is ``measure``'s, written
    for whole columns; tests/integration/test_stats_fast.py compares both on every database.
    """
    import numpy as np

    if not rows:
        return
    table = np.array(rows, dtype=object)
    if table.shape != (len(rows), len(ReportRow._fields)):
        raise ValueError(f"rows of {len(ReportRow._fields)} columns expected")
    moments = table[:, 5:13]
    moments[moments == None] = np.nan  # noqa: E711 - element-wise
    (submitted, assigned, acknowledged, resolved, closed, verify_due, first_due, completion_due) = (
        moments.astype(float).T
    )
    status, status_values = _coded(table[:, 0].tolist())
    kind, kind_values = _coded(table[:, 1].tolist())
    category, category_values = _coded(table[:, 2].tolist())
    agency, agency_values = _coded(table[:, 3].tolist())
    channel, channel_values = _coded(table[:, 4].tolist())
    reopened = table[:, 13].astype(np.int64) > 0
    verdict, verdict_values = _coded(table[:, 14].tolist())
    rating, rating_values = _coded(table[:, 15].tolist())

    def among(names: Iterable[str]) -> Any:
        wanted = [status_values.index(name) for name in names if name in status_values]
        return np.isin(status, wanted)

    rejected = among([_REJECTED])
    # The city's decision (``measure``): a rejected report's closing, none for a reopened one.
    verified = np.where(rejected, closed, np.where(reopened, np.nan, assigned))
    verify_due = np.where(~rejected & reopened, np.nan, verify_due)

    def outcome(done: Any, due: Any, stage: Stage) -> Any:
        """``_outcome`` as codes: 0 not counted, 1 missed, 2 met."""
        waiting = among(s.value for s, d in RUNNING_DEADLINE.items() if d is stage)
        with np.errstate(invalid="ignore"):
            late = waiting & (now > due)
            return np.where(
                np.isnan(due),
                0,
                np.where(~np.isnan(done), np.where(done <= due, 2, 1), np.where(late, 1, 0)),
            )

    outcomes = (
        outcome(verified, verify_due, Stage.VERIFY),
        outcome(acknowledged, first_due, Stage.FIRST_RESPONSE),
        outcome(resolved, completion_due, Stage.COMPLETION),
    )
    overdue = (
        ((outcomes[0] == 1) & np.isnan(verified))
        | ((outcomes[1] == 1) & np.isnan(acknowledged))
        | ((outcomes[2] == 1) & np.isnan(resolved))
    )
    start, day = clock.positions_days(submitted)
    first = clock._first
    assert first is not None
    monday = day - (first.weekday() + day) % 7  # table index of the week's Monday
    # What a tally counts but the durations, as two integers per row (codes may be -1: None):
    # the breakdown key of ``Tally.groups``, and everything else with the report's agency.
    group_parts = (
        (status, 5, 1),
        (kind, 4, 1),
        (category, 12, 1),
        (agency, 12, 1),
        (channel, 4, 1),
        (monday, 16, 0),
    )
    outcome_parts = (
        (agency, 12, 1),
        (outcomes[0], 2, 0),
        (outcomes[1], 2, 0),
        (outcomes[2], 2, 0),
        (overdue, 1, 0),
        (reopened, 1, 0),
        (~np.isnan(resolved), 1, 0),
        (verdict, 4, 1),
        (rating, 8, 1),
    )
    group_keys = _packed(group_parts, len(rows))
    outcome_keys = _packed(outcome_parts, len(rows))
    if group_keys is None or outcome_keys is None:  # too many distinct values: row by row
        count_rows(result, [_new(ReportRow, row) for row in rows], clock=clock, now=now)
        return

    def value(values: list[Any], code: int) -> Any:
        return None if code == _NONE else values[code]

    agencies = result.agencies

    def tallies(code: int) -> tuple[Tally, ...]:
        if code == _NONE:
            return (result.city,)
        tally = agencies.get(agency_values[code])
        if tally is None:
            tally = agencies[agency_values[code]] = Tally()
        return (result.city, tally)

    keys, counts = np.unique(group_keys, return_counts=True)
    for packed, count in zip(keys.tolist(), counts.tolist(), strict=True):
        st, kd, cat, ag, ch, week = _unpacked(packed, group_parts)
        group = (
            status_values[st],
            kind_values[kd],
            category_values[cat],
            value(agency_values, ag),
            channel_values[ch],
            first + timedelta(days=week),
        )
        for tally in tallies(ag):
            tally.total += count
            tally.groups[group] += count
    met = (None, False, True)
    keys, counts = np.unique(outcome_keys, return_counts=True)
    for packed, count in zip(keys.tolist(), counts.tolist(), strict=True):
        ag, v, f, c, late, reopen, resolved_once, judged, rate = _unpacked(packed, outcome_parts)
        verdict_value = value(verdict_values, judged)
        rating_value = value(rating_values, rate)
        for tally in tallies(ag):
            for stage, outcome_met in zip(STAGES, (met[v], met[f], met[c]), strict=True):
                if outcome_met is True:
                    tally.met[stage] += count
                elif outcome_met is False:
                    tally.missed[stage] += count
            if late:
                tally.overdue += count
            if reopen:
                tally.reopened += count
            if reopen or resolved_once:
                tally.ever_resolved += count
            if verdict_value is not None and verdict_value in VERDICTS:
                tally.verdicts[verdict_value] += count
            if rating_value is not None:
                tally.rating_sum += rating_value * count
                tally.ratings += count
    durations = {
        Stage.VERIFY: (clock.positions(verified) - start) / _DAY,
        Stage.FIRST_RESPONSE: (clock.positions(acknowledged) - clock.positions(assigned)) / _DAY,
        Stage.COMPLETION: (clock.positions(resolved) - start) / _DAY,
    }
    for stage, days in durations.items():
        measured = ~np.isnan(days)
        result.city.times[stage].extend(days[measured].tolist())
        for code in np.unique(agency[measured & (agency != _NONE)]).tolist():
            mine = measured & (agency == code)
            agencies[agency_values[code]].times[stage].extend(days[mine].tolist())
