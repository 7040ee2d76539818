"""The composition root: the one place that builds the bot's parts and wires them together.

Two steps, because tests and benchmarks drive the processor without any Telegram:

- ``build_app`` (no network) → ``App``: settings → database (migrated, reference data loaded)
  → catalogs → calendar → the ``UpdateProcessor`` and the scheduled ``Duties``.
- ``connect_app`` (a running bot) → ``ConnectedApp``: the Telegram client first
  (``telegram_client``, the configured ``RUNTIME``), opened and asked getMe; then ``build_app``
  with that @username; then, on the client's sender, the ``OutboxDispatcher``, the
  ``ReportRunner``, the scheduler (bot/jobs.py: outbox + duties + reports), the
  ``UpdatePipeline`` and the ``BotRuntime`` (bot/runtime.py), which receives all of them and
  builds nothing itself.

Decisions:
- The bot's @username comes from getMe *before* the processor is built (an async build step),
  not from an "identity" object filled in at start: the processor is complete, and read-only,
  from its first update, and nothing the runtime does later reaches into it. The price is that
  the client opens before the database is migrated; a wrong token now fails before the
  database is touched, which is harmless. Without Telegram, ``build_app(bot_username=...)``
  names the bot directly.
- Start order of a run: open client → getMe → database, processor, background work → set
  commands → polling or webhook → scheduler once updates flow (the last three in
  ``BotRuntime.run``). Stop: drain the pipeline, stop the scheduler letting the outbox finish
  its batch (``BotRuntime.run`` returning), then ``ConnectedApp.close``: close the client, then
  dispose of the engine. Whoever opens the client closes it.
- One worker id per process names its claims, in the outbox and in the report jobs alike.
- The frameworks are imported on demand in ``telegram_client``: a process loads only the one it
  runs on, and this module imports neither aiogram nor python-telegram-bot.
- A ``ConnectedApp`` runs once (a stopped dispatcher claims nothing more); connect again to run
  again.
- Observability (issue 13): ``build_app`` makes the app's ``Metrics`` (its own Prometheus
  registry, so several apps can live in one test process) and gives it to the processor;
  ``_wire`` gives it to the dispatcher and the scheduler's jobs, and builds the
  ``Observability`` routes (/healthz, /readyz, /metrics) that the runtime serves on
  ``HTTP_LISTEN``. ``connect_app`` applies ``LOG_FORMAT`` to the process's log handler.
- Open data (issue 14): ``_wire`` builds the Open311 site (bot/opendata/open311.py) on the
  client's sender, which fetches published photos from Telegram, and the public page
  (bot/opendata/page.py), and hands them to the runtime in ``sites`` (any object with
  ``add_routes(app)``); ``OPEN_DATA=false`` builds neither.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.commands import CommandMenu
from bot.core.calendar import WorkingCalendar, load_holidays
from bot.core.i18n import Translator
from bot.duties import Duties
from bot.jobs import build_scheduler
from bot.logs import use_log_format
from bot.metrics import Metrics
from bot.observability import Observability
from bot.opendata.open311 import Open311Site
from bot.opendata.page import PublicPage
from bot.outbox import OutboxDispatcher
from bot.pipeline import UpdatePipeline
from bot.processing import Clock, UpdateProcessor, system_clock
from bot.reports.runner import ReportRunner
from bot.runtime import BotRuntime, Site, TelegramClient
from bot.sending import TelegramSender
from bot.settings import RuntimeName, Settings
from storage.database import (
    SessionFactory,
    create_engine,
    describe_connection_error,
    is_connection_error,
    migrate,
    ping,
    session_factory,
)
from storage.reference import ReferenceCounts, load_reference_data
from storage.staff import bootstrap_superadmins
from storage.unit_of_work import UnitOfWork


@dataclass
class App:
    """The bot's framework-free core, built once: database, catalogs, processor, duties."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    translator: Translator
    calendar: WorkingCalendar
    processor: UpdateProcessor
    duties: Duties
    reference: ReferenceCounts
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def clock(self) -> Clock:
        """The clock every part of this app reads "now" from."""
        return self.processor.clock

    async def close(self) -> None:
        """Release the database."""
        await self.engine.dispose()


