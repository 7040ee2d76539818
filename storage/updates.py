"""Redelivered Telegram updates are recognised by their update_id and skipped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ProcessedUpdate


async def already_processed(*, session: AsyncSession, update_ids: Iterable[int]) -> bool:
    """Whether any of these updates was handled before."""
    ids = list(update_ids)
    found = await session.exec(
        select(ProcessedUpdate.update_id).where(col(ProcessedUpdate.update_id).in_(ids))
    )
    return found.first() is not None


async def mark_processed(
    *, session: AsyncSession, update_ids: Iterable[int], now: datetime
) -> None:
    """Record the updates as handled, in the same transaction as their effects."""
    session.add_all(ProcessedUpdate(update_id=i, processed_at=now) for i in update_ids)
    await session.flush()


async def prune_processed(*, session: AsyncSession, before: datetime) -> int:
    """Forget updates handled before ``before`` (Telegram redelivers for at most 24 h)."""
    result = await session.exec(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < before)
    )
    return int(result.rowcount or 0)
