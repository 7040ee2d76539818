"""Real databases for tests: a fresh SQLite file, or a fresh schema on the PostgreSQL server."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from storage.database import async_url

# Either form works: postgresql://… (as psql and the README write it) or postgresql+asyncpg://….
POSTGRES_URL = async_url(
    os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)


def sqlite_url(folder: Path) -> str:
    """A SQLite database file in the test's folder."""
    return f"sqlite+aiosqlite:///{folder / 'aduan.db'}"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _connect_admin() -> asyncpg.Connection:
    """A connection to the test server (skips with the reason when there is none)."""
    try:
        return await asyncpg.connect(_dsn(POSTGRES_URL), timeout=3)
    except (OSError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {error}"
        if os.environ.get("ADUAN_REQUIRE_POSTGRES"):
            pytest.fail(reason)  # CI promises a server: a missing one must not pass silently
        pytest.skip(reason)


@asynccontextmanager
async def postgres_database(prefix: str = "aduan_test") -> AsyncIterator[str]:
    """A throw-away database on the test server, for separate processes: its plain URL."""
    admin = await _connect_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = _dsn(POSTGRES_URL).rpartition("/")
        yield f"{base}/{name}"
    finally:
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A throw-away schema on the test server (skips with the reason when there is none)."""
    connection = await _connect_admin()
    schema = f"aduan_test_{uuid.uuid4().hex[:12]}"
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()
