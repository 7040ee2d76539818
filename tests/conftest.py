"""Shared fixtures: settings on a temporary database, real SQLite and PostgreSQL engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from storage.database import create_engine
from tests.support.databases import POSTGRES_URL, postgres_schema, sqlite_url

TEST_TOKEN = "123456:TEST-TOKEN"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings isolated from the developer's .env and environment."""
    values: dict[str, object] = {
        "telegram_bot_token": TEST_TOKEN,
        "database_url": sqlite_url(tmp_path),
        "album_wait_seconds": 0.3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings on a fresh SQLite file."""
    return make_settings(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of each kind (PostgreSQL: a fresh schema, dropped afterwards)."""
    if request.param == "sqlite":
        engine = create_engine(sqlite_url(tmp_path))
        yield engine
        await engine.dispose()
        return
    async with postgres_schema() as schema:
        engine = create_engine(POSTGRES_URL, schema=schema)
        yield engine
        await engine.dispose()
