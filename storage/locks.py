"""Keeping a scheduled duty to one process at a time."""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import dialect_of


async def try_singleton(*, session: AsyncSession, name: str) -> bool:
    """Take the duty's lock for this transaction; False when another process holds it.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback. SQLite
    serves one process (its writes are serialised anyway) and the scheduler never runs a job
    twice at once in a process, so there is nothing to take.
    """
    if dialect_of(session) != "postgresql":
        return True
    key = zlib.crc32(f"aduan:{name}".encode())
    result = await session.exec(text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=key))  # type: ignore[call-overload]
    return bool(result.scalar_one())


# The first key of the two-key advisory locks that stand for chats (the two-key space is apart
# from the one-key space of ``try_singleton``).
_CHAT_LOCKS = zlib.crc32(b"aduan:chat") - 2**31


async def lock_chat(*, session: AsyncSession, chat_id: int) -> None:
    """Wait for the chat's lock, held until this transaction ends: one update of a chat at a
    time across processes (bot/processing.py; the measurement is in bot/workers.py).

    PostgreSQL: ``pg_advisory_xact_lock(namespace, chat)``, the chat id folded into 32 bits (two
    chats sharing a key only wait for each other now and then). SQLite: nothing (one process,
    and its writes are serialised).
    """
    if dialect_of(session) != "postgresql":
        return
    key = (chat_id & 0xFFFFFFFF) - 2**31
    statement = text("SELECT pg_advisory_xact_lock(:space, :key)").bindparams(
        space=_CHAT_LOCKS, key=key
    )
    await session.exec(statement)  # type: ignore[call-overload]
