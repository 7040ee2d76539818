"""Queries for statistics and exports: narrow rows of a period, streamed in batches.

The figures themselves (medians in working days, compliance) are computed in
``bot.core.stats`` in one pass over these rows; the database filters by the period (indexes
``ix_complaint_submitted`` and ``ix_complaint_agency_submitted``) and streams with a server-side
cursor (``yield_per``), so neither a year's statistics nor a year's export is held in memory.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Float, cast, func
from sqlalchemy import select as sql_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.lifecycle import OPEN
from bot.core.stats import (
    Evaluation,
    ReportRow,
    WorkingClock,
    count_table,
)
from storage.complaints import active_deadline
from storage.database import dialect_of
from storage.models import Agency, Category, Citizen, Complaint

BATCH_ROWS = 5000
TABLE_ROWS = 100_000  # count_period's batches: numpy's overhead per batch stays small

_DATETIMES = (
    "submitted_at",
    "assigned_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
    "verify_due_at",
    "first_response_due_at",
    "completion_due_at",
)


# Moments come back as POSIX timestamps computed by the database (see ``_epoch``): parsing
# and converting a datetime per column costs more than the whole query for a year of reports.
def _epoch(name: str, dialect: str) -> ColumnElement[float]:
    column = col(getattr(Complaint, name))
    if dialect == "postgresql":
        return func.date_part("epoch", column)  # double precision
    # SQLite stores naive UTC text, read as UTC; whole seconds are plenty for working days.
    # As a float, like PostgreSQL's: the working-day clock compares moments with its float
    # table, and comparing an int with a float costs about a quarter of the counting.
    if sqlite3.sqlite_version_info >= (3, 38):
        return cast(func.unixepoch(column), Float)
    return cast(func.strftime("%s", column), Float)


def _stats_columns(dialect: str) -> tuple[Any, ...]:
    return (
        col(Complaint.status),
        col(Complaint.kind),
        col(Complaint.category_id),
        col(Complaint.agency_id),
        col(Complaint.channel),
        *(_epoch(name, dialect) for name in _DATETIMES),
        col(Complaint.reopen_count),
        col(Complaint.verdict),
        col(Complaint.rating),
    )


def _utc(value: Any) -> datetime | None:
    """A stored moment as aware UTC (SQLite gives naive UTC text, PostgreSQL aware values)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _period(start: datetime, end: datetime, agency_id: int | None) -> list[ColumnElement[bool]]:
    conditions = [col(Complaint.submitted_at) >= start, col(Complaint.submitted_at) < end]
    if agency_id is not None:
        conditions.append(col(Complaint.agency_id) == agency_id)
    return conditions


async def _stream(session: AsyncSession, query: Any, batch: int) -> AsyncIterator[list[Any]]:
    # Core rows on the session's connection: the ORM layer would add its cost to every row.
    connection = await session.connection()
    result = await connection.stream(query.execution_options(yield_per=batch))
    async for partition in result.partitions(batch):
        yield list(partition)


async def report_rows(
    *,
    session: AsyncSession,
    start: datetime,
    end: datetime,
    agency_id: int | None = None,
    batch: int = BATCH_ROWS,
) -> AsyncIterator[list[ReportRow]]:
    """The statistics columns of every report submitted in ``[start, end)``, in batches."""
    query = sql_select(*_stats_columns(dialect_of(session))).where(*_period(start, end, agency_id))
    new = tuple.__new__  # what ``_make`` calls, without its per-row overhead
    async for rows in _stream(session, query, batch):
        yield [new(ReportRow, row) for row in rows]


async def count_reports(
    *, session: AsyncSession, start: datetime, end: datetime, agency_id: int | None = None
) -> int:
    """How many reports were submitted in ``[start, end)``."""
    query = select(func.count()).select_from(Complaint).where(*_period(start, end, agency_id))
    return int((await session.exec(query)).one())


# --- a period's figures, counted a table at a time ----------------------------------------
#
# ``count_period`` gives the tallies ``count_rows`` gives from ``report_rows``, for a year of
# reports in a few seconds: the same columns are read on the driver's own connection as plain
# tuples (SQLAlchemy's per-row layer costs more than the query for a million rows) and
# counted column by column with numpy (``bot.core.stats.count_table``).


def _sql_epoch(name: str, dialect: str) -> str:
    """``_epoch`` as SQL text (the same functions, so the same values)."""
    if dialect == "postgresql":
        return f"date_part('epoch', {name})"
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"CAST(unixepoch({name}) AS REAL)"
    return f"CAST(strftime('%s', {name}) AS REAL)"


def table_sql(dialect: str, agency_id: int | None) -> str:
    """``report_rows``' statement as text, placeholders ``{start}``, ``{end}``, ``{agency}``."""
    columns = [
        "status",
        "kind",
        "category_id",
        "agency_id",
        "channel",
        *(_sql_epoch(name, dialect) for name in _DATETIMES),
        "reopen_count",
        "verdict",
        "rating",
    ]
    assert len(columns) == len(ReportRow._fields)
    where = "submitted_at >= {start} AND submitted_at < {end}"
    if agency_id is not None:
        where += " AND agency_id = {agency}"
    return f"SELECT {', '.join(columns)} FROM complaint WHERE {where}"


