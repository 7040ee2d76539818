"""Keeping a scheduled duty to one process at a time."""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


async def try_singleton(*, session: AsyncSession, name: str) -> bool:
    """Take the duty's lock for this transaction; False when another process holds it.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback. SQLite
    serves one process (its writes are serialised anyway) and the scheduler never runs a job
    twice at once in a process, so there is nothing to take.
    """
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return True
    key = zlib.crc32(f"aduan:{name}".encode())
    result = await session.exec(text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=key))  # type: ignore[call-overload]
    return bool(result.scalar_one())
