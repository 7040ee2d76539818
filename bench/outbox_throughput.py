"""Benchmark: the outbox dispatcher draining a backlog through a runtime's real sender.

The emulator (bot/sandbox) answers 429 above ``--rate`` sends per second, like Telegram's
~30/s; the dispatcher is configured to the same rate, with Telegram's 1 s per-chat interval
(with thousands of chats that interval never binds). Prints the sustained rate (goal: at least
95 % of the limit), 429s met (goal 0), duplicates (must be 0) and peak memory. The emulator
runs in the same process, so its work and memory are included.

Run: make bench   (or .venv/bin/python bench/outbox_throughput.py --count 10000 --chats 2000
     --rate 30 [--postgres] [--runtime ptb]); the defaults take about 6 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import telegram_client
from bot.core.replies import Message
from bot.outbox import DispatchReport, OutboxDispatcher
from bot.processing import system_clock
from bot.sandbox.emulator import Emulator
from bot.settings import RuntimeName, Settings
from storage.database import create_engine, migrate, session_factory
from storage.outbox import Audience, count_by_status, enqueue
from storage.unit_of_work import UnitOfWork
from tests.support.databases import POSTGRES_URL, postgres_schema

TOKEN = "123456:BENCH-TOKEN"
FIRST_CHAT = 500_000


@asynccontextmanager
async def database(postgres: bool) -> AsyncIterator[tuple[str, str | None]]:
    """A fresh database: a temporary SQLite file, or a throw-away PostgreSQL schema."""
    if postgres:
        async with postgres_schema() as schema:
            yield POSTGRES_URL, schema
        return
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite+aiosqlite:///{folder}/bench.db", None


async def run(count: int, chats: int, rate: float, postgres: bool, runtime: str) -> None:
    async with (
        Emulator(TOKEN, rate_limit_per_second=rate) as emulator,
        database(postgres) as (url, schema),
    ):
        for n in range(chats):
            emulator.add_user(FIRST_CHAT + n, f"Warga {n}")
        engine = create_engine(url, schema=schema)
        await migrate(engine)
        sessions = session_factory(engine)
        started = time.perf_counter()
        async with UnitOfWork(sessions) as uow:
            for n in range(count):
                await enqueue(
                    session=uow.session,
                    chat_id=FIRST_CHAT + n % chats,
                    message=Message(
                        f"Laporan TPI-2026-{n:06d}: status berubah menjadi <b>diproses</b>."
                    ),
                    audience=Audience.CITIZEN,
                    now=system_clock(),
                )
            await uow.commit()
        print(
            f"queued {count} notifications to {chats} chats "
            f"in {time.perf_counter() - started:.1f} s"
        )

        settings = Settings(
            _env_file=None,
            telegram_bot_token=TOKEN,
            telegram_api_url=emulator.base_url,
            runtime=RuntimeName(runtime),
        )  # type: ignore[call-arg]
        client = telegram_client(settings)
        await client.open()
        dispatcher = OutboxDispatcher(
            sessions=sessions,
            sender=client.sender,
            clock=system_clock,
            worker_id="bench",
            rate_per_second=rate,
            per_chat_interval=1.0,
        )
        total = DispatchReport()
        limit = count / rate * 2 + 60
        started = time.perf_counter()
        try:
            while total.sent + total.dead + total.unreachable < count:
                left = limit - (time.perf_counter() - started)
                if left <= 0:
                    print("stopped: time limit reached")
                    break
                report = await dispatcher.run_until_idle(min(left, 30.0))
                total.add(report)
                elapsed = time.perf_counter() - started
                print(
                    f"  {elapsed:6.1f} s: {total.sent} sent ({total.sent / elapsed:.1f}/s)",
                    flush=True,
                )
                if report.claimed == 0 and report.paused_until is None:
                    await asyncio.sleep(0.2)  # only rows backing off remain
            elapsed = time.perf_counter() - started
        finally:
            await client.close()
        async with UnitOfWork(sessions) as uow:
            statuses = await count_by_status(session=uow.session)
        await engine.dispose()

        delivered = [m["text"] for n in range(chats) for m in emulator.messages(FIRST_CHAT + n)]
        duplicates = len(delivered) - len(set(delivered))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sustained = total.sent / elapsed
        print(
            f"{runtime}, {'postgresql' if postgres else 'sqlite'}: {total.sent} of {count} "
            "notifications "
            f"to {chats} chats in {elapsed:.1f} s = {sustained:.2f}/s sustained "
            f"({sustained / rate:.1%} of the {rate:g}/s limit)"
        )
        print(
            f"429s: {emulator.stats.too_many_requests}; retried {total.retried}, "
            f"dead {total.dead}; duplicates: {duplicates}; rows by status: {statuses}"
        )
        print(f"peak RSS of the process (dispatcher + emulator): {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="notifications queued")
    parser.add_argument("--chats", type=int, default=2_000, help="distinct recipients")
    parser.add_argument("--rate", type=float, default=30.0, help="the emulator's limit, per s")
    parser.add_argument("--postgres", action="store_true", help="use the test PostgreSQL server")
    parser.add_argument("--runtime", choices=[r.value for r in RuntimeName], default="aiogram")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.count, args.chats, args.rate, args.postgres, args.runtime))


if __name__ == "__main__":
    main()
