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

Nothing is confirmed to Telegram before it is safe (ARCHITECTURE rule 9, issue 11):
- Polling is Aduan's own loop (``_poll``), not the frameworks': they confirm the getUpdates
  offset as soon as an update is queued in memory, so a crash lost what was queued. Here each
  update of a batch is parsed on its own and submitted to the pipeline, and the offset sent
  with the next getUpdates (which is what confirms) only passes an update once its processing
  is finished (``UpdateLedger``: the finished prefix, in update_id order; chats run
  concurrently, so one slow chat holds the offset, not the other chats). A batch is fetched
  again while updates are in flight (Telegram returns unconfirmed updates at once); those
  already in flight are not submitted twice. A crash loses nothing: whatever was not
  confirmed comes again, and the processor's dedupe (``ProcessedUpdate``) skips what was
  already committed. The price is at-least-once delivery to the processor: an update
  committed but not yet confirmed when the process dies is fetched again after the restart
  and skipped without replies, so a receipt lost that way is shown by pressing Submit again
  (handlers/intake.py). A graceful stop confirms what it finished with one last getUpdates.
- An update that cannot be parsed (or converted to an Event) is logged with its update_id and
  the error's class only (never its content), confirmed and skipped; the rest of the batch is
  processed. The frameworks' polling fetched such a batch again forever.
- While the database is unreachable the pipeline retries in place (bot/pipeline.py): the
  offset does not move, and everything is processed once the database is back. getUpdates'
  own failures: 429 waits ``retry_after``; anything else backs off 0.5 s … 30 s.
- Webhook: 200 only once the update is processed; 503 while the database is unavailable or
  after ``WEBHOOK_PROCESSING_SECONDS`` (Telegram delivers it again; the pipeline does not queue
  an update twice), and from a stop on; a body that is not a readable update is logged
  (update_id and error class) and answered 200, because Telegram would resend it forever.

Aduan's HTTP server (issue 13) runs in both modes on ``HTTP_LISTEN`` (``settings.http_address``):
``/healthz``, ``/readyz`` and ``/metrics`` (bot/observability.py), every ``Site`` it was
given (``sites``: anything with ``add_routes(app)``, e.g. the Open311 API), and in webhook
mode the webhook path too. It starts first, so ``/healthz`` answers while the bot starts, and
stops last, after the pipeline is drained and the scheduler stopped, so the webhook requests
waiting for their update are answered on the way. ``HTTP_LISTEN=off`` runs polling without
it. An address that cannot be bound fails a webhook run; in polling mode it is logged as an
error and the bot runs on without the server: citizens keep being answered, and the missing
``/healthz`` is what the operator's monitoring notices. With ``WORKERS`` > 1 (bot/workers.py)
every worker binds the same address with ``SO_REUSEPORT`` and only the one built with
``registers=True`` (worker 0) calls setMyCommands and setWebhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlparse

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.commands import CommandMenu
from bot.jobs import stop_scheduler
from bot.observability import Observability
from bot.outbox import OutboxDispatcher
from bot.pipeline import NotProcessed, UpdatePipeline
from bot.sending import BotApi, Conflict, RetryAfter, TelegramSender
from bot.settings import BotMode, Settings
from bot.updates import ALLOWED_UPDATES, UpdateFields, to_event

log = logging.getLogger(__name__)

CONFLICT_MESSAGE = (
    "Telegram refused polling (409 Conflict): another process is polling with this token, or "
    "a webhook is set. Polling is one process per token; stop the other one, or use "
    "BOT_MODE=webhook to run several workers. Retrying every 30 s."
)

