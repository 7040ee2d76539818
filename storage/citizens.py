"""Citizens: found or registered by Telegram id."""

from __future__ import annotations

from typing import NamedTuple

from sqlmodel import and_, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.events import Sender
from storage.models import Citizen, Staff
from storage.staff import active_staff


class Identity(NamedTuple):
    """Who sent an update: always a citizen record, and the staff role if they have one."""

    citizen: Citizen
    staff: Staff | None


async def upsert_citizen(*, session: AsyncSession, sender: Sender) -> Identity:
    """The citizen behind ``sender``, registered on first contact and kept up to date, with
    their active staff record: one query for everyone who wrote before (every update asks)."""
    query = (
        select(Citizen, Staff)
        .outerjoin(Staff, and_(Staff.telegram_id == Citizen.telegram_id, col(Staff.active)))
        .where(Citizen.telegram_id == sender.user_id)
    )
    found = (await session.exec(query)).first()
    if found is None:
        citizen = Citizen(telegram_id=sender.user_id)
        staff = await active_staff(session=session, telegram_id=sender.user_id)
    else:
        citizen, staff = found
    changed = (citizen.first_name, citizen.last_name, citizen.username) != (
        sender.first_name[:128],
        sender.last_name,
        sender.username,
    )
    # Writing to the bot again means they unblocked it: notifications can reach them.
    changed = changed or not citizen.reachable
    citizen.reachable = True
    if changed or citizen.id is None:
        citizen.first_name = sender.first_name[:128]
        citizen.last_name = sender.last_name[:128] if sender.last_name else None
        citizen.username = sender.username
        session.add(citizen)
        await session.flush()
    return Identity(citizen, staff)
