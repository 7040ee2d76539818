"""Staff members and their one-time invitations."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.events import Sender
from bot.core.lifecycle import Role
from storage.models import Citizen, Staff, StaffInvite


async def bootstrap_superadmins(*, session: AsyncSession, telegram_ids: Iterable[int]) -> None:
    """Make every id of ADMIN_IDS an active superadmin (the setting is authoritative)."""
    for telegram_id in telegram_ids:
        staff = (await session.exec(select(Staff).where(Staff.telegram_id == telegram_id))).first()
        if staff is None:
            staff = Staff(telegram_id=telegram_id, role=Role.SUPERADMIN)
        staff.role, staff.agency_id, staff.active = Role.SUPERADMIN, None, True
        session.add(staff)
    await session.flush()


async def active_staff(*, session: AsyncSession, telegram_id: int) -> Staff | None:
    """The active staff member with this Telegram id, if any."""
    query = select(Staff).where(Staff.telegram_id == telegram_id, col(Staff.active))
    return (await session.exec(query)).first()


async def get_staff(*, session: AsyncSession, staff_id: int) -> Staff | None:
    """A staff member by id."""
    return await session.get(Staff, staff_id)


async def list_staff(*, session: AsyncSession) -> list[Staff]:
    """Everyone, active first, by role and name."""
    query = select(Staff).order_by(
        col(Staff.active).desc(), col(Staff.role), col(Staff.agency_id), col(Staff.id)
    )
    return list((await session.exec(query)).all())


async def staff_of_agency(*, session: AsyncSession, agency_id: int) -> list[Staff]:
    """The active liaison officers of an agency."""
    query = select(Staff).where(
        Staff.agency_id == agency_id, Staff.role == Role.AGENCY_ADMIN, col(Staff.active)
    )
    return list((await session.exec(query)).all())


async def superadmins(*, session: AsyncSession) -> list[Staff]:
    """The active city admins."""
    query = select(Staff).where(Staff.role == Role.SUPERADMIN, col(Staff.active))
    return list((await session.exec(query)).all())


async def create_invite(
    *,
    session: AsyncSession,
    role: Role,
    agency_id: int | None,
    created_by_id: int,
    now: datetime,
    ttl: timedelta,
) -> StaffInvite:
    """A new one-time invitation."""
    invite = StaffInvite(
        token=secrets.token_urlsafe(18),
        role=role,
        agency_id=agency_id,
        created_by_id=created_by_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.flush()
    return invite


async def redeem_invite(
    *, session: AsyncSession, token: str, sender: Sender, now: datetime
) -> Staff | None:
    """Join with an invitation: None when it is unknown, used or expired.

    The invitation is taken by one conditional UPDATE (``used_at IS NULL``), so of two people
    opening the same link at once exactly one gets it: on PostgreSQL the second waits for the
    first's row lock, then finds the row used and updates nothing.
    """
    invite = (await session.exec(select(StaffInvite).where(StaffInvite.token == token))).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        return None
    staff = (await session.exec(select(Staff).where(Staff.telegram_id == sender.user_id))).first()
    if (
        staff is not None
        and staff.role == Role.SUPERADMIN
        and staff.active
        and invite.role != Role.SUPERADMIN
    ):
        return None  # an invitation never demotes a city admin (and stays unused)
    taken = await session.exec(
        update(StaffInvite)
        .where(
            col(StaffInvite.id) == invite.id,
            col(StaffInvite.used_at).is_(None),
            col(StaffInvite.expires_at) > now,
        )
        .values(used_at=now, used_by=sender.user_id)
        .returning(col(StaffInvite.id))
    )
    if taken.scalar_one_or_none() is None:
        return None  # someone else opened the link first
    if staff is None:
        staff = Staff(telegram_id=sender.user_id, role=invite.role)
    staff.role, staff.agency_id, staff.active = invite.role, invite.agency_id, True
    staff.name = " ".join(p for p in (sender.first_name, sender.last_name) if p)[:200]
    staff.username = sender.username
    session.add(staff)
    await session.flush()
    return staff


async def locale_of(*, session: AsyncSession, telegram_id: int) -> str | None:
    """The language a Telegram user chose in the bot, if any."""
    query = select(Citizen.locale).where(Citizen.telegram_id == telegram_id)
    return (await session.exec(query)).first()
