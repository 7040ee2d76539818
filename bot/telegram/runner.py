"""Running the bot, whichever framework talks to Telegram: the part both runtimes share.

``BotRuntime`` owns the order of things: open the client, register the command menu, receive
updates (polling, or webhook on Aduan's own aiohttp server), feed them to the shared
``UpdatePipeline``, start the outbox dispatcher and the duties once updates flow, and on stop
drain the pipeline and finish the outbox batch before the client's HTTP session closes.
A ``TelegramClient`` (bot/telegram/aiogram_runtime.py, bot/telegram/ptb_runtime.py) is only
the framework's translation of these steps.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlparse

from aiohttp import web

from bot.duties import Duties
from bot.jobs import build_scheduler, stop_scheduler
from bot.outbox import OutboxDispatcher
from bot.processing import UpdateProcessor
from bot.settings import BotMode, Settings
from bot.telegram.commands import CommandMenu
from bot.telegram.pipeline import UpdatePipeline
from bot.telegram.sending import BotApi, TelegramSender
from bot.telegram.updates import ALLOWED_UPDATES, UpdateFields, to_event

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


def worker_id() -> str:
    """Names this process in the outbox's claims: host, pid and a random part (≤ 64 chars)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class BotRuntime:
    """Runs the bot until ``stop`` is called; the outbox dispatcher and duties run alongside."""

    def __init__(
        self,
        *,
        client: TelegramClient,
        settings: Settings,
        processor: UpdateProcessor,
        menu: CommandMenu,
        duties: Duties | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.processor = processor
        self.menu = menu
        self.duties = duties
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self._on_ready: Callable[[], None] = lambda: None

    def stop(self) -> None:
        """Ask the runtime to finish (safe from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Receive and answer updates until stopped; drains work in flight before returning."""
        client = self.client
        outbox = OutboxDispatcher(
            sessions=self.processor.sessions,
            sender=client.sender,
            clock=self.processor.clock,
            worker_id=worker_id(),
            rate_per_second=self.settings.outbox_rate_per_second,
            max_attempts=self.settings.outbox_max_attempts,
        )
        scheduler = build_scheduler(
            dispatcher=outbox,
            settings=self.settings,
            duties=self.duties,
            clock=self.processor.clock,
        )
        # Notifications start once updates flow, and stop (finishing the batch in flight)
        # before the client's HTTP session closes.
        self._on_ready = scheduler.start
        try:
            await client.open()
            self.processor.bot_username = await client.bot_username()
            pipeline = UpdatePipeline(
                processor=self.processor.process,
                sender=client.sender,
                album_wait=self.settings.album_wait_seconds,
            )
            for language, commands in self.menu.by_language().items():
                await client.set_commands(language, commands)
            if self.settings.bot_mode == BotMode.WEBHOOK:
                await self._run_webhook(pipeline)
            else:
                await self._run_polling(pipeline)
            await pipeline.drain()
        finally:
            await stop_scheduler(scheduler, dispatcher=outbox)
            await client.close()

    def _became_ready(self) -> None:
        self._on_ready()
        self.ready.set()

    async def _run_polling(self, pipeline: UpdatePipeline) -> None:
        await self.client.delete_webhook()
        try:
            await self.client.start_polling(self._acceptor(pipeline))
            self._became_ready()
            await self._stop.wait()
        finally:
            await self.client.stop_polling()

    async def _run_webhook(self, pipeline: UpdatePipeline) -> None:
        app = web.Application()
        path = urlparse(self.settings.webhook_url).path or "/"
        app.router.add_post(path, self._webhook_handler(pipeline))
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

    def _webhook_handler(
        self, pipeline: UpdatePipeline
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        expected = self.settings.webhook_secret.encode()
        accept = self._acceptor(pipeline)

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

    @staticmethod
    def _acceptor(pipeline: UpdatePipeline) -> Accept:
        """Updates into the pipeline, enqueued synchronously (so a chat keeps its order)."""

        def accept(update: UpdateFields) -> asyncio.Future[None] | None:
            event = to_event(update)
            if event is None:
                log.debug("ignoring update %s", update.update_id)
                return None
            return pipeline.submit(event)

        return accept
