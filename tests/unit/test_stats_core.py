"""Pure evaluation rules: periods, percentiles, fast working days, per-report definitions.

The per-report figures are tested through ``measure``, the function production counts with.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.calendar import WorkingCalendar
from bot.core.lifecycle import RUNNING_DEADLINE, Deadline, Status
from bot.core.periods import PeriodError, parse_period, previous_month
from bot.core.stats import (
    STAGES,
    Evaluation,
    Measured,
    ReportRow,
    Stage,
    Tally,
    WorkingClock,
    count_rows,
    evaluate,
    measure,
    median,
    percentile,
)

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 30 Nov 2026, 09:00 WIB
STAMP = NOW.timestamp()
CALENDAR = WorkingCalendar(timezone=WIB, holidays={date(2026, 11, 18): "test holiday"})


def wib(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=WIB).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "first", "last", "label"),
    [
        ("", date(2026, 11, 1), date(2026, 11, 30), "2026-11"),
        ("7d", date(2026, 11, 24), date(2026, 11, 30), "2026-11-24..2026-11-30"),
        ("30D", date(2026, 11, 1), date(2026, 11, 30), "2026-11-01..2026-11-30"),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28), "2026-02"),
        ("2026-q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
        ("2026", date(2026, 1, 1), date(2026, 12, 31), "2026"),
        ("2026-11-05", date(2026, 11, 5), date(2026, 11, 5), "2026-11-05"),
        ("2026-11-01..2026-11-15", date(2026, 11, 1), date(2026, 11, 15), "2026-11-01..2026-11-15"),
        ("2026-11-01 2026-11-15", date(2026, 11, 1), date(2026, 11, 15), "2026-11-01..2026-11-15"),
    ],
)
def test_the_period_grammar(text: str, first: date, last: date, label: str) -> None:
    period = parse_period(text, now=NOW, timezone=WIB)
    assert (period.first_day, period.last_day, period.label) == (first, last, label)


def test_a_period_runs_from_local_midnight_to_local_midnight() -> None:
    period = parse_period("2026-11", now=NOW, timezone=WIB)
    assert period.start == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    # 1 Dec 01:00 WIB is still 30 Nov in UTC, yet it is December here: this month is December.
    december = parse_period("", now=datetime(2026, 11, 30, 18, 0, tzinfo=UTC), timezone=WIB)
    assert december.label == "2026-12"
    assert previous_month(date(2026, 1, 5), WIB).label == "2025-12"


@pytest.mark.parametrize(
    "text", ["0d", "9999d", "2026-13", "2026-q5", "2026-02-30", "2026-11-15..2026-11-01", "last"]
)
def test_periods_that_do_not_parse(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, now=NOW, timezone=WIB)


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([], 50) is None
    assert median([3.0]) == 3.0
    assert median([4.0, 1.0, 2.0, 1.0]) == 1.5  # mean of the two middle values
    assert percentile([1.0, 1.0, 2.0, 4.0], 90) == pytest.approx(3.4)  # rank 2.7
    assert percentile([1.0, 2.0, 7.0], 90) == pytest.approx(6.0)  # rank 1.8
    assert percentile([4.0, 12.0], 90) == pytest.approx(11.2)
    assert percentile([5.0, 1.0], 0) == 1.0 and percentile([5.0, 1.0], 100) == 5.0
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_the_fast_clock_agrees_with_the_calendar() -> None:
    clock = WorkingClock(CALENDAR)
    rng = random.Random(7)
    base = datetime(2026, 10, 1, tzinfo=UTC)
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        end = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
        assert clock.between(start.timestamp(), end.timestamp()) == pytest.approx(
            CALENDAR.working_days_between(start, end), abs=1e-9
        )
    # Across the holiday: Monday 16:00 to Thursday 16:00 of the next week is 7 working days.
    monday, thursday = wib(9, 16).timestamp(), wib(19, 16).timestamp()
    assert clock.between(monday, thursday) == pytest.approx(7.0)
    assert clock.between(thursday, monday) == pytest.approx(-7.0)


def row(**fields: object) -> ReportRow:
    values: dict[str, object] = {
        "status": "submitted",
        "kind": "complaint",
        "category_id": 1,
        "agency_id": None,
        "channel": "telegram",
        "submitted_at": wib(2, 10),
    }
    values.update(fields)
    # Rows carry moments as timestamps; the tests write them as WIB datetimes.
    stamps = {k: v.timestamp() if isinstance(v, datetime) else v for k, v in values.items()}
    return ReportRow(**stamps)  # type: ignore[arg-type]


def measured(report: ReportRow) -> Measured:
    clock = WorkingClock(CALENDAR)
    clock.cover(date(2026, 10, 1), date(2026, 12, 31))
    return measure(report, clock, STAMP)


def test_an_open_report_past_its_deadline_counts_as_missed_and_overdue() -> None:
    waiting = measured(row(verify_due_at=wib(26, 23)))
    assert waiting.verify_met is False and waiting.overdue
    not_yet = measured(row(verify_due_at=wib(3, 23, month=12)))
    assert not_yet.verify_met is None and not not_yet.overdue
    paused = measured(row(status="needs_info", verify_due_at=wib(26, 23)))
    assert paused.verify_met is None and not paused.overdue  # needs_info pauses the clock


def test_a_late_step_is_missed_but_no_longer_overdue() -> None:
    late = measured(
        row(
            status="in_progress",
            agency_id=1,
            assigned_at=wib(9, 16),
            first_response_due_at=wib(16, 23),
            acknowledged_at=wib(19, 16),
            completion_due_at=wib(3, 23, month=12),
            verify_due_at=wib(11, 23),
            submitted_at=wib(6, 16),
        )
    )
    assert (late.verify_met, late.first_response_met, late.completion_met) == (True, False, None)
    assert not late.overdue
    assert late.verify_days == pytest.approx(1.0)  # Fri 16:00 -> Mon 16:00
    assert late.first_response_days == pytest.approx(7.0)
    assert late.completion_days is None
    assert late.week == date(2026, 11, 2)  # submitted on Friday 6 Nov


def test_a_rejection_is_the_verification_and_a_reopened_report_has_none() -> None:
    rejected = measured(
        row(
            status="rejected",
            closed_at=wib(23, 9),
            submitted_at=wib(16, 9),
            verify_due_at=wib(20, 23),
        )
    )
    assert rejected.verify_days == pytest.approx(4.0) and rejected.verify_met is False
    assert not rejected.overdue  # decided, if late
    reopened = measured(
        row(
            status="assigned",
            reopen_count=1,
            assigned_at=wib(16, 9),
            verify_due_at=wib(5, 23),
            first_response_due_at=wib(3, 23, month=12),
        )
    )
    assert reopened.verify_days is None and reopened.verify_met is None


@pytest.mark.parametrize("status", list(Status))
def test_the_deadline_missed_while_waiting_is_the_one_the_lifecycle_runs(status: Status) -> None:
    """Every deadline passed, no step done: only the status's running deadline is missed."""
    figures = measured(
        row(
            status=status.value,
            verify_due_at=wib(20, 23),
            first_response_due_at=wib(20, 23),
            completion_due_at=wib(20, 23),
        )
    )
    outcomes = dict(
        zip(
            STAGES,
            (figures.verify_met, figures.first_response_met, figures.completion_met),
            strict=True,
        )
    )
    running = RUNNING_DEADLINE.get(status)
    assert {stage for stage, met in outcomes.items() if met is False} == (
        {running} if running else set()
    )
    assert all(met is None for stage, met in outcomes.items() if stage is not running)
    assert figures.overdue is (running is not None)


