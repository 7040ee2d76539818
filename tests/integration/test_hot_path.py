"""The statements one routine update costs: each is a round trip through the async driver and
SQLAlchemy (measured at ~0.4–0.6 ms of CPU each on SQLite, docs/PERFORMANCE.md), so the hot
path keeps to the few it needs. A count, not a timing: it fails when a change adds a query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App, build_app
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen, FakeClock


@pytest.fixture
async def app(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[App]:
    built = await build_app(make_settings(tmp_path), clock=FakeClock(), engine=engine)
    try:
        yield built
    finally:
        await built.close()


async def test_a_step_of_a_draft_takes_one_query_per_thing_it_needs(
    app: App, engine: AsyncEngine
) -> None:
    siti = Citizen(app)
    await siti.say("/new")
    await siti.press("i:kind:complaint")
    await siti.press("i:category:1")
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(" ".join(args[2].split()[:4]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await siti.say("Lampu jalan mati di Jl. Ganet sejak Senin malam, gelap sekali.")
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert "lokasi" in siti.text.lower()  # the flow went on to the next question
    # Who is writing (citizen and staff role in one), the dedupe mark, the draft read and
    # written; on PostgreSQL also the per-chat lock (bot/workers.py).
    expected = 4 + (engine.dialect.name == "postgresql")
    assert len(statements) == expected, statements
