"""Benchmark: what one `SELECT` by primary key costs through each layer under the bot.

The same query (a citizen by Telegram id) through SQLModel's async session (what the hot path
uses), through the same session as a text statement, through aiosqlite directly, and through
`sqlite3` in the calling thread. Prints CPU and wall microseconds per call (CPU counts the
aiosqlite thread too). The difference between the first and the last is the price of the
async ORM stack per statement (docs/PERFORMANCE.md: the bound on the bot's CPU per update).

Run: .venv/bin/python bench/statement_cost.py [calls]   (make bench runs it with 2,000)
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlmodel import select

from storage.database import create_engine, migrate, session_factory
from storage.models import Citizen

TELEGRAM_ID = 5


async def timed(label: str, calls: int, call: Callable[[], Awaitable[Any]]) -> None:
    await call()  # warm the caches
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<34} CPU {cpu / calls * 1e6:7.0f} µs   wall {wall / calls * 1e6:7.0f} µs")


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/cost.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        sessions = session_factory(engine)
        async with sessions() as session:
            session.add(Citizen(telegram_id=TELEGRAM_ID, first_name="Siti"))
            await session.commit()
        async with sessions() as session:
            query = select(Citizen).where(Citizen.telegram_id == TELEGRAM_ID)
            raw = text("SELECT id FROM citizen WHERE telegram_id = :t")

            async def orm() -> Any:
                return (await session.exec(query)).first()

            async def core_text() -> Any:
                return (await session.exec(raw, params={"t": TELEGRAM_ID})).first()  # type: ignore[call-overload]

            await timed("SQLModel async session, ORM", calls, orm)
            await timed("SQLModel async session, text", calls, core_text)
            connection = await (await session.connection()).get_raw_connection()
            driver = connection.driver_connection
            assert driver is not None

            async def aiosqlite_direct() -> Any:
                cursor = await driver.execute(
                    "SELECT id FROM citizen WHERE telegram_id = ?", (TELEGRAM_ID,)
                )
                return await cursor.fetchall()

            await timed("aiosqlite directly", calls, aiosqlite_direct)
        await engine.dispose()
        plain = sqlite3.connect(path)

        async def in_thread() -> Any:
            sql = "SELECT id FROM citizen WHERE telegram_id = ?"
            return plain.execute(sql, (TELEGRAM_ID,)).fetchall()

        await timed("sqlite3 in the calling thread", calls, in_thread)
        plain.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