def test_a_report_row_holds_every_deadline_column() -> None:
    assert Stage is Deadline
    assert {deadline.field for deadline in Deadline} <= set(ReportRow._fields)


def test_the_tallies_add_up_what_measure_gives_each_row() -> None:
    """``count_rows`` counts per combination of values: the sums must be the rows' figures."""
    rng = random.Random(13)
    statuses = [s.value for s in Status]

    def moment() -> datetime | None:
        return None if rng.random() < 0.4 else wib(rng.randint(1, 30), rng.randint(0, 23))

    rows = [
        row(
            status=rng.choice(statuses),
            kind=rng.choice(["complaint", "aspiration"]),
            agency_id=rng.choice([None, 1, 2]),
            submitted_at=wib(rng.randint(1, 20), rng.randint(0, 23)),
            assigned_at=moment(),
            acknowledged_at=moment(),
            resolved_at=moment(),
            closed_at=moment(),
            verify_due_at=moment(),
            first_response_due_at=moment(),
            completion_due_at=moment(),
            reopen_count=rng.choice([0, 0, 1]),
            verdict=rng.choice([None, "fixed", "partly", "not_fixed"]),
            rating=rng.choice([None, 1, 4, 5]),
        )
        for _ in range(400)
    ]
    clock = WorkingClock(CALENDAR)
    clock.cover(date(2026, 10, 1), date(2026, 12, 31))
    result = Evaluation(Tally(), {}, [])
    figures: list[Measured] = []
    count_rows(result, rows[:150], clock=clock, now=STAMP, measured=figures)
    count_rows(result, rows[150:], clock=clock, now=STAMP, measured=figures)  # a second batch
    assert figures == [measure(r, clock, STAMP) for r in rows]
    for scope, tally in [(None, result.city), *result.agencies.items()]:
        mine = [(r, f) for r, f in zip(rows, figures, strict=True) if scope in (None, r.agency_id)]
        assert tally.total == len(mine)
        assert tally.overdue == sum(f.overdue for _, f in mine)
        for index, stage in enumerate(STAGES):  # Measured: the three durations, then outcomes
            outcomes = [f[3 + index] for _, f in mine]
            assert tally.met[stage] == outcomes.count(True)
            assert tally.missed[stage] == outcomes.count(False)
            assert tally.times[stage] == [f[index] for _, f in mine if f[index] is not None]
        assert sum(tally.by_status.values()) == len(mine)
        assert tally.weekly == Counter((f.week, r.status) for r, f in mine)
        assert tally.ratings == sum(r.rating is not None for r, _ in mine)


