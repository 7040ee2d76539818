"""What may be published (Open311 API, transparency page): the one owner of that rule.

Decisions (shared/DOMAIN.md, privacy):
- Published reports are the public and anonymous ones (``PUBLISHED_PRIVACY``). A confidential
  report does not exist here: not in lists, not in counts, not by its code.
- Rejected reports are not published: a rejection says the report is not a public-service
  matter, not this government's, incomplete, a duplicate (its original is published) or
  abusive, and repeating such text in open data helps nobody. Drafts live in conversations and
  never reach the complaints table.
- A report is open while the city or an agency still owes it work; ``resolved`` (the agency
  posted its follow-up) and ``closed`` count as closed, as Open311's "closed" means the
  request was dealt with. A reopened report is open again.
- The personal columns (the citizen, reporter name and contact, claim token, Telegram file
  ids and captions) are never selected: what this module returns cannot carry them.
- Photos are published only for public reports, and only those sent with the report itself
  (its submission event): media sent later with answers or follow-ups may show anyone.
  ``photo_ids`` are attachment row ids; whoever serves them asks ``published_photo``.
- History: only citizen-visible events; the caller says them through the catalog
  (bot/casework/history.describe), never by their free text, which may address the reporter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.events import AttachmentKind
from bot.core.lifecycle import Action, Privacy, Status
from storage.complaints import active_deadline
from storage.models import Agency, Attachment, Category, Complaint, ComplaintEvent

PUBLISHED_PRIVACY = (Privacy.PUBLIC.value, Privacy.ANONYMOUS.value)
# Rejected reports are left out (see the module docstring).
PUBLISHED_STATUSES = tuple(status.value for status in Status if status is not Status.REJECTED)
CLOSED_STATUSES = (Status.RESOLVED.value, Status.CLOSED.value)


@dataclass(frozen=True)
class PublishedReport:
    """A report as open data may show it: content and handling, never who sent it."""

    tracking_code: str
    category_code: str
    category_name_id: str
    category_name_en: str
    agency_name: str | None
    status: str
    is_open: bool
    description: str
    address: str | None
    district: str | None
    latitude: float | None
    longitude: float | None
    submitted_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    privacy: str
    photo_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class PublishedPhoto:
    """A public report's photo: the Telegram file id is for the server's own download only."""

    attachment_id: int
    tracking_code: str
    file_id: str


def _published() -> list[ColumnElement[bool]]:
    return [
        col(Complaint.privacy).in_(PUBLISHED_PRIVACY),
        col(Complaint.status).in_(PUBLISHED_STATUSES),
    ]


def _columns() -> tuple[Any, ...]:
    # Named one by one so that no personal column is ever loaded.
    return (
        col(Complaint.id),
        col(Complaint.tracking_code),
        col(Category.code),
        col(Category.name_id),
        col(Category.name_en),
        col(Agency.name),
        col(Complaint.status),
        col(Complaint.description),
        col(Complaint.address),
        col(Complaint.district),
        col(Complaint.latitude),
        col(Complaint.longitude),
        col(Complaint.submitted_at),
        col(Complaint.updated_at),
        active_deadline().label("expected_at"),
        col(Complaint.privacy),
    )


async def published_reports(
    session: AsyncSession,
    *,
    codes: Sequence[str] | None = None,
    category_codes: Sequence[str] | None = None,
    is_open: bool | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int,
    offset: int = 0,
) -> list[PublishedReport]:
    """Published reports matching the filters, newest submission first.

    ``start`` is inclusive and ``end`` exclusive, both on the submission moment.
    """
    conditions = _published()
    if codes is not None:
        conditions.append(col(Complaint.tracking_code).in_(list(codes)))
    if category_codes is not None:
        conditions.append(col(Category.code).in_(list(category_codes)))
    if is_open is not None:
        closed = col(Complaint.status).in_(CLOSED_STATUSES)
        conditions.append(~closed if is_open else closed)
    if start is not None:
        conditions.append(col(Complaint.submitted_at) >= start)
    if end is not None:
        conditions.append(col(Complaint.submitted_at) < end)
    query = (
        select(*_columns())
        .join(Category, col(Category.id) == col(Complaint.category_id))
        .join(Agency, col(Agency.id) == col(Complaint.agency_id), isouter=True)
        .where(*conditions)
        .order_by(col(Complaint.submitted_at).desc(), col(Complaint.id).desc())
        .offset(offset)
        .limit(limit)
    )
    rows = list((await session.exec(query)).all())
    photos = await _photo_ids(session, [row[0] for row in rows if row[-1] == Privacy.PUBLIC])
    return [_report(row, photos.get(row[0], ())) for row in rows]


async def published_report(session: AsyncSession, *, code: str) -> PublishedReport | None:
    """The published report with that tracking code; None if unknown or not published."""
    found = await published_reports(session, codes=[code], limit=1)
    return found[0] if found else None


async def published_history(session: AsyncSession, *, code: str) -> list[ComplaintEvent]:
    """The citizen-visible history of a published report, oldest first ([] otherwise)."""
    query = (
        select(ComplaintEvent)
        .join(Complaint, col(Complaint.id) == col(ComplaintEvent.complaint_id))
        .where(
            col(Complaint.tracking_code) == code,
            col(ComplaintEvent.citizen_visible),
            *_published(),
        )
        .order_by(col(ComplaintEvent.created_at), col(ComplaintEvent.id))
    )
    return list((await session.exec(query)).all())


async def latest_published_events(
    session: AsyncSession, *, codes: Sequence[str]
) -> dict[str, ComplaintEvent]:
    """The latest citizen-visible event of each published report among ``codes``."""
    if not codes:
        return {}
    latest = (
        select(func.max(col(ComplaintEvent.id)))
        .join(Complaint, col(Complaint.id) == col(ComplaintEvent.complaint_id))
        .where(
            col(Complaint.tracking_code).in_(list(codes)),
            col(ComplaintEvent.citizen_visible),
            *_published(),
        )
        .group_by(col(ComplaintEvent.complaint_id))
    )
    query = select(col(Complaint.tracking_code), ComplaintEvent).join(
        Complaint, col(Complaint.id) == col(ComplaintEvent.complaint_id)
    )
    rows = await session.exec(query.where(col(ComplaintEvent.id).in_(latest)))
    return {str(code): event for code, event in rows.all()}


async def published_photo(session: AsyncSession, *, attachment_id: int) -> PublishedPhoto | None:
    """A photo that may be shown (a public report's, sent with it); None for anything else."""
    query = (
        select(col(Attachment.id), col(Complaint.tracking_code), col(Attachment.file_id))
        .join(Complaint, col(Complaint.id) == col(Attachment.complaint_id))
        .where(col(Attachment.id) == attachment_id, *_photo_conditions(), *_published())
    )
    row = (await session.exec(query)).first()
    return PublishedPhoto(int(row[0] or 0), str(row[1]), str(row[2])) if row else None


def _photo_conditions() -> list[ColumnElement[bool]]:
    submitted = (
        select(col(ComplaintEvent.id))
        .where(
            col(ComplaintEvent.complaint_id) == col(Attachment.complaint_id),
            col(ComplaintEvent.action) == Action.SUBMIT.value,
        )
        .scalar_subquery()
    )
    return [
        col(Complaint.privacy) == Privacy.PUBLIC.value,
        col(Attachment.kind) == AttachmentKind.PHOTO.value,
        # Media of the submission itself (rows from before event ids were kept have none).
        or_(col(Attachment.event_id).is_(None), and_(col(Attachment.event_id).in_(submitted))),
    ]


async def _photo_ids(session: AsyncSession, complaint_ids: list[int]) -> dict[int, tuple[int, ...]]:
    if not complaint_ids:
        return {}
    query = (
        select(col(Attachment.complaint_id), col(Attachment.id))
        .join(Complaint, col(Complaint.id) == col(Attachment.complaint_id))
        .where(col(Attachment.complaint_id).in_(complaint_ids), *_photo_conditions())
        .order_by(col(Attachment.position), col(Attachment.id))
    )
    found: dict[int, list[int]] = defaultdict(list)
    for complaint_id, attachment_id in (await session.exec(query)).all():
        found[int(complaint_id)].append(int(attachment_id or 0))
    return {key: tuple(value) for key, value in found.items()}


def _report(row: Any, photo_ids: tuple[int, ...]) -> PublishedReport:
    (
        _id,
        code,
        category_code,
        name_id,
        name_en,
        agency,
        status,
        description,
        address,
        district,
        latitude,
        longitude,
        submitted_at,
        updated_at,
        expected_at,
        privacy,
    ) = row
    return PublishedReport(
        tracking_code=code,
        category_code=category_code,
        category_name_id=name_id,
        category_name_en=name_en,
        agency_name=agency,
        status=status,
        is_open=status not in CLOSED_STATUSES,
        description=description,
        address=address,
        district=district,
        latitude=latitude,
        longitude=longitude,
        submitted_at=submitted_at,
        updated_at=updated_at,
        expected_at=expected_at,
        privacy=privacy,
        photo_ids=photo_ids,
    )