async def report_table(
    *,
    session: AsyncSession,
    start: datetime,
    end: datetime,
    agency_id: int | None = None,
    batch: int = TABLE_ROWS,
) -> AsyncIterator[list[Sequence[Any]]]:
    """``report_rows``' rows as the driver's plain tuples, ``batch`` rows at a time."""
    values: dict[str, Any] = {"start": start, "end": end}
    if agency_id is not None:
        values["agency"] = agency_id
    template = table_sql(dialect_of(session), agency_id)
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if dialect_of(session) == "postgresql":
        names = list(values)
        sql = template.format(**{name: f"${n + 1}" for n, name in enumerate(names)})
        # A server-side cursor, inside the session's transaction (begun on first use).
        if not driver.is_in_transaction():
            await connection.exec_driver_sql("SELECT 1")
        cursor = await driver.cursor(sql, *(values[name] for name in names))
        while rows := await cursor.fetch(batch):
            yield list(rows)
        return
    sql = template.format(**{name: f":{name}" for name in values})
    plain = {  # as UTCDateTime binds them for SQLite
        name: value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(value, datetime)
        else value
        for name, value in values.items()
    }
    cursor = await driver.execute(sql, plain)
    try:
        while rows := await cursor.fetchmany(batch):
            yield list(rows)
    finally:
        await cursor.close()


async def count_period(
    *,
    session: AsyncSession,
    result: Evaluation,
    clock: WorkingClock,
    now: float,
    start: datetime,
    end: datetime,
    agency_id: int | None = None,
) -> None:
    """Count every report submitted in ``[start, end)`` into ``result`` (``count_table``),
    a batch at a time: the next batch is read while a worker thread counts this one."""
    counting: asyncio.Future[None] | None = None
    async for rows in report_table(session=session, start=start, end=end, agency_id=agency_id):
        if counting is not None:
            await counting
        counting = asyncio.ensure_future(
            asyncio.to_thread(count_table, result, rows, clock=clock, now=now)
        )
    if counting is not None:
        await counting


class ExportRow(NamedTuple):
    """One report as an export needs it, before privacy is applied."""

    tracking_code: str
    privacy: str
    district: str | None
    address: str | None
    description: str
    citizen_first_name: str | None
    citizen_last_name: str | None
    citizen_username: str | None
    reporter_name: str | None
    reporter_contact: str | None
    report: ReportRow


async def export_rows(
    *,
    session: AsyncSession,
    start: datetime,
    end: datetime,
    agency_id: int | None = None,
    batch: int = BATCH_ROWS,
) -> AsyncIterator[list[ExportRow]]:
    """Every report submitted in ``[start, end)`` with its reporter, oldest first, in batches."""
    query = (
        sql_select(
            col(Complaint.tracking_code),
            col(Complaint.privacy),
            col(Complaint.district),
            col(Complaint.address),
            col(Complaint.description),
            col(Citizen.first_name),
            col(Citizen.last_name),
            col(Citizen.username),
            col(Complaint.reporter_name),
            col(Complaint.reporter_contact),
            *_stats_columns(dialect_of(session)),
        )
        .select_from(Complaint)
        .outerjoin(Citizen, col(Citizen.id) == col(Complaint.citizen_id))
        .where(*_period(start, end, agency_id))
        .order_by(col(Complaint.submitted_at), col(Complaint.id))
    )
    new = tuple.__new__  # what ``_make`` calls, without its per-row overhead
    async for rows in _stream(session, query, batch):
        yield [new(ExportRow, (*row[:10], new(ReportRow, row[10:]))) for row in rows]


@dataclass(frozen=True)
class OverdueItem:
    """An open report past the deadline of its current stage."""

    tracking_code: str
    status: str
    agency_id: int | None
    deadline: datetime


async def overdue_now(
    *, session: AsyncSession, now: datetime, agency_id: int | None, limit: int
) -> tuple[int, list[OverdueItem]]:
    """Open reports past their current deadline (whenever submitted), oldest deadline first."""
    deadline = active_deadline()
    conditions: list[ColumnElement[bool]] = [
        col(Complaint.status).in_(sorted(OPEN)),  # a deadline runs in these statuses
        deadline < now,
    ]
    if agency_id is not None:
        conditions.append(col(Complaint.agency_id) == agency_id)
    total = (
        await session.exec(select(func.count()).select_from(Complaint).where(*conditions))
    ).one()
    query = (
        select(
            col(Complaint.tracking_code),
            col(Complaint.status),
            col(Complaint.agency_id),
            deadline.label("deadline"),
        )
        .where(*conditions)
        .order_by(deadline, col(Complaint.id))
        .limit(limit)
    )
    rows = (await session.exec(query)).all()
    items = []
    for code, status, agency, due in rows:
        moment = _utc(due)  # a CASE over UTCDateTime columns may come back untyped
        assert moment is not None  # filtered on: past the deadline
        items.append(OverdueItem(code, status, agency, moment))
    return int(total), items


@dataclass(frozen=True)
class Names:
    """Display names of agencies and categories."""

    agencies: dict[int, str]
    agency_order: list[int]
    categories: dict[int, tuple[str, str]]

    def agency(self, agency_id: int | None, none: str) -> str:
        """An agency's short name (``none`` when unassigned)."""
        return self.agencies.get(agency_id, none) if agency_id is not None else none

    def category(self, category_id: int, locale: str) -> str:
        """A category's name in a locale."""
        name_id, name_en = self.categories.get(category_id, (str(category_id), str(category_id)))
        return name_en if locale == "en" else name_id


async def names(*, session: AsyncSession) -> Names:
    """Every agency (active ones in order) and category, by id."""
    agencies = (await session.exec(select(Agency).order_by(col(Agency.id)))).all()
    categories = (await session.exec(select(Category))).all()
    return Names(
        agencies={a.id: a.short_name for a in agencies if a.id is not None},
        agency_order=[a.id for a in agencies if a.id is not None and a.active],
        categories={c.id: (c.name_id, c.name_en) for c in categories if c.id is not None},
    )