Accept = Callable[[UpdateFields], "asyncio.Future[None] | None"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram waits about a minute for a webhook answer; answer before it gives up and resends.
WEBHOOK_PROCESSING_SECONDS = 50.0
POLLING_TIMEOUT_SECONDS = 10
POLLING_LIMIT = 100
# While updates are in flight the next getUpdates comes after one of them finishes, or after
# this pause (growing while nothing moves), so new chats are heard without spinning.
BUSY_PAUSE_SECONDS = 0.2
BUSY_PAUSE_MAX_SECONDS = 2.0
# While busy, fetch again once this few updates are left in flight (see _until_worth_fetching).
REFETCH_IN_FLIGHT = POLLING_LIMIT // 4
# getUpdates failures other than 429: the first wait, doubling up to the cap.
POLLING_RETRY_FIRST = 0.5
POLLING_RETRY_MAX = 30.0
# How long one Bot API request may take before it counts as a timeout (aiogram's default; PTB's
# is 5 s, after which a slow but successful send would be retried and arrive twice).
REQUEST_TIMEOUT_SECONDS = 60.0


class Site(Protocol):
    """A set of routes served on Aduan's HTTP server (the Open311 API, the public page …)."""

    def add_routes(self, app: web.Application) -> None:
        """Add the site's routes to ``app``."""


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
    async def get_updates(
        self,
        *,
        offset: int | None,
        poll_seconds: int,
        allowed_updates: list[str],
        limit: int = POLLING_LIMIT,
    ) -> list[dict[str, Any]]:
        """getUpdates as raw JSON objects, not parsed (``parse`` reads each one on its own, so
        one unreadable update cannot fail the batch). The framework's errors come as the
        project's (``bot.sending``: ``RetryAfter`` for 429, ``Transient`` …) where it has one."""

    @abstractmethod
    def parse(self, data: dict[str, Any]) -> UpdateFields:
        """The framework's Update for one update's JSON (a getUpdates item, a webhook body)."""

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
        observability: Observability | None = None,
        registers: bool = True,
        sites: Sequence[Site] = (),
    ) -> None:
        self.client = client
        # Whether this process tells Telegram the command menu and the webhook: with several
        # workers (bot/workers.py) only worker 0 does; the others only serve.
        self.registers = registers
        self.settings = settings
        self.pipeline = pipeline
        self.menu = menu
        # The scheduler runs the dispatcher's job; stopping it lets that batch finish first.
        self.scheduler = scheduler
        self.dispatcher = dispatcher
        self.observability = observability
        # Further route sets served next to /healthz … (bot/app.py builds them).
        self.sites = tuple(sites)
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self._started = False
        # Where the HTTP server listens once started (port 0 in HTTP_LISTEN: the one chosen).
        self.http_address: tuple[str, int] | None = None

    def stop(self) -> None:
        """Ask the runtime to finish (safe from a signal handler)."""
        self._stop.set()

    def status(self) -> str:
        """Whether updates are taken, for /readyz: "ok", "starting" or "stopping"."""
        if self._stop.is_set():
            return "stopping"
        return "ok" if self.ready.is_set() else "starting"

    async def run(self) -> None:
        """Receive and answer updates until stopped; drains work in flight before returning."""
        if self._started:
            raise RuntimeError("a BotRuntime runs once; build a new app to run again")
        self._started = True
        server = await self._start_http()
        try:
            if self.registers:
                for language, commands in self.menu.by_language().items():
                    await self.client.set_commands(language, commands)
            if self.settings.bot_mode == BotMode.WEBHOOK:
                await self._run_webhook()
            else:
                await self._run_polling()
            self.pipeline.close()
            await self.pipeline.drain()
        finally:
            try:
                # Notifications stop (finishing the batch in flight) before the client closes.
                await stop_scheduler(self.scheduler, dispatcher=self.dispatcher)
            finally:
                if server is not None:
                    await server.cleanup()

    async def _start_http(self) -> web.AppRunner | None:
        """The HTTP server on ``HTTP_LISTEN`` (None: off, or unusable in polling mode)."""
        webhook = self.settings.bot_mode == BotMode.WEBHOOK
        address = self.settings.http_address
        if self.settings.listen_from_old_name:
            log.warning("WEBHOOK_LISTEN is the old name of HTTP_LISTEN: please rename it")
        if not webhook and self.observability is None and not self.sites:
            return None  # nothing to serve (a runtime built without bot/app.py)
        if address is None:
            if webhook:
                raise RuntimeError(
                    "BOT_MODE=webhook needs HTTP_LISTEN (the webhook is served there)"
                )
            log.info("HTTP_LISTEN is off: no /healthz, /readyz or /metrics")
            return None
        app = web.Application()
        if self.observability is not None:
            self.observability.add_routes(app, runtime=self.status)
        paths = ["/healthz", "/readyz", "/metrics"] if self.observability else []
        for site in self.sites:
            site.add_routes(app)
            paths.append(type(site).__name__)
        if webhook:
            path = urlparse(self.settings.webhook_url).path or "/"
            app.router.add_post(path, self._webhook_handler())
            paths.append(f"{path} (webhook)")
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = address
        try:
            # Several workers share the address (SO_REUSEPORT: the kernel spreads connections).
            shared = self.settings.workers > 1
            await web.TCPSite(runner, host, port, reuse_port=shared or None).start()
        except OSError as error:
            await runner.cleanup()
            if webhook:
                raise
            log.error(
                "HTTP_LISTEN %s:%s cannot be used (%s): no /healthz, /readyz or /metrics; "
                "the bot runs on without them",
                host,
                port,
                type(error).__name__,
            )
            return None
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self.http_address = (str(bound[0]), int(bound[1]))
        log.info("HTTP server on %s:%s: %s", *self.http_address, ", ".join(paths))
        return runner

    def _became_ready(self) -> None:
        # Notifications and duties start once updates flow.
        self.scheduler.start()
        self.ready.set()

    async def _run_polling(self) -> None:
        await self.client.delete_webhook()
        ledger = UpdateLedger()
        poller = asyncio.create_task(self._poll(ledger), name="aduan-polling")
        stopped = asyncio.create_task(self._stop.wait())
        try:
            self._became_ready()
            await asyncio.wait({poller, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            self._stop.set()  # ends the loop if it is still running
            try:
                await poller  # a failure of the loop itself is raised here
            finally:
                # Finish what was fetched (giving up on updates waiting for the database),
                # then confirm the finished ones, so a restart does not fetch them again.
                self.pipeline.close()
                await self.pipeline.drain()
                await self._confirm(ledger)

    async def _poll(self, ledger: UpdateLedger) -> None:
        """getUpdates until stopped; the offset confirms only finished updates."""
        stopped = asyncio.create_task(self._stop.wait())
        failures, pause, conflicted = 0, BUSY_PAUSE_SECONDS, False
        try:
            while not self._stop.is_set():
                busy = ledger.unfinished()
                offset = ledger.sent = ledger.offset()
                fetch = asyncio.create_task(
                    self.client.get_updates(
                        offset=offset,
                        poll_seconds=0 if busy else POLLING_TIMEOUT_SECONDS,
                        allowed_updates=ALLOWED_UPDATES,
                    )
                )
                await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    # Stopping: what this poll would bring stays unconfirmed, so nothing is lost.
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fetch
                    return
                try:
                    batch = fetch.result()
                except RetryAfter as error:
                    log.warning("getUpdates: Telegram asked to wait %s s", error.seconds)
                    await self._sleep(error.seconds, stopped)
                    continue
                except Conflict:
                    # Said once, at ERROR, however long it lasts: the operator must act.
                    if not conflicted:
                        log.error(CONFLICT_MESSAGE)
                        conflicted = True
                    await self._sleep(POLLING_RETRY_MAX, stopped)
                    continue
                except Exception as error:
                    failures += 1
                    wait = min(POLLING_RETRY_FIRST * 2 ** (failures - 1), POLLING_RETRY_MAX)
                    log.warning(
                        "getUpdates failed (%s); retrying in %.1f s", self._describe(error), wait
                    )
                    await self._sleep(wait, stopped)
                    continue
                failures = 0
                if conflicted:
                    log.info("polling again: the other process or the webhook is gone")
                    conflicted = False
                fresh = self._take(batch, ledger)
                if not ledger.unfinished():
                    pause = BUSY_PAUSE_SECONDS
                    continue
                finished = await self._until_worth_fetching(ledger, stopped, pause)
                moved = fresh or finished
                pause = BUSY_PAUSE_SECONDS if moved else min(pause * 2, BUSY_PAUSE_MAX_SECONDS)
        finally:
            stopped.cancel()

    @staticmethod
    async def _until_worth_fetching(
        ledger: UpdateLedger, stopped: asyncio.Task[Any], pause: float
    ) -> bool:
        """Wait while fetching would bring back mostly the updates in flight; True if any of
        them finished.

        getUpdates returns everything from the offset, which only moves past finished
        updates, so a fetch after every finished update downloaded and decoded the whole
        batch in flight each time (~80 decoded per update under load). New work is fetched
        once at most ``REFETCH_IN_FLIGHT`` are left, or after ``pause`` with none finished.
        """
        finished = False
        while not stopped.done():
            waiting = ledger.unfinished()
            if not waiting or (finished and len(waiting) <= REFETCH_IN_FLIGHT):
                break
            done, _ = await asyncio.wait(
                {*waiting, stopped}, timeout=pause, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                break
            finished = True
        return finished

    def _take(self, batch: list[dict[str, Any]], ledger: UpdateLedger) -> bool:
        """Submit the batch's updates not seen before; True if there were any."""
        accept = self._acceptor()
        fresh = False
        for data in batch:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if not isinstance(update_id, int):
                log.warning("getUpdates returned an item without an update_id; skipped")
                continue
            if not ledger.is_new(update_id):
                continue
            fresh = True
            try:
                done = accept(self.client.parse(data))
            except Exception as error:
                # Never the content (personal data): the id and the kind of failure only.
                log.warning(
                    "update %s cannot be read (%s); confirmed and skipped",
                    update_id,
                    type(error).__name__,
                )
                done = None
            ledger.add(update_id, done)
        return fresh

    async def _confirm(self, ledger: UpdateLedger) -> None:
        """One last getUpdates with the finished offset: confirms it (a graceful stop)."""
        offset = ledger.offset()
        if offset is None or offset == ledger.sent:
            return
        try:
            await self.client.get_updates(
                offset=offset, poll_seconds=0, allowed_updates=ALLOWED_UPDATES, limit=1
            )
        except Exception as error:
            log.warning("confirming the last updates failed (%s)", self._describe(error))

    def _describe(self, error: BaseException) -> str:
        """An error's class and message, the token blanked (it can be part of a URL)."""
        token = self.settings.telegram_bot_token
        message = str(error).splitlines()[0][:200] if str(error) else ""
        if token:
            message = message.replace(token, "***")
        return f"{type(error).__name__}: {message}" if message else type(error).__name__

    @staticmethod
    async def _sleep(seconds: float, stopped: asyncio.Task[Any]) -> None:
        await asyncio.wait({stopped}, timeout=max(seconds, 0.0))

    async def _run_webhook(self) -> None:
        # The webhook path is served by the HTTP server (``_start_http``), already listening.
        if self.registers:
            await self.client.set_webhook(self.settings.webhook_url, self.settings.webhook_secret)
        self._became_ready()
        await self._stop.wait()

    def _webhook_handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        expected = self.settings.webhook_secret.encode()
        accept = self._acceptor()

        async def handle(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(status=401, text="Unauthorized")
            if self._stop.is_set():
                # Stopping: Telegram delivers it again (to another worker, or after the restart).
                return web.json_response({"ok": False}, status=503)
            data: object = None
            try:
                data = await request.json()
                if not isinstance(data, dict):
                    raise TypeError("not a JSON object")
                done = accept(self.client.parse(data))
            except Exception as error:
                # Telegram would resend a refused body forever; log it (never its content:
                # personal data) and let it go.
                update_id = data.get("update_id") if isinstance(data, dict) else None
                log.warning(
                    "webhook: update %s cannot be read (%s); skipped",
                    update_id,
                    type(error).__name__,
                )
                return web.json_response({})
            if done is not None and not await self._settled(done):
                # Not processed (yet): Telegram delivers it again.
                return web.json_response({"ok": False}, status=503)
            return web.json_response({})

        return handle

    async def _settled(self, done: asyncio.Future[None]) -> bool:
        """Wait until the update is processed (True); False once the database is known to be
        unavailable, the pipeline gave it up, or ``WEBHOOK_PROCESSING_SECONDS`` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WEBHOOK_PROCESSING_SECONDS
        while not done.done():
            left = deadline - loop.time()
            if left <= 0 or self.pipeline.database_unavailable:
                return False
            await asyncio.wait({done}, timeout=min(left, 0.1))
        return not isinstance(done.exception(), NotProcessed)

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


class UpdateLedger:
    """The fetched updates in update_id order and which are finished: the offset to confirm.

    An update is finished when it needs nothing more (processed, ignored, unreadable); one the
    pipeline gave up (``NotProcessed``) is not, and holds the offset until the process ends.
    """

    def __init__(self) -> None:
        self._open: dict[int, asyncio.Future[None] | None] = {}
        self._highest: int | None = None
        self._offset: int | None = None
        self.sent: int | None = None  # the offset the last getUpdates carried (set by the loop)

    def is_new(self, update_id: int) -> bool:
        """Not fetched before (a refetched batch repeats the updates still in flight)."""
        return self._highest is None or update_id > self._highest

    def add(self, update_id: int, done: asyncio.Future[None] | None) -> None:
        """A fetched update and the future that completes when it is processed (None: no
        processing needed)."""
        self._open[update_id] = done
        self._highest = update_id

    def unfinished(self) -> list[asyncio.Future[None]]:
        """The futures still running."""
        return [done for done in self._open.values() if done is not None and not done.done()]

    def offset(self) -> int | None:
        """One past the last update of the finished prefix (None: nothing finished yet)."""
        for update_id, done in list(self._open.items()):
            if done is not None and (
                not done.done() or done.cancelled() or done.exception() is not None
            ):
                break
            del self._open[update_id]
            self._offset = update_id + 1
        return self._offset
