"""The training sandbox: the emulator, the real bot on its own SQLite file, and the web page.

No token and no internet: the bot talks to the in-process Bot API emulator over HTTP on
127.0.0.1 exactly as it would talk to Telegram, and the page lets a trainer act as a citizen,
a city admin and an agency liaison officer side by side. Every start begins from an empty
sandbox database, because the emulator's chats (and its update ids) start empty too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlmodel import col, select

from bot.app import App, ConnectedApp, connect_app
from bot.core.lifecycle import Role
from bot.sandbox.emulator import Emulator
from bot.sandbox.people import ADMIN, CITIZEN, OFFICER, SAMPLE_CITIZENS, Person
from bot.sandbox.scenario import load_scenario
from bot.sandbox.web import Participant, SandboxWeb
from bot.settings import BotMode, Settings
from storage.models import Agency, Staff
from storage.unit_of_work import UnitOfWork

__all__ = ["SANDBOX_TOKEN", "Sandbox", "SandboxOptions", "sandbox_settings", "serve"]

log = logging.getLogger(__name__)

# A well-formed token the real Telegram never issued: the sandbox cannot reach Telegram anyway.
SANDBOX_TOKEN = "100000001:SANDBOX-no-real-telegram-token"
DEFAULT_DATABASE = Path("data/sandbox.db")
DEFAULT_PORT = 8800
READY_WAIT = 30.0


@dataclass
class SandboxOptions:
    """How the sandbox starts."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database: Path = DEFAULT_DATABASE
    scenario: bool = False
    language: str = "id"  # the simulated users' Telegram language
    officer_agency: str = "pupr"  # agency code; the first active agency when it is unknown
    people: list[Person] = field(default_factory=lambda: [CITIZEN, ADMIN, OFFICER])


def sandbox_settings(base: Settings, *, api_url: str, database: Path, admin_id: int) -> Settings:
    """The city's settings, pointed at the emulator and the sandbox database, no quiet hours."""
    return base.model_copy(
        update={
            "telegram_bot_token": SANDBOX_TOKEN,
            "telegram_api_url": api_url,
            "database_url": f"sqlite+aiosqlite:///{database}",
            "http_listen": "off",  # the page is the sandbox's only web server
            "bot_mode": BotMode.POLLING,
            "admin_ids": [admin_id],
            # Training happens at any hour, and notifications should show up promptly.
            "quiet_hours": "",
            "outbox_interval_seconds": min(base.outbox_interval_seconds, 0.5),
        }
    )


def _remove_database(database: Path) -> None:
    """Delete the sandbox's SQLite file and its WAL companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            database.with_name(database.name + suffix).unlink()


async def make_officer(app: App, officer: Person, agency_code: str) -> Agency:
    """Make the simulated officer the liaison officer (agency_admin) of an agency."""
    async with UnitOfWork(app.sessions) as uow:
        agencies = (
            await uow.session.exec(
                select(Agency).where(col(Agency.active)).order_by(col(Agency.id))
            )
        ).all()
        if not agencies:
            raise RuntimeError("the reference data has no active agency")
        agency = next((a for a in agencies if a.code == agency_code), agencies[0])
        name = " ".join(p for p in (officer.first_name, officer.last_name) if p)
        uow.session.add(
            Staff(
                telegram_id=officer.user_id,
                name=name,
                username=officer.username,
                role=Role.AGENCY_ADMIN,
                agency_id=agency.id,
            )
        )
        await uow.commit()
    return agency


class Sandbox:
    """Emulator + bot + page, started and stopped together."""

    def __init__(self, base: Settings, options: SandboxOptions | None = None) -> None:
        """Prepare; nothing runs until :meth:`start`."""
        self.base = base
        self.options = options = options or SandboxOptions()
        samples = SAMPLE_CITIZENS if options.scenario else ()
        self.people: list[Person] = [*options.people, *samples]
        self.emulator = Emulator(
            SANDBOX_TOKEN,
            bot_username="aduan_sandbox_bot",
            bot_name="Aduan",
            bot_id=100000001,
        )
        self.app: App | None = None
        self.web: SandboxWeb | None = None
        self.agency: Agency | None = None
        self.scenario_codes: list[str] = []
        self._bot: ConnectedApp | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        if self.web is None:
            raise RuntimeError("the sandbox is not started")
        return self.web.url

    def person(self, role: str) -> Person:
        """The first simulated user playing ``role``."""
        return next(p for p in self.people if p.role == role)

    async def start(self) -> None:
        """Start the emulator, the bot (fresh database), the scenario if asked, then the page."""
        await self.emulator.start()
        try:
            await self._start_bot()
            await self._start_web()
        except BaseException:
            await self.stop()
            raise

    async def _start_bot(self) -> None:
        options = self.options
        for person in self.people:
            self.emulator.add_user(
                person.user_id,
                person.first_name,
                last_name=person.last_name,
                username=person.username,
                language_code=person.language or options.language,
            )
        admin = self.person("admin")
        _remove_database(options.database)
        settings = sandbox_settings(
            self.base,
            api_url=self.emulator.base_url,
            database=options.database,
            admin_id=admin.user_id,
        )
        # The bot connects to the emulator (getMe) before anything is built: see bot/app.py.
        self._bot = bot = await connect_app(settings)
        self.app = app = bot.app
        self.agency = await make_officer(app, self.person("officer"), options.officer_agency)
        if options.scenario:
            self.scenario_codes = await load_scenario(self, language=options.language)
        runtime = bot.runtime
        self._task = asyncio.create_task(runtime.run(), name="sandbox-bot")
        ready = asyncio.create_task(runtime.ready.wait())
        await asyncio.wait({self._task, ready}, timeout=READY_WAIT, return_when="FIRST_COMPLETED")
        ready.cancel()
        if self._task.done():
            self._task.result()  # the bot failed to start: raise its error
        if not runtime.ready.is_set():
            raise RuntimeError(f"the bot did not start within {READY_WAIT:g} s")

    async def _start_web(self) -> None:
        options = self.options
        participants = [
            Participant(
                p.user_id,
                p.name,
                p.role,
                p.language or options.language,
                detail=self.agency.short_name if p.role == "officer" and self.agency else "",
            )
            for p in self.people
        ]
        self.web = SandboxWeb(
            self.emulator,
            participants,
            info={
                "scenario": self.scenario_codes,
                "database": str(options.database),
                "timezone": self.base.timezone,
            },
        )
        await self.web.start(options.host, options.port)

    async def stop(self) -> None:
        """Stop the page, the bot (letting it finish its work) and the emulator."""
        if self.web is not None:
            await self.web.stop()
        if self._task is not None and self._bot is not None:
            self._bot.runtime.stop()
            try:
                await asyncio.wait_for(self._task, READY_WAIT)
            except Exception:
                log.exception("the sandbox bot stopped with an error")
            self._task = None
        if self._bot is not None:
            await self._bot.close()  # the client, then the database
            self._bot = None
            self.app = None
        await self.emulator.stop()

    async def __aenter__(self) -> Self:
        """Start on entering ``async with``."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on leaving ``async with``."""
        await self.stop()


async def serve(base: Settings, options: SandboxOptions, stop: asyncio.Event) -> None:
    """Run the sandbox until ``stop`` is set, telling the user where the page is."""
    async with Sandbox(base, options) as sandbox:
        print(f"Aduan sandbox: open {sandbox.url} in your browser (Ctrl+C stops it).", flush=True)
        if sandbox.scenario_codes:
            print(f"Sample reports loaded: {', '.join(sandbox.scenario_codes)}", flush=True)
        await stop.wait()
