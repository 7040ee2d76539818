"""The statistics counted a table at a time (``storage.stats.count_period``, numpy) are the
row-by-row ones (``report_rows`` + ``count_rows``).

A seeded year of synthetic reports (bench/stats_scale.py's generator, plus the shapes it does
not make: paused, reopened, rejected after a reopening, unassigned, fractional seconds) is
counted both ways on each database; every figure must be identical, for the city and for
every agency, for a year, a month and one agency's scope.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bench.stats_scale import COLUMNS, NOW, reports
from bot.app import prepare_database
from bot.core.calendar import WorkingCalendar
from bot.core.periods import parse_period
from bot.core.stats import STAGES, Evaluation, Tally, WorkingClock, count_rows
from bot.settings import Settings
from storage.database import session_factory
from storage.models import Category, Complaint
from storage.stats import count_period, report_rows
from storage.unit_of_work import UnitOfWork

WIB = ZoneInfo("Asia/Jakarta")
CALENDAR = WorkingCalendar(
    timezone=WIB, holidays={date(2026, 3, 19): "Nyepi", date(2026, 8, 17): "Merdeka"}
)


def _odd_shapes(rows: list[dict[str, Any]], rng: random.Random) -> None:
    """Shapes the generator does not make, on a few of its rows."""
    for row in rng.sample(rows, 40):
        kind = rng.randrange(5)
        if kind == 0 and row["status"] in ("assigned", "in_progress"):
            row["status"] = "needs_info"  # the clock is paused
        elif kind == 1 and row["resolved_at"] is not None:
            row["status"], row["reopen_count"] = "in_progress", 2
            row["completion_due_at"] = row["resolved_at"] + timedelta(days=3)
        elif kind == 2:
            row["status"], row["reopen_count"] = "rejected", 1
            row["closed_at"] = row["submitted_at"] + timedelta(hours=30, microseconds=700_000)
        elif kind == 3:
            row["agency_id"] = None
        else:
            row["submitted_at"] += timedelta(microseconds=999_999)
            if row["verify_due_at"] is not None:
                row["verify_due_at"] = row["submitted_at"] + timedelta(microseconds=1)


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    settings = Settings(_env_file=None, database_url="sqlite://")
    await prepare_database(settings, engine)
    sessions = session_factory(engine)
    async with UnitOfWork(sessions) as uow:
        found = (await uow.session.exec(select(Category))).all()
        categories = [(c.id, c.agency_id) for c in found if c.id is not None]
        rows = list(reports(1500, categories, 300, CALENDAR))
        _odd_shapes(rows, random.Random(12))
        for row in rows:
            row["citizen_id"] = None
        connection = await uow.session.connection()
        await connection.execute(insert(Complaint), [{c: row[c] for c in COLUMNS} for row in rows])
        await uow.commit()
    yield engine


def _figures(tally: Tally) -> tuple[Any, ...]:
    return (
        tally.total,
        dict(tally.groups),
        dict(tally.met),
        dict(tally.missed),
        tally.overdue,
        tally.reopened,
        tally.ever_resolved,
        dict(tally.verdicts),
        tally.rating_sum,
        tally.ratings,
        [(sorted(tally.times[stage]), tally.median(stage), tally.p90(stage)) for stage in STAGES],
    )


async def _both(
    engine: AsyncEngine, label: str, agency_id: int | None, calendar: WorkingCalendar
) -> tuple[Evaluation, Evaluation]:
    period = parse_period(label, now=NOW, timezone=calendar.timezone)
    sessions = session_factory(engine)
    evaluations = []
    for fast in (True, False):
        clock = WorkingClock(calendar)
        clock.cover(period.first_day, period.last_day + timedelta(days=120))
        result = Evaluation(Tally(), {}, [])
        async with UnitOfWork(sessions) as uow:
            if fast:
                await count_period(
                    session=uow.session,
                    result=result,
                    clock=clock,
                    now=NOW.timestamp(),
                    start=period.start,
                    end=period.end,
                    agency_id=agency_id,
                )
            else:
                async for batch in report_rows(
                    session=uow.session, start=period.start, end=period.end, agency_id=agency_id
                ):
                    count_rows(result, batch, clock=clock, now=NOW.timestamp())
        evaluations.append(result)
    return evaluations[0], evaluations[1]


@pytest.mark.parametrize(("label", "agency_id"), [("2026", None), ("2026-06", None), ("2026", 1)])
async def test_the_database_sums_give_the_row_by_row_figures(
    seeded: AsyncEngine, label: str, agency_id: int | None
) -> None:
    fast, slow = await _both(seeded, label, agency_id, CALENDAR)
    assert slow.city.total > 50  # the period has reports of every kind of outcome
    assert slow.city.overdue and slow.city.reopened and sum(slow.city.missed.values())
    assert _figures(fast.city) == _figures(slow.city)
    assert set(fast.agencies) == set(slow.agencies)
    for agency, tally in slow.agencies.items():
        assert _figures(fast.agencies[agency]) == _figures(tally), agency


async def test_a_zone_with_daylight_saving_counts_the_same(seeded: AsyncEngine) -> None:
    calendar = WorkingCalendar(timezone=ZoneInfo("Europe/Berlin"))
    fast, slow = await _both(seeded, "2026", None, calendar)
    assert _figures(fast.city) == _figures(slow.city)


def test_positions_of_an_array_are_the_positions_one_by_one() -> None:
    import numpy as np

    clock = WorkingClock(CALENDAR)
    clock.cover(date(2026, 1, 1), date(2026, 12, 31))
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    stamps = [start + rng.uniform(0, 400 * 86400) for _ in range(2000)] + [float("nan")]
    found = clock.positions(np.array(stamps)).tolist()
    assert found[:-1] == [clock.position(stamp) for stamp in stamps[:-1]]
    assert np.isnan(found[-1])
