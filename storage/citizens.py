"""Citizens: found or registered by Telegram id."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.events import Sender
from storage.models import Citizen


async def upsert_citizen(*, session: AsyncSession, sender: Sender) -> Citizen:
    """The citizen behind ``sender``, registered on first contact and kept up to date."""
    citizen = (
        await session.exec(select(Citizen).where(Citizen.telegram_id == sender.user_id))
    ).first()
    if citizen is None:
        citizen = Citizen(telegram_id=sender.user_id)
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
    return citizen
