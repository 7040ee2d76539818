"""The outbox: notifications written with the change they tell about, delivered later."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.replies import Message
from storage.database import upsert_insert
from storage.models import Citizen, Complaint, Notification


class Audience(StrEnum):
    """Who a notification is for."""

    CITIZEN = "citizen"
    STAFF = "staff"


class NotificationStatus(StrEnum):
    """Where a notification is in its delivery."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    UNREACHABLE = "unreachable"


async def enqueue(
    *,
    session: AsyncSession,
    chat_id: int,
    message: Message,
    audience: Audience,
    now: datetime,
    not_before: datetime | None = None,
    complaint_id: int | None = None,
    citizen_id: int | None = None,
    staff_id: int | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Add a notification in the current transaction; a repeated ``dedupe_key`` adds nothing."""
    values = {
        "chat_id": chat_id,
        "payload": message.to_payload(),
        "audience": audience.value,
        "complaint_id": complaint_id,
        "citizen_id": citizen_id,
        "staff_id": staff_id,
        "status": NotificationStatus.PENDING.value,
        "not_before": not_before or now,
        "attempts": 0,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    statement = upsert_insert(session)(Notification).values(**values)
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    await session.exec(statement)


# Rows a dispatcher may still be working on: they hold back the later rows of their chat.
_IN_FLIGHT = (NotificationStatus.PENDING.value, NotificationStatus.SENDING.value)


async def claim_due(
    *,
    session: AsyncSession,
    now: datetime,
    worker_id: str,
    limit: int,
    lease: timedelta,
    per_chat_interval: timedelta,
) -> list[Notification]:
    """Claim up to ``limit`` due rows, at most one per chat (its oldest), in id order.

    A row is due when it is pending and its ``not_before`` has come, or when it is ``sending``
    but its lease ran out (the worker that claimed it died). Only the head of a chat's queue is
    claimable, so a later row waits for an earlier one even while that one backs off, and not
    while the chat got a message within ``per_chat_interval``.

    One statement, ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``: on
    PostgreSQL concurrent claimers skip each other's rows; SQLite has a single writer, which makes
    the statement atomic (SQLAlchemy renders no FOR UPDATE there). Delivery is exactly once
    except when a worker dies between sending and marking: its row is sent again after the
    lease expires (at-least-once in that crash case only).
    """
    row = Notification
    earlier = aliased(Notification, name="earlier")
    recent = aliased(Notification, name="recent")
    expired_lease = and_(
        col(row.status) == NotificationStatus.SENDING.value, col(row.claimed_until) < now
    )
    due = and_(col(row.status) == NotificationStatus.PENDING.value, col(row.not_before) <= now)
    earlier_in_flight = exists().where(
        col(earlier.chat_id) == col(row.chat_id),
        col(earlier.id) < col(row.id),
        col(earlier.status).in_(_IN_FLIGHT),
    )
    sent_recently = exists().where(
        col(recent.chat_id) == col(row.chat_id),
        col(recent.status) == NotificationStatus.SENT.value,
        col(recent.sent_at) > now - per_chat_interval,
    )
    claimable = (
        select(col(row.id))
        # The redundant IN lets both databases walk the small partial index of rows in flight.
        .where(col(row.status).in_(_IN_FLIGHT))
        .where(or_(due, expired_lease), ~earlier_in_flight, ~sent_recently)
        .order_by(col(row.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(Notification)
        .where(col(Notification.id).in_(claimable))
        .values(
            status=NotificationStatus.SENDING.value,
            claimed_by=worker_id,
            claimed_until=now + lease,
        )
        .returning(Notification)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list((await session.exec(statement)).scalars().all())
    return sorted(claimed, key=lambda n: n.id or 0)


def _claimed(notification_id: int, worker_id: str) -> tuple[ColumnElement[bool], ...]:
    """A row still claimed by this worker (not re-claimed by another after a lease expiry)."""
    return (
        col(Notification.id) == notification_id,
        col(Notification.claimed_by) == worker_id,
        col(Notification.status) == NotificationStatus.SENDING.value,
    )


async def _mark(
    session: AsyncSession, notification_id: int, worker_id: str, **values: object
) -> bool:
    result = await session.exec(
        update(Notification)
        .where(*_claimed(notification_id, worker_id))
        .values(claimed_by=None, claimed_until=None, **values)
    )
    return bool(result.rowcount)


async def mark_sent(
    *,
    session: AsyncSession,
    notification_id: int,
    worker_id: str,
    message_id: int | None,
    now: datetime,
) -> bool:
    """Record a delivery; False when the row is no longer this worker's."""
    return await _mark(
        session,
        notification_id,
        worker_id,
        status=NotificationStatus.SENT.value,
        sent_at=now,
        message_id=message_id,
    )


async def mark_retry(
    *,
    session: AsyncSession,
    notification_id: int,
    worker_id: str,
    error: str | None,
    not_before: datetime,
    count_attempt: bool,
) -> bool:
    """Put the row back in the queue until ``not_before``; ``error`` None keeps the last one."""
    values: dict[str, object] = {
        "status": NotificationStatus.PENDING.value,
        "not_before": not_before,
    }
    if error is not None:
        values["last_error"] = error
    if count_attempt:
        values["attempts"] = col(Notification.attempts) + 1
    return await _mark(session, notification_id, worker_id, **values)


async def mark_dead(
    *, session: AsyncSession, notification_id: int, worker_id: str, error: str
) -> bool:
    """Give up on the row after a failed attempt (superadmins see dead rows)."""
    return await _mark(
        session,
        notification_id,
        worker_id,
        status=NotificationStatus.DEAD.value,
        attempts=col(Notification.attempts) + 1,
        last_error=error,
    )


async def mark_unreachable(
    *, session: AsyncSession, notification_id: int, worker_id: str, error: str
) -> bool:
    """The recipient blocked the bot: this row and the chat's other pending rows are unreachable.

    The citizen (if the row is for one) is marked unreachable too, which their report cards
    show; writing to the bot again makes them reachable (storage.citizens.upsert_citizen).
    """
    # The row is updated first: that statement takes SQLite's write lock for the transaction.
    marked = (
        await session.exec(
            update(Notification)
            .where(*_claimed(notification_id, worker_id))
            .values(
                status=NotificationStatus.UNREACHABLE.value,
                claimed_by=None,
                claimed_until=None,
                attempts=col(Notification.attempts) + 1,
                last_error=error,
            )
            .returning(col(Notification.chat_id), col(Notification.citizen_id))
        )
    ).first()
    if marked is None:
        return False
    chat_id, citizen_id = marked
    await session.exec(
        update(Notification)
        .where(
            col(Notification.chat_id) == chat_id,
            col(Notification.status) == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.UNREACHABLE.value, last_error=error)
    )
    if citizen_id is not None:
        await session.exec(
            update(Citizen).where(col(Citizen.id) == citizen_id).values(reachable=False)
        )
    return True


async def dead_notifications(*, session: AsyncSession, limit: int) -> list[Notification]:
    """The most recent notifications given up on, newest first (for superadmins)."""
    found = await session.exec(
        select(Notification)
        .where(col(Notification.status) == NotificationStatus.DEAD.value)
        .order_by(col(Notification.id).desc())
        .limit(limit)
    )
    return list(found.all())


async def count_by_status(*, session: AsyncSession) -> dict[str, int]:
    """How many notifications are in each status (statuses with none are left out)."""
    found = await session.exec(
        select(col(Notification.status), func.count()).group_by(col(Notification.status))
    )
    return {status: count for status, count in found.all()}


async def release_claims(*, session: AsyncSession, worker_id: str) -> int:
    """Put every row this worker still holds (``sending``) back in the queue, at once.

    For a graceful stop: rows claimed but not delivered are due again for another process (or
    the next start) instead of waiting for their lease to run out. Returns how many.
    """
    result = await session.exec(
        update(Notification)
        .where(
            col(Notification.claimed_by) == worker_id,
            col(Notification.status) == NotificationStatus.SENDING.value,
        )
        .values(status=NotificationStatus.PENDING.value, claimed_by=None, claimed_until=None)
    )
    return int(result.rowcount or 0)


# Finished rows: delivered, given up on, or for a chat that blocked the bot.
FINISHED = (
    NotificationStatus.SENT.value,
    NotificationStatus.DEAD.value,
    NotificationStatus.UNREACHABLE.value,
)


async def prune_finished(
    *, session: AsyncSession, before: datetime, open_statuses: Iterable[str]
) -> int:
    """Delete finished notifications created before ``before``; returns how many.

    Rows about a report that is still open (``open_statuses``) are kept whatever their age:
    their dedupe keys (an overdue escalation per deadline) stop a duty from sending the same
    notice again while the report stays in that stage.
    """
    still_open = select(col(Complaint.id)).where(col(Complaint.status).in_(list(open_statuses)))
    result = await session.exec(
        delete(Notification).where(
            col(Notification.status).in_(FINISHED),
            col(Notification.created_at) < before,
            or_(
                col(Notification.complaint_id).is_(None),
                col(Notification.complaint_id).not_in(still_open),
            ),
        )
    )
    return int(result.rowcount or 0)
