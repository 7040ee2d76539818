"""The public page on its own aiohttp server on 127.0.0.1, over a seeded database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import prepare_database
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.opendata.page import PublicPage
from storage.database import session_factory
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings

T = TypeVar("T")


@dataclass
class Served:
    """A running public page: its address, the page object, what was seeded, the queries."""

    url: str
    page: PublicPage
    seeded: Any
    clock: list[datetime]
    statements: list[str] = field(default_factory=list)


@asynccontextmanager
async def serve_public_page(
    engine: AsyncEngine,
    tmp_path: Path,
    *,
    seed: Callable[[AsyncSession], Awaitable[T]],
    now: datetime,
    calendar: WorkingCalendar,
    leaflet_dir: Path | None = None,
    **settings: object,
) -> AsyncIterator[Served]:
    """Migrate, seed, and serve ``PublicPage`` at ``Served.url`` until the block ends."""
    values = make_settings(tmp_path, **settings)
    await prepare_database(values, engine)
    sessions = session_factory(engine)
    async with UnitOfWork(sessions) as uow:
        seeded = await seed(uow.session)
        await uow.commit()
    clock = [now]
    page = PublicPage(
        sessions=sessions,
        translator=Translator.load(),
        calendar=calendar,
        settings=values,
        clock=lambda: clock[0],
        **({"leaflet_dir": leaflet_dir} if leaflet_dir is not None else {}),
    )
    app = web.Application()
    page.add_routes(app)
    served = Served("", page, seeded, clock)

    # Every statement the page sends to the database, to show what the cache spares it.
    def record(*args: Any) -> None:
        served.statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    served.url = str(server.make_url("")).rstrip("/")
    try:
        yield served
    finally:
        await server.close()
        event.remove(engine.sync_engine, "before_cursor_execute", record)
