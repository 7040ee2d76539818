"""Complaints: numbering, submission, and what a citizen may read of their own reports."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.events import Attachment as Media
from bot.core.lifecycle import RUNNING_DEADLINE, Actor, Channel, Status
from bot.core.tracking import format_code
from storage.database import dialect_of, upsert_insert
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
    reporter_name: str | None = None
    reporter_contact: str | None = None
    claim_token: str | None = None


async def next_sequence(*, session: AsyncSession, prefix: str, year: int) -> int:
    """The next number of the year, atomically (a row lock on the counter until commit)."""
    if dialect_of(session) in ("postgresql", "sqlite"):
        await session.exec(
            upsert_insert(session)(TrackingCounter)
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
    """Store a submitted report (casework appends its first history event with the media)."""
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
        reporter_name=data.reporter_name,
        reporter_contact=data.reporter_contact,
        claim_token=data.claim_token,
        citizen_id=citizen_id,
        status=Status.SUBMITTED,
        submitted_at=now,
        verify_due_at=verify_due_at,
        updated_at=now,
    )
    session.add(complaint)
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


async def get_complaint(
    *, session: AsyncSession, complaint_id: int, for_update: bool = False
) -> Complaint | None:
    """A report by id; ``for_update`` locks it (PostgreSQL) so two officers cannot both act."""
    query = select(Complaint).where(Complaint.id == complaint_id)
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def lock_complaint(
    *, session: AsyncSession, complaint_id: int | None = None, tracking_code: str | None = None
) -> Complaint | None:
    """A report by id or tracking code, row-locked until the transaction ends (PostgreSQL).

    Whatever named the report, the lock is the same, so two staff members acting on one report
    at once are served one after the other; the second sees the first one's change (the loaded
    object is refreshed even if this session had read the row before).
    """
    query = select(Complaint)
    if complaint_id is not None:
        query = query.where(Complaint.id == complaint_id)
    elif tracking_code is not None:
        query = query.where(Complaint.tracking_code == tracking_code)
    else:
        return None
    query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def get_by_code(*, session: AsyncSession, tracking_code: str) -> Complaint | None:
    """A report by tracking code (staff use; citizens go through find_citizen_complaint)."""
    query = select(Complaint).where(Complaint.tracking_code == tracking_code)
    return (await session.exec(query)).first()


def active_deadline() -> ColumnElement[datetime]:
    """The deadline running in the report's current status: ``RUNNING_DEADLINE`` as SQL."""
    return case(
        *(
            (col(Complaint.status) == status.value, getattr(Complaint, deadline.field))
            for status, deadline in RUNNING_DEADLINE.items()
        ),
        else_=None,
    )


def _inbox_filter(
    statuses: Iterable[str], agency_id: int | None, overdue_at: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Complaint.status).in_(list(statuses))]
    if agency_id is not None:
        conditions.append(col(Complaint.agency_id) == agency_id)
    if overdue_at is not None:
        conditions.append(active_deadline() < overdue_at)
    return conditions


async def inbox(
    *,
    session: AsyncSession,
    statuses: Iterable[str],
    agency_id: int | None,
    overdue_at: datetime | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Complaint]]:
    """Reports waiting for someone, oldest deadline first, with the total count."""
    conditions = _inbox_filter(list(statuses), agency_id, overdue_at)
    total = (
        await session.exec(select(func.count()).select_from(Complaint).where(*conditions))
    ).one()
    deadline = active_deadline()
    # The page's ids first, sorted within ix_complaint_waiting (no table row is read for the
    # reports not shown), then the page's rows.
    query = (
        select(col(Complaint.id))
        .where(*conditions)
        .order_by(deadline.is_(None), deadline, col(Complaint.id))
        .offset(offset)
        .limit(limit)
    )
    ids = list((await session.exec(query)).all())
    return int(total), await _in_order(session, ids)


async def _in_order(session: AsyncSession, ids: list[int | None]) -> list[Complaint]:
    """The reports with these ids, in this order."""
    if not ids:
        return []
    rows = (await session.exec(select(Complaint).where(col(Complaint.id).in_(ids)))).all()
    by_id = {row.id: row for row in rows}
    return [by_id[n] for n in ids if n in by_id]


EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