@dataclass
class ConnectedApp:
    """The app on an open Telegram client, with its background work and the runtime that runs
    them (``runtime.run()``, then ``close()``)."""

    app: App
    client: TelegramClient
    dispatcher: OutboxDispatcher
    reports: ReportRunner
    scheduler: AsyncIOScheduler
    runtime: BotRuntime
    observability: Observability

    async def close(self) -> None:
        """Close the client's HTTP session, then release the database (after the run)."""
        try:
            await self.client.close()
        finally:
            await self.app.close()


def telegram_client(settings: Settings) -> TelegramClient:
    """A Bot API client of the configured framework (``RUNTIME``), not yet opened."""
    # Imported on demand: a process loads only the framework it runs on.
    if settings.runtime == RuntimeName.PTB:
        from bot.telegram.ptb_runtime import PtbClient

        return PtbClient(settings)
    from bot.telegram.aiogram_runtime import AiogramClient

    return AiogramClient(settings)


def worker_id() -> str:
    """Names this process in claims (outbox, report jobs): host, pid, a random part (≤ 64)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


log = logging.getLogger(__name__)

# The start-up wait for the database: first retry after this long, doubling up to the cap.
DATABASE_RETRY_FIRST_SECONDS = 1.0
DATABASE_RETRY_CAP_SECONDS = 30.0


class DatabaseUnavailable(RuntimeError):
    """The database did not answer within ``DATABASE_WAIT_SECONDS``."""


async def wait_for_database(
    engine: AsyncEngine,
    *,
    wait_seconds: float,
    first_retry: float = DATABASE_RETRY_FIRST_SECONDS,
    retry_cap: float = DATABASE_RETRY_CAP_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait until the database answers: one log line per failed attempt, no traceback.

    Retries after 1 s, 2 s, 4 s … up to ``retry_cap``; ``wait_seconds`` 0 waits forever,
    otherwise ``DatabaseUnavailable`` is raised once that long has passed. An error that is
    not about reaching the database (a wrong password, a missing database) is raised at once.
    SQLite has no server to wait for: a file that cannot be opened fails at once too.
    """
    if engine.dialect.name == "sqlite":
        return
    started = time.monotonic()
    delay, failed = first_retry, False
    target = engine.url.render_as_string(hide_password=True)
    while True:
        try:
            await ping(engine)
        except Exception as error:
            if not is_connection_error(error):
                raise
            reason = describe_connection_error(error)
            waited = time.monotonic() - started
            if wait_seconds and waited + delay > wait_seconds:
                raise DatabaseUnavailable(
                    f"the database at {target} did not answer within {wait_seconds:g} s "
                    f"({reason}); is it running, and is DATABASE_URL right?"
                ) from None
            log.warning("database at %s unavailable (%s); retrying in %g s", target, reason, delay)
            await sleep(delay)
            delay, failed = min(delay * 2, retry_cap), True
            continue
        if failed:
            log.info("database at %s is up", target)
        return


async def prepare_database(settings: Settings, engine: AsyncEngine) -> ReferenceCounts:
    """Wait for the database (``DATABASE_WAIT_SECONDS``), apply migrations, (re)load the
    city's reference data."""
    await wait_for_database(engine, wait_seconds=settings.database_wait_seconds)
    await migrate(engine)
    async with UnitOfWork(session_factory(engine)) as uow:
        counts = await load_reference_data(session=uow.session, path=settings.reference_data)
        await bootstrap_superadmins(session=uow.session, telegram_ids=settings.admin_ids)
        await uow.commit()
    return counts


