"""The outbox: notifications written with the change they tell about, delivered later."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.replies import Message
from storage.models import Notification


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
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Notification).values(**values)
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    await session.exec(statement)
