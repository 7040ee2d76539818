"""One update, one transaction: load state, run the flow, save everything, return the replies.

Framework-free: both runtimes call ``UpdateProcessor.process`` with an ``Event`` and send what
it returns. A redelivered update is skipped. On PostgreSQL the transaction first takes the chat's
advisory lock (``storage.locks.lock_chat``), so two worker processes never work on one chat at
once (the figures that decided it are in bot/workers.py); the conversation's version check
stays as the backstop: a conversation changed by another process in the meantime makes the
update run again on fresh state.

A processor is complete when built and never changed afterwards: the bot's @username (for
t.me links) is a constructor argument, read-only, because bot/app.py asks Telegram (getMe)
before it builds the processor. Setting it afterwards (as the runtime once did) made a correct
processor depend on who ran first, and let any holder change it under updates in flight.

A database that cannot be reached is not a failed flow (ARCHITECTURE rule 9): ``process``
raises ``DatabaseUnavailable`` (bot/pipeline.py) instead of answering the generic error, so
the update is retried and not confirmed to Telegram. An error counts as an outage when it is
a connection-level one (``storage.database.is_connection_error``: OSError, OperationalError,
InterfaceError, a dropped connection …) AND a ``SELECT 1`` in a fresh session fails too. The
second check keeps a flow bug that SQLite reports as an OperationalError ("no such column")
or a momentary lock from stalling the bot forever: the database answers, so the update is
tried again up to ``ATTEMPTS`` times and then answered with the generic error and confirmed.

Every call of ``process`` ends with one line on the ``aduan.updates`` logger (INFO) and one
count in the metrics (bot/metrics.py, when given): update id, kind (message, command,
callback, edited, other), the chat as ``chat_ref`` (a keyed hash, never the id), the flow and
step the update was handled in (the conversation state as loaded; "-" outside a flow), the
tracking code when the replies name exactly one report (a list of several names none), the
outcome (ok, error, duplicate, db_unavailable) and the processing time in ms. Nothing else of
the update: no name, username, phone or text (rule 11). An update retried during a database
outage gets one line (db_unavailable) per attempt, then its final one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.casework import Office
from bot.core.calendar import WorkingCalendar
from bot.core.events import Event
from bot.core.i18n import Translator
from bot.core.replies import EditMessage, Message, Notice, Reply, Upload
from bot.logs import chat_ref, failure
from bot.metrics import Metrics
from bot.pipeline import DatabaseUnavailable
from bot.settings import Settings
from handlers.context import Context
from handlers.intake import FLOW as INTAKE_FLOW
from handlers.router import route
from storage.citizens import upsert_citizen
from storage.conversations import ConcurrentUpdate, load_state, save_state
from storage.database import SessionFactory, is_connection_error
from storage.locks import lock_chat
from storage.unit_of_work import UnitOfWork
from storage.updates import already_processed, claim_updates

log = logging.getLogger(__name__)
updates_log = logging.getLogger("aduan.updates")

Clock = Callable[[], datetime]
ATTEMPTS = 3
# How long the "is the database there at all?" probe may take (asyncpg's connect waits 60 s).
PROBE_SECONDS = 10.0


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


@dataclass
class Trace:
    """What one ``process`` call found out, for its log line and metrics."""

    outcome: str = "error"
    flow: str = "-"
    step: str = "-"


def update_kind(event: Event) -> str:
    """message, command, callback, edited or other (the metrics' ``kind`` label)."""
    if event.is_callback:
        return "callback"
    if event.edited:
        return "edited"
    if event.command is not None:
        return "command"
    if event.text or event.attachments or event.location or event.unsupported:
        return "message"
    return "other"


class UpdateProcessor:
    """Runs events through the router inside a unit of work."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        settings: Settings,
        translator: Translator,
        calendar: WorkingCalendar,
        clock: Clock = system_clock,
        bot_username: str = "",
        serialize_writes: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        # A tracking code in a reply (TPI-2026-000042): logged, never anything else of it.
        self._code = re.compile(rf"\b{re.escape(settings.tracking_prefix)}-\d{{4}}-\d+\b")
        self.settings = settings
        self.translator = translator
        self.calendar = calendar
        # Quiet hours parsed once, not on every update that touches a report.
        self.office = Office.of(settings, translator, calendar)
        self.clock = clock
        self._bot_username = bot_username
        # SQLite has one writer at a time; queueing here instead of in SQLite's busy handler
        # (which sleeps up to 100 ms between tries) keeps many concurrent chats fast.
        self._write_lock = asyncio.Lock() if serialize_writes else contextlib.nullcontext()

    @property
    def bot_username(self) -> str:
        """The bot's @username (getMe), given at construction ("" without Telegram)."""
        return self._bot_username

    async def process(self, event: Event) -> list[Reply]:
        """The replies for the acting user; [] for a redelivered update.

        Raises ``DatabaseUnavailable`` when the database cannot be reached (nothing stored).
        """
        started = time.perf_counter()
        trace = Trace()
        replies: list[Reply] = []
        try:
            replies = await self._process(event, trace)
        except DatabaseUnavailable:
            trace.outcome = "db_unavailable"
            raise
        finally:
            self._observe(event, trace, replies, time.perf_counter() - started)
        return replies

    def _observe(self, event: Event, trace: Trace, replies: list[Reply], seconds: float) -> None:
        """The update's one log line and its metrics."""
        kind = update_kind(event)
        if self.metrics is not None:
            self.metrics.observe_update(kind, trace.outcome, seconds)
        if not updates_log.isEnabledFor(logging.INFO):
            return
        code = self._tracking_code(replies) if trace.outcome == "ok" else None
        fields = {
            "update_id": event.update_id,
            "kind": kind,
            "chat": chat_ref(event.chat_id),
            "flow": trace.flow,
            "step": trace.step,
            "code": code,
            "outcome": trace.outcome,
            "latency_ms": round(seconds * 1000, 1),
        }
        updates_log.info(
            "update %s %s %s %s/%s code=%s %s %.1f ms",
            event.update_id,
            kind,
            fields["chat"],
            trace.flow,
            trace.step,
            code or "-",
            trace.outcome,
            fields["latency_ms"],
            extra=fields,
        )

    def _tracking_code(self, replies: list[Reply]) -> str | None:
        """The tracking code the replies name, if they name exactly one."""
        codes: set[str] = set()
        for reply in replies:
            if isinstance(reply, Message | EditMessage | Notice):
                codes.update(self._code.findall(reply.text))
            elif isinstance(reply, Upload):
                codes.update(self._code.findall(reply.caption))
        return codes.pop() if len(codes) == 1 else None

    async def _process(self, event: Event, trace: Trace) -> list[Reply]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                try:
                    async with self._write_lock:
                        return await self._process_once(event, trace)
                except IntegrityError as error:
                    # The same update committed by another process in the meantime: skip it.
                    async with UnitOfWork(self.sessions) as uow:
                        if await already_processed(
                            session=uow.session, update_ids=event.all_update_ids
                        ):
                            trace.outcome = "duplicate"
                            return []
                    log.error("integrity error on update %s: %s", event.update_id, failure(error))
                    break
            except ConcurrentUpdate:
                log.info("update %s raced another process (attempt %s)", event.update_id, attempt)
            except Exception as error:
                if is_connection_error(error):
                    if self.metrics is not None:
                        self.metrics.database_error("updates")
                    if not await self._database_reachable():
                        raise DatabaseUnavailable(type(error).__name__) from error
                    if attempt < ATTEMPTS:
                        log.warning(
                            "update %s hit a database error (%s) while the database answers; "
                            "trying again",
                            event.update_id,
                            type(error).__name__,
                        )
                        continue
                log.error("update %s failed: %s", event.update_id, failure(error))
                break
        trace.outcome = "error"
        locale = self.translator.pick(event.user.language_code)
        return [Message(self.translator(locale, "common.error"))]

    async def _database_reachable(self) -> bool:
        """Whether a fresh session can run ``SELECT 1`` (within ``PROBE_SECONDS``)."""

        async def probe() -> None:
            async with self.sessions() as session:
                connection = await session.connection()
                await connection.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(probe(), PROBE_SECONDS)
        except Exception:
            return False
        return True

    async def _process_once(self, event: Event, trace: Trace) -> list[Reply]:
        now = self.clock()
        async with UnitOfWork(self.sessions) as uow:
            session = uow.session
            # Several processes (bot/workers.py): one update of a chat at a time (PostgreSQL).
            await lock_chat(session=session, chat_id=event.chat_id)
            if not await claim_updates(session=session, update_ids=event.all_update_ids, now=now):
                log.info("skipping redelivered update %s", event.update_id)
                trace.outcome = "duplicate"
                return []
            citizen, staff = await upsert_citizen(session=session, sender=event.user)
            if citizen.locale is None:
                # Notifications written by others are rendered in this language later on.
                citizen.locale = self.translator.pick(event.user.language_code)
                session.add(citizen)
            loaded = await load_state(
                session=session, chat_id=event.chat_id, user_id=event.user.user_id, now=now
            )
            if loaded.state is not None:
                trace.flow, trace.step = loaded.state.flow, loaded.state.step
            ctx = Context(
                session=session,
                office=self.office,
                now=now,
                citizen=citizen,
                locale=self.translator.pick(citizen.locale),
                state=loaded.state,
                draft_expired=loaded.expired_flow == INTAKE_FLOW,
                bot_username=self.bot_username,
                staff=staff,
            )
            replies = await route(event, ctx)
            await save_state(
                session=session,
                chat_id=event.chat_id,
                user_id=event.user.user_id,
                state=ctx.state,
                loaded_version=loaded.version,
                expires_at=now + timedelta(hours=self.settings.draft_ttl_hours),
                now=now,
            )
            await uow.commit()
            trace.outcome = "ok"
            return replies
