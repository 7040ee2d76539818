"""Redelivered Telegram updates are recognised by their update_id and skipped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import upsert_insert
from storage.models import ProcessedUpdate


async def already_processed(*, session: AsyncSession, update_ids: Iterable[int]) -> bool:
    """Whether any of these updates was handled before."""
    ids = list(update_ids)
    found = await session.exec(
        select(ProcessedUpdate.update_id).where(col(ProcessedUpdate.update_id).in_(ids))
    )
    return found.first() is not None


async def claim_updates(*, session: AsyncSession, update_ids: Iterable[int], now: datetime) -> bool:
    """Record the updates as handled, in the transaction that handles them; False when one of
    them was handled before (the caller then rolls back, which also forgets the others).

    One statement instead of a look-up and a later insert. On PostgreSQL a second process
    handling the same update waits here until the first one's transaction ends, then finds it.
    """
    ids = sorted(set(update_ids))
    rows = [{"update_id": i, "processed_at": now} for i in ids]
    statement = upsert_insert(session)(ProcessedUpdate).values(rows).on_conflict_do_nothing()
    result = await session.exec(statement)
    return int(result.rowcount or 0) == len(ids)


async def prune_processed(*, session: AsyncSession, before: datetime) -> int:
    """Forget updates handled before ``before`` (Telegram redelivers for at most 24 h)."""
    result = await session.exec(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < before)
    )
    return int(result.rowcount or 0)