async def possible_duplicates(
    *, session: AsyncSession, complaint: Complaint, radius_m: float = 100, days: int = 30
) -> list[Complaint]:
    """Same category in the last ``days``, within ``radius_m`` or at the same address."""
    since = complaint.submitted_at - timedelta(days=days)
    address = (complaint.address or "").strip().casefold()
    located = complaint.latitude is not None and complaint.longitude is not None
    # The database narrows the window to candidates, never dropping a match, from
    # ix_complaint_category_submitted alone (a busy category has tens of thousands of reports
    # in two months); the exact test below decides, as it always did.
    candidates: list[ColumnElement[bool]] = []
    if located:
        # Within radius_m, the latitudes differ by at most radius_m / R radians.
        band = math.degrees(radius_m / EARTH_RADIUS_M) * (1 + 1e-9) + 1e-12
        center = complaint.latitude or 0
        candidates.append(col(Complaint.latitude).between(center - band, center + band))
    if address:
        # An address of printable ASCII only matches when it is the same in lower case without
        # the spaces around it; any other address is left to the exact test.
        stored = col(Complaint.address)
        unusual = (
            stored.op("~")("[^ -~]")
            if dialect_of(session) == "postgresql"
            else stored.op("GLOB")("*[^ -~]*")
        )
        candidates += [unusual, func.lower(func.trim(stored)) == address]
    if not candidates:
        return []
    query = select(
        col(Complaint.id),
        col(Complaint.latitude),
        col(Complaint.longitude),
        col(Complaint.address),
    ).where(
        Complaint.category_id == complaint.category_id,
        col(Complaint.id) != complaint.id,
        col(Complaint.submitted_at) >= since,
        col(Complaint.submitted_at) <= complaint.submitted_at + timedelta(days=days),
        or_(*candidates),
    )
    found: list[int | None] = []
    rows = (await session.exec(query.order_by(col(Complaint.submitted_at)))).all()
    for other_id, latitude, longitude, other_address in rows:
        near = (
            located
            and latitude is not None
            and longitude is not None
            and distance_m(
                complaint.latitude or 0, complaint.longitude or 0, latitude or 0, longitude or 0
            )
            <= radius_m
        )
        same_address = bool(address) and address == (other_address or "").strip().casefold()
        if near or same_address:
            found.append(other_id)
    return await _in_order(session, found)


async def add_event(
    *,
    session: AsyncSession,
    complaint: Complaint,
    actor: Actor,
    actor_id: int | None,
    action: str,
    from_status: str | None,
    text: str | None,
    citizen_visible: bool,
    now: datetime,
    media: tuple[Media, ...] = (),
    detail: str | None = None,
) -> ComplaintEvent:
    """Append one step to the report's history (with its media) and touch the report."""
    assert complaint.id is not None
    event = ComplaintEvent(
        complaint_id=complaint.id,
        created_at=now,
        actor=actor,
        actor_id=actor_id,
        action=action,
        from_status=from_status,
        to_status=complaint.status,
        detail=detail,
        text=text,
        citizen_visible=citizen_visible,
    )
    session.add(event)
    await session.flush()
    start = len(await complaint_attachments(session=session, complaint_id=complaint.id))
    session.add_all(
        Attachment(
            complaint_id=complaint.id,
            event_id=event.id,
            kind=item.kind,
            file_id=item.file_id,
            file_unique_id=item.file_unique_id,
            caption=item.caption,
            size=item.size,
            position=start + n,
        )
        for n, item in enumerate(media)
    )
    complaint.updated_at = now
    complaint.version += 1
    session.add(complaint)
    await session.flush()
    return event


async def full_history(*, session: AsyncSession, complaint_id: int) -> list[ComplaintEvent]:
    """Every history event, internal ones included, oldest first."""
    query = (
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == complaint_id)
        .order_by(col(ComplaintEvent.created_at), col(ComplaintEvent.id))
    )
    return list((await session.exec(query)).all())


async def last_event(
    *, session: AsyncSession, complaint_id: int, action: str
) -> ComplaintEvent | None:
    """The latest event of one kind (e.g. the question being answered)."""
    query = (
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == complaint_id, ComplaintEvent.action == action)
        .order_by(col(ComplaintEvent.id).desc())
    )
    return (await session.exec(query)).first()


async def claimable_report(*, session: AsyncSession, token: str) -> Complaint | None:
    """The offline report whose claim link this is, locked; None once it has a citizen."""
    query = (
        select(Complaint)
        .where(Complaint.claim_token == token)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    complaint = (await session.exec(query)).first()
    return complaint if complaint is not None and complaint.citizen_id is None else None
