"""The composition root: settings → database → catalogs → calendar → processor → runtime."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.calendar import WorkingCalendar, load_holidays
from bot.core.i18n import Translator
from bot.duties import Duties
from bot.processing import Clock, UpdateProcessor, system_clock
from bot.settings import RuntimeName, Settings
from bot.telegram.commands import CommandMenu
from bot.telegram.runner import BotRuntime, TelegramClient
from storage.database import SessionFactory, create_engine, migrate, session_factory
from storage.reference import ReferenceCounts, load_reference_data
from storage.staff import bootstrap_superadmins
from storage.unit_of_work import UnitOfWork


@dataclass
class App:
    """Everything a running bot is made of, built once."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    translator: Translator
    calendar: WorkingCalendar
    processor: UpdateProcessor
    reference: ReferenceCounts

    @property
    def duties(self) -> Duties:
        """The scheduled duties on this app's database."""
        return Duties(self.sessions, self.translator, self.calendar, self.settings)

    def runtime(self) -> BotRuntime:
        """The configured runtime (``RUNTIME``), wired to this app's processor."""
        return BotRuntime(
            client=telegram_client(self.settings),
            settings=self.settings,
            processor=self.processor,
            menu=CommandMenu(self.translator),
            duties=self.duties,
        )

    async def close(self) -> None:
        """Release the database."""
        await self.engine.dispose()


def telegram_client(settings: Settings) -> TelegramClient:
    """A Bot API client of the configured framework (``RUNTIME``)."""
    # Imported on demand: a process loads only the framework it runs on.
    if settings.runtime == RuntimeName.PTB:
        from bot.telegram.ptb_runtime import PtbClient

        return PtbClient(settings)
    from bot.telegram.aiogram_runtime import AiogramClient

    return AiogramClient(settings)


async def prepare_database(settings: Settings, engine: AsyncEngine) -> ReferenceCounts:
    """Apply migrations and (re)load the city's reference data."""
    await migrate(engine)
    async with UnitOfWork(session_factory(engine)) as uow:
        counts = await load_reference_data(session=uow.session, path=settings.reference_data)
        await bootstrap_superadmins(session=uow.session, telegram_ids=settings.admin_ids)
        await uow.commit()
    return counts


async def build_app(
    settings: Settings, *, clock: Clock = system_clock, engine: AsyncEngine | None = None
) -> App:
    """Wire the bot from settings (or a given engine); the database is migrated on the way."""
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
    processor = UpdateProcessor(
        sessions=sessions,
        settings=settings,
        translator=translator,
        calendar=calendar,
        clock=clock,
        serialize_writes=engine.dialect.name == "sqlite",
    )
    return App(settings, engine, sessions, translator, calendar, processor, reference)
