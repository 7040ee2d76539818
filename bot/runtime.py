"""Running the bot, whichever framework talks to Telegram: the part both runtimes share.

``BotRuntime`` owns the order of a run on an already open client: register the command menu,
receive updates (polling, or webhook on Aduan's own aiohttp server), feed them to the
``UpdatePipeline``, start the scheduler (outbox dispatcher, duties, reports) once updates flow,
and on stop drain the pipeline and stop the scheduler, letting the outbox finish its batch.
A ``TelegramClient`` (bot/telegram/aiogram_runtime.py, bot/telegram/ptb_runtime.py) is only
the framework's translation of these steps.

Decisions:
- The runtime builds nothing. bot/app.py (the composition root) builds the client, the
  processor, the pipeline, the outbox dispatcher, the report runner and the scheduler, and
  hands them over; the runtime only starts and stops them in order.
- The client is opened and closed by whoever opened it (bot/app.py opens it to ask getMe
  before the processor exists, and closes it after ``run`` returns), so closing the HTTP
  session still comes after the outbox batch in flight is finished.
- A runtime runs once: a stopped dispatcher claims nothing more, so a second ``run`` needs a
  newly built app.
- Framework-free (aiohttp is only the webhook's HTTP server): nothing here imports aiogram or
  python-telegram-bot, and bot/outbox.py does not import this module.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlparse

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.commands import CommandMenu
from bot.jobs import stop_scheduler
from bot.outbox import OutboxDispatcher
from bot.pipeline import UpdatePipeline
from bot.sending import BotApi, TelegramSender
from bot.settings import BotMode, Settings
from bot.updates import ALLOWED_UPDATES, UpdateFields, to_event

log = logging.getLogger(__name__)

Accept = Callable[[UpdateFields], "asyncio.Future[None] | None"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram waits about a minute for a webhook answer; answer before it gives up and resends.
WEBHOOK_PROCESSING_SECONDS = 50.0
POLLING_TIMEOUT_SECONDS = 10
# How long one Bot API request may take before it counts as a timeout (aiogram's default; PTB's
# is 5 s, after which a slow but successful send would be retried and arrive twice).
REQUEST_TIMEOUT_SECONDS = 60.0


class TelegramClient(ABC):
    """One framework's Bot API client: its bot, its sender, and how it receives updates."""

    bot: BotApi
    sender: TelegramSender[Any]

    async def open(self) -> None:  # noqa: B027 - most frameworks need nothing here
        """Prepare the client before the first call."""

    @abstractmethod
    async def close(self) -> None:
        """Close the HTTP session (the last step of a run)."""

    @abstractmethod
    def command(self, name: str, description: str) -> object:
        """The framework's ``BotCommand``."""

    @abstractmethod
    async def start_polling(self, accept: Accept) -> None:
        """Long-poll getUpdates in the background, handing each update to ``accept`` in order."""

    @abstractmethod
    async def stop_polling(self) -> None:
        """Stop polling; updates fetched so far have been handed over."""

    @abstractmethod
    def parse(self, data: dict[str, Any]) -> UpdateFields:
        """The framework's Update for a webhook request body."""

    async def bot_username(self) -> str:
        """The bot's @username (getMe)."""
        return (await self.bot.get_me()).username or ""

    async def set_commands(self, language: str | None, commands: list[tuple[str, str]]) -> None:
        """setMyCommands for one language (None: the fallback list)."""
        menu = [self.command(name, description) for name, description in commands]
        await self.bot.set_my_commands(menu, language_code=language)

    async def set_webhook(self, url: str, secret: str) -> None:
        """setWebhook with the secret and ``ALLOWED_UPDATES``."""
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    async def delete_webhook(self) -> None:
        """deleteWebhook, keeping pending updates (polling needs the webhook gone)."""
        await self.bot.delete_webhook(drop_pending_updates=False)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class BotRuntime:
    """Runs the bot on an open client until ``stop`` is called; the scheduler runs alongside."""

    def __init__(
        self,
        *,
        client: TelegramClient,
        settings: Settings,
        pipeline: UpdatePipeline,
        menu: CommandMenu,
        scheduler: AsyncIOScheduler,
        dispatcher: OutboxDispatcher,
    ) -> None:
        self.client = client
        self.settings = settings
        self.pipeline = pipeline
        self.menu = menu
        # The scheduler runs the dispatcher's job; stopping it lets that batch finish first.
        self.scheduler = scheduler
        self.dispatcher = dispatcher
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self._started = False

    def stop(self) -> None:
        """Ask the runtime to finish (safe from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Receive and answer updates until stopped; drains work in flight before returning."""
        if self._started:
            raise RuntimeError("a BotRuntime runs once; build a new app to run again")
        self._started = True
        try:
            for language, commands in self.menu.by_language().items():
                await self.client.set_commands(language, commands)
            if self.settings.bot_mode == BotMode.WEBHOOK:
                await self._run_webhook()
            else:
                await self._run_polling()
            await self.pipeline.drain()
        finally:
            # Notifications stop (finishing the batch in flight) before the client closes.
            await stop_scheduler(self.scheduler, dispatcher=self.dispatcher)

    def _became_ready(self) -> None:
        # Notifications and duties start once updates flow.
        self.scheduler.start()
        self.ready.set()

    async def _run_polling(self) -> None:
        await self.client.delete_webhook()
        try:
            await self.client.start_polling(self._acceptor())
            self._became_ready()
            await self._stop.wait()
        finally:
            await self.client.stop_polling()

    async def _run_webhook(self) -> None:
        app = web.Application()
        path = urlparse(self.settings.webhook_url).path or "/"
        app.router.add_post(path, self._webhook_handler())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self.settings.webhook_host_port
        await web.TCPSite(runner, host, port).start()
        try:
            await self.client.set_webhook(self.settings.webhook_url, self.settings.webhook_secret)
            self._became_ready()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def _webhook_handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        expected = self.settings.webhook_secret.encode()
        accept = self._acceptor()

        async def handle(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(status=401, text="Unauthorized")
            try:
                data = await request.json()
                update = self.client.parse(data)
            except Exception:
                # Telegram would resend a refused body forever; log it and let it go.
                log.warning("ignoring a webhook body that is not an update", exc_info=True)
                return web.json_response({})
            done = accept(update)
            if done is not None:
                # Answer Telegram only once the update is safely processed (or it resends it).
                await asyncio.wait_for(asyncio.shield(done), timeout=WEBHOOK_PROCESSING_SECONDS)
            return web.json_response({})

        return handle

    def _acceptor(self) -> Accept:
        """Updates into the pipeline, enqueued synchronously (so a chat keeps its order)."""
        pipeline = self.pipeline

        def accept(update: UpdateFields) -> asyncio.Future[None] | None:
            event = to_event(update)
            if event is None:
                log.debug("ignoring update %s", update.update_id)
                return None
            return pipeline.submit(event)

        return accept