def test_evaluate_counts_every_agency_asked_for_even_without_reports() -> None:
    rows = [
        row(status="closed", agency_id=1, resolved_at=wib(6, 10), verdict="fixed", rating=5),
        row(
            status="resolved",
            agency_id=1,
            reopen_count=1,
            resolved_at=wib(20, 9),
            verdict="not_fixed",
            rating=2,
        ),
        row(status="submitted"),
    ]
    result = evaluate(
        rows,
        calendar=CALENDAR,
        now=NOW,
        agency_ids=[1, 2],
        first_day=date(2026, 11, 1),
        last_day=date(2026, 11, 30),
    )
    assert result.city.total == 3 and result.agencies[1].total == 2
    assert result.agencies[2].total == 0 and result.agencies[2].median(Stage.VERIFY) is None
    assert result.agencies[2].compliance_rate(Stage.VERIFY) is None
    assert result.city.reopen_rate == 0.5 and result.city.mean_rating == 3.5
    assert result.city.verdicts["fixed"] == 1 and result.city.verdicts["not_fixed"] == 1
    assert result.weeks[0] == date(2026, 10, 26) and result.weeks[-1] == date(2026, 11, 30)
    assert result.city.weekly[(date(2026, 11, 2), "closed")] == 1
    empty = evaluate([], calendar=CALENDAR, now=NOW)
    assert empty.city.total == 0 and empty.city.reopen_rate is None
    assert empty.city.p90(Stage.COMPLETION) is None


@pytest.mark.parametrize("zone", ["Asia/Jakarta", "Europe/Berlin"])
def test_local_text_is_the_local_minute(zone: str) -> None:
    local = ZoneInfo(zone)
    clock = WorkingClock(WorkingCalendar(timezone=local))
    rng = random.Random(3)
    base = datetime(2026, 3, 20, tzinfo=UTC)  # Berlin changes its clocks on 29 Mar 2026
    for _ in range(500):
        stamp = (base + timedelta(seconds=rng.randrange(0, 86400 * 20))).timestamp()
        expected = datetime.fromtimestamp(stamp, local).strftime("%Y-%m-%d %H:%M")
        assert clock.local_text(stamp) == expected
