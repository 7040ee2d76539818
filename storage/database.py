"""The async engine, sessions, and schema migrations (Alembic) applied from code.

Engines are created with ``hide_parameters=True``: SQLAlchemy then never puts a statement's
bound parameters (descriptions, names, phone numbers) into an exception's message, so a
database error can be logged without personal data (ARCHITECTURE rule 11).
``is_connection_error`` tells "the database is unreachable" apart from a real error, for the
start-up wait (bot/app.py) and the scheduler's outage handling (bot/jobs.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SessionFactory = async_sessionmaker[AsyncSession]


def async_url(url: str) -> str:
    """A database URL with its async driver: plain ``postgresql://`` / ``postgres://`` /
    ``sqlite://`` (the forms people and libpq use) become asyncpg / aiosqlite URLs."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def dialect_of(session: AsyncSession) -> str:
    """The session's database: "postgresql" or "sqlite" (the supported ones)."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def upsert_insert(session: AsyncSession) -> Callable[..., Any]:
    """The session's dialect's ``insert``, which has ``on_conflict_do_nothing``."""
    return postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine; SQLite gets its folder, WAL and foreign keys; ``schema`` pins PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(
        url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True
    )


# asyncpg's errors that mean the server or the connection went away (not a failed statement).
_ASYNCPG_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # includes ConnectionDoesNotExistError ("connection is closed")
    asyncpg.CannotConnectNowError,  # starting up / shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) means the database cannot be reached right now.

    True for SQLAlchemy's ``OperationalError`` / ``InterfaceError`` / ``DisconnectionError``, any
    ``DBAPIError`` that invalidated its connection, ``OSError`` (refused, reset, timeouts) and
    asyncpg's / sqlite3's connection-level errors; False for a failed statement (an integrity
    error, a bad query), which is a bug to report with its traceback.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            OSError
            | sa_exc.OperationalError
            | sa_exc.InterfaceError
            | sa_exc.DisconnectionError
            | sqlite3.OperationalError
            | sqlite3.InterfaceError,
        ):
            return True
        if isinstance(current, _ASYNCPG_CONNECTION_ERRORS):
            return True
        if isinstance(current, sa_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            orig = current.orig
            pending.append(orig if isinstance(orig, BaseException) else None)
        pending.extend((current.__cause__, current.__context__))
    return False


def describe_connection_error(error: BaseException) -> str:
    """A one-line description of a connection error, without statement or parameters."""
    inner: BaseException = error
    while isinstance(inner, sa_exc.DBAPIError) and isinstance(inner.orig, BaseException):
        inner = inner.orig
    text = str(inner).splitlines()[0] if str(inner) else ""
    return f"{type(inner).__name__}: {text}"[:300] if text else type(inner).__name__


async def ping(engine: AsyncEngine) -> None:
    """Open a connection and run ``SELECT 1``; raises when the database cannot be reached."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL survives an application crash; only a power cut can lose the last
    # commits. FULL would fsync every update and cap a busy bot at a few dozen updates/s.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini needed at run time)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