async def build_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    engine: AsyncEngine | None = None,
    bot_username: str = "",
) -> App:
    """Wire the core from settings (or a given engine); the database is migrated on the way.

    ``bot_username`` is the bot's @username for t.me links (``connect_app`` asks getMe).
    """
    engine = engine or create_engine(settings.database_url)
    try:
        reference = await prepare_database(settings, engine)
        translator = Translator.load(default=settings.default_locale)
        calendar = WorkingCalendar(
            timezone=settings.timezone, holidays=load_holidays(settings.holidays_file)
        )
    except BaseException:
        await engine.dispose()
        raise
    sessions = session_factory(engine)
    metrics = Metrics()
    processor = UpdateProcessor(
        sessions=sessions,
        settings=settings,
        translator=translator,
        calendar=calendar,
        clock=clock,
        bot_username=bot_username,
        serialize_writes=engine.dialect.name == "sqlite",
        metrics=metrics,
    )
    duties = Duties(sessions, translator, calendar, settings)
    return App(
        settings, engine, sessions, translator, calendar, processor, duties, reference, metrics
    )


async def connect_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    engine: AsyncEngine | None = None,
    registers: bool = True,
) -> ConnectedApp:
    """The whole bot, ready to run: the client opened (getMe asked), then everything on it.

    ``registers``: whether its runtime sets the command menu and the webhook (with several
    workers, bot/workers.py, only worker 0 does)."""
    use_log_format(settings.log_format)
    client = telegram_client(settings)
    await client.open()
    try:
        username = await client.bot_username()
        app = await build_app(settings, clock=clock, engine=engine, bot_username=username)
    except BaseException:
        await client.close()
        raise
    return _wire(app, client, registers=registers)


def _open_data(app: App, sender: TelegramSender[Any]) -> list[Site]:
    """The Open311 API and the public page, on the app's data; photos come through ``sender``."""
    return [
        Open311Site(
            sessions=app.sessions,
            translator=app.translator,
            calendar=app.calendar,
            settings=app.settings,
            clock=app.clock,
            download=sender.download,
        ),
        PublicPage(
            sessions=app.sessions,
            translator=app.translator,
            calendar=app.calendar,
            settings=app.settings,
            clock=app.clock,
        ),
    ]


def _wire(app: App, client: TelegramClient, *, registers: bool = True) -> ConnectedApp:
    """The background work and the runtime, on the client's sender and the app's clock."""
    settings, clock, sender = app.settings, app.clock, client.sender
    worker = worker_id()
    dispatcher = OutboxDispatcher(
        sessions=app.sessions,
        sender=sender,
        clock=clock,
        worker_id=worker,
        rate_per_second=settings.outbox_rate_per_second,
        max_attempts=settings.outbox_max_attempts,
        metrics=app.metrics,
    )
    reports = ReportRunner(
        sessions=app.sessions,
        sender=sender,
        translator=app.translator,
        calendar=app.calendar,
        settings=settings,
        clock=clock,
        worker_id=worker,
    )
    scheduler = build_scheduler(
        dispatcher=dispatcher,
        settings=settings,
        duties=app.duties,
        reports=reports,
        clock=clock,
        metrics=app.metrics,
    )
    observability = Observability(
        sessions=app.sessions,
        metrics=app.metrics,
        scheduler=scheduler,
        clock=clock,
        outbox_max_age_seconds=settings.ready_outbox_max_age_seconds,
    )
    pipeline = UpdatePipeline(
        processor=app.processor.process, sender=sender, album_wait=settings.album_wait_seconds
    )
    # Open data (issue 14): served on HTTP_LISTEN unless OPEN_DATA is off.
    sites = _open_data(app, sender) if settings.open_data else []
    runtime = BotRuntime(
        client=client,
        settings=settings,
        pipeline=pipeline,
        menu=CommandMenu(app.translator),
        scheduler=scheduler,
        dispatcher=dispatcher,
        observability=observability,
        registers=registers,
        sites=sites,
    )
    return ConnectedApp(app, client, dispatcher, reports, scheduler, runtime, observability)
