"""Background report jobs (/stats, /export, the monthly report): queued, claimed, finished."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.lifecycle import Role
from storage.models import ReportJob, Staff

MAX_ATTEMPTS = 3


async def add_job(
    *,
    session: AsyncSession,
    kind: str,
    chat_id: int,
    staff_id: int,
    locale: str,
    first_day: date,
    last_day: date,
    label: str,
    now: datetime,
    dedupe_key: str | None = None,
) -> ReportJob | None:
    """Queue a job; None when one with the same ``dedupe_key`` exists already."""
    if dedupe_key is not None:
        found = await session.exec(select(ReportJob.id).where(ReportJob.dedupe_key == dedupe_key))
        if found.first() is not None:
            return None
    job = ReportJob(
        kind=kind,
        chat_id=chat_id,
        staff_id=staff_id,
        locale=locale,
        first_day=first_day,
        last_day=last_day,
        label=label,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    session.add(job)
    await session.flush()
    return job


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        col(ReportJob.status) == "pending",
        and_(col(ReportJob.status) == "running", col(ReportJob.claimed_until) < now),
    )


async def claim_next(
    *,
    session: AsyncSession,
    now: datetime,
    worker_id: str,
    lease: timedelta,
    kinds: Sequence[str] | None = None,
) -> ReportJob | None:
    """Take the oldest due job (pending, or running with an expired lease), atomically;
    only one of ``kinds`` if given (the runner's lanes: quick statistics never wait behind a
    year's export)."""
    query = select(ReportJob.id).where(_claimable(now))
    if kinds is not None:
        query = query.where(col(ReportJob.kind).in_(list(kinds)))
    candidates = await session.exec(query.order_by(col(ReportJob.id)).limit(10))
    for job_id in candidates.all():
        claimed = await session.exec(
            update(ReportJob)
            .where(col(ReportJob.id) == job_id, _claimable(now))
            .values(
                status="running",
                claimed_by=worker_id,
                claimed_until=now + lease,
                attempts=col(ReportJob.attempts) + 1,
            )
            .returning(col(ReportJob.id))
        )
        if claimed.scalar_one_or_none() is not None:
            job = await session.get(ReportJob, job_id, populate_existing=True)
            return job
    return None


async def finish_job(
    *,
    session: AsyncSession,
    job_id: int,
    worker_id: str,
    status: str,
    now: datetime,
    error: str | None = None,
) -> None:
    """Record the outcome (done or failed) of a job this worker holds."""
    await session.exec(
        update(ReportJob)
        .where(col(ReportJob.id) == job_id, col(ReportJob.claimed_by) == worker_id)
        .values(status=status, finished_at=now, error=error, claimed_until=None)
    )


async def evaluators(*, session: AsyncSession) -> list[Staff]:
    """The active superadmins and viewers: who gets the monthly report."""
    query = (
        select(Staff)
        .where(col(Staff.role).in_([Role.SUPERADMIN, Role.VIEWER]), col(Staff.active))
        .order_by(col(Staff.id))
    )
    return list((await session.exec(query)).all())


async def release_job(*, session: AsyncSession, job_id: int, worker_id: str) -> bool:
    """Give back a job this worker holds but did not finish (a graceful stop): pending again,
    claim cleared and the attempt not counted, so the next runner takes it at once."""
    result = await session.exec(
        update(ReportJob)
        .where(
            col(ReportJob.id) == job_id,
            col(ReportJob.claimed_by) == worker_id,
            col(ReportJob.status) == "running",
        )
        .values(
            status="pending",
            claimed_by=None,
            claimed_until=None,
            attempts=col(ReportJob.attempts) - 1,  # claiming counted it
        )
    )
    return bool(result.rowcount)


async def release_claims(*, session: AsyncSession, worker_id: str) -> int:
    """Give back every job this worker still holds as ``running``; returns how many."""
    result = await session.exec(
        update(ReportJob)
        .where(col(ReportJob.claimed_by) == worker_id, col(ReportJob.status) == "running")
        .values(
            status="pending",
            claimed_by=None,
            claimed_until=None,
            attempts=col(ReportJob.attempts) - 1,
        )
    )
    return int(result.rowcount or 0)
