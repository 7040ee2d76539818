"""Benchmark: citizens filing complete reports through the real processor (no Telegram).

Prints updates per second and peak memory for SQLite (and PostgreSQL when reachable).
Run: make bench   (or .venv/bin/python bench/intake_throughput.py [citizens])
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_app
from bot.core.events import Event, Sender
from bot.settings import Settings
from storage.database import create_engine
from tests.support.databases import POSTGRES_URL, postgres_schema

DESCRIPTION = "Lampu jalan mati di Jl. Ganet sejak Senin malam, gelap dan rawan kecelakaan."


def script(user: int, category: int) -> list[dict[str, object]]:
    """The updates of one complete filing."""
    steps: list[dict[str, object]] = [
        {"text": "/new"},
        {"callback_data": "i:kind:complaint"},
        {"callback_data": f"i:category:{category}"},
        {"text": DESCRIPTION},
        {"text": "Jl. Ganet, Tanjungpinang Timur"},
        {"callback_data": "i:attachments:done"},
        {"callback_data": "i:privacy:public"},
        {"callback_data": "i:summary:submit"},
    ]
    return steps


async def run(settings: Settings, citizens: int, schema: str | None) -> tuple[int, float]:
    app = await build_app(settings, engine=create_engine(settings.database_url, schema=schema))
    update_id = 0
    try:

        async def citizen(user: int) -> int:
            nonlocal update_id
            count = 0
            for fields in script(user, 1):
                update_id += 1
                extra = (
                    {"callback_id": f"c{update_id}", "message_id": 1}
                    if "callback_data" in fields
                    else {}
                )
                event = Event(
                    update_id=update_id, chat_id=user, user=Sender(user, "Bench"), **fields, **extra
                )  # type: ignore[arg-type]
                await app.processor.process(event)
                count += 1
            return count

        started = time.perf_counter()
        counts = await asyncio.gather(*(citizen(10_000 + n) for n in range(citizens)))
        return sum(counts), time.perf_counter() - started
    finally:
        await app.close()


async def main() -> None:
    logging.disable(logging.INFO)
    citizens = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder:
        targets = [("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", None)]
        for name, url, schema in targets:
            await measure(name, url, schema, citizens)
    try:
        async with postgres_schema() as schema:
            await measure("postgresql", POSTGRES_URL, schema, citizens)
    except BaseException as error:  # pytest.skip raises a BaseException subclass
        print(f"postgresql: skipped ({error})")


async def measure(name: str, url: str, schema: str | None, citizens: int) -> None:
    settings = Settings(
        _env_file=None,
        telegram_bot_token="1:x",
        database_url=url,  # type: ignore[call-arg]
        reports_per_day=1000,
    )
    updates, seconds = await run(settings, citizens, schema)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{name}: {citizens} concurrent citizens, {updates} updates in {seconds:.2f} s = "
        f"{updates / seconds:.0f} updates/s; peak RSS of the process {peak:.0f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
