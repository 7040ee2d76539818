"""Complaints: numbering, submission, and what a citizen may read of their own reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.events import Attachment as Media
from bot.core.lifecycle import Actor, Channel, Status
from bot.core.tracking import format_code
from storage.models import Attachment, Complaint, ComplaintEvent, TrackingCounter


@dataclass(frozen=True)
class NewComplaint:
    """Everything a citizen entered, ready to be stored."""

    kind: str
    category_id: int
    description: str
    privacy: str
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    attachments: tuple[Media, ...] = ()
    channel: Channel = Channel.TELEGRAM


async def next_sequence(*, session: AsyncSession, prefix: str, year: int) -> int:
    """The next number of the year, atomically (a row lock on the counter until commit)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    upsert_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect in ("postgresql", "sqlite"):
        await session.exec(
            upsert_insert(TrackingCounter)
            .values(prefix=prefix, year=year, last=0)
            .on_conflict_do_nothing()
        )
    else:  # pragma: no cover - other databases are not supported yet
        await session.exec(insert(TrackingCounter).values(prefix=prefix, year=year, last=0))
    result = await session.exec(
        update(TrackingCounter)
        .where(col(TrackingCounter.prefix) == prefix, col(TrackingCounter.year) == year)
        .values(last=col(TrackingCounter.last) + 1)
        .returning(col(TrackingCounter.last))
    )
    return int(result.scalar_one())


async def add_complaint(
    *,
    session: AsyncSession,
    data: NewComplaint,
    citizen_id: int | None,
    prefix: str,
    year: int,
    now: datetime,
    verify_due_at: datetime,
) -> Complaint:
    """Store a submitted report with its attachments and the first history event."""
    sequence = await next_sequence(session=session, prefix=prefix, year=year)
    complaint = Complaint(
        tracking_code=format_code(prefix, year, sequence),
        year=year,
        sequence=sequence,
        kind=data.kind,
        category_id=data.category_id,
        description=data.description,
        latitude=data.latitude,
        longitude=data.longitude,
        address=data.address,
        privacy=data.privacy,
        channel=data.channel,
        citizen_id=citizen_id,
        status=Status.SUBMITTED,
        submitted_at=now,
        verify_due_at=verify_due_at,
        updated_at=now,
    )
    session.add(complaint)
    await session.flush()
    assert complaint.id is not None
    session.add_all(
        Attachment(
            complaint_id=complaint.id,
            kind=item.kind,
            file_id=item.file_id,
            file_unique_id=item.file_unique_id,
            caption=item.caption,
            size=item.size,
            position=position,
        )
        for position, item in enumerate(data.attachments)
    )
    session.add(
        ComplaintEvent(
            complaint_id=complaint.id,
            created_at=now,
            actor=Actor.CITIZEN,
            actor_id=citizen_id,
            action="submitted",
            to_status=Status.SUBMITTED,
            citizen_visible=True,
        )
    )
    await session.flush()
    return complaint


async def submitted_since(
    *, session: AsyncSession, citizen_id: int, since: datetime
) -> list[datetime]:
    """When this citizen submitted reports after ``since``, oldest first (for the rate limit)."""
    query = (
        select(Complaint.submitted_at)
        .where(Complaint.citizen_id == citizen_id, col(Complaint.submitted_at) > since)
        .order_by(col(Complaint.submitted_at))
    )
    return list((await session.exec(query)).all())


async def count_citizen_complaints(*, session: AsyncSession, citizen_id: int) -> int:
    """How many reports a citizen has."""
    query = select(func.count()).select_from(Complaint).where(Complaint.citizen_id == citizen_id)
    return int((await session.exec(query)).one())


async def list_citizen_complaints(
    *, session: AsyncSession, citizen_id: int, offset: int, limit: int
) -> list[Complaint]:
    """A page of a citizen's reports, newest first."""
    query = (
        select(Complaint)
        .where(Complaint.citizen_id == citizen_id)
        .order_by(col(Complaint.submitted_at).desc(), col(Complaint.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def find_citizen_complaint(
    *, session: AsyncSession, citizen_id: int, tracking_code: str
) -> Complaint | None:
    """The citizen's own report with that code; someone else's is as good as unknown."""
    query = select(Complaint).where(
        Complaint.tracking_code == tracking_code, Complaint.citizen_id == citizen_id
    )
    return (await session.exec(query)).first()


async def citizen_history(*, session: AsyncSession, complaint_id: int) -> list[ComplaintEvent]:
    """The history events a citizen may see, oldest first."""
    query = (
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == complaint_id, col(ComplaintEvent.citizen_visible))
        .order_by(col(ComplaintEvent.created_at), col(ComplaintEvent.id))
    )
    return list((await session.exec(query)).all())


async def complaint_attachments(*, session: AsyncSession, complaint_id: int) -> list[Attachment]:
    """A report's attachments in the order they were sent."""
    query = (
        select(Attachment)
        .where(Attachment.complaint_id == complaint_id)
        .order_by(col(Attachment.position))
    )
    return list((await session.exec(query)).all())
