"""The default runtime: aiogram 3 receives updates (polling or webhook) and sends replies.

Only this file knows aiogram. Updates become ``Event``s and go into the shared
``UpdatePipeline``; replies come back as ``Reply`` objects and become Bot API calls here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
    User,
)
from aiogram.types import (
    Message as TgMessage,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.core.events import Attachment, AttachmentKind, Event, Location, Sender
from bot.core.replies import (
    ClearButtons,
    EditMessage,
    Keyboard,
    Message,
    Notice,
    ReplyKeys,
    Sendable,
    Upload,
)
from bot.duties import Duties
from bot.jobs import build_scheduler, stop_scheduler
from bot.outbox import OutboxDispatcher
from bot.processing import UpdateProcessor
from bot.settings import BotMode, Settings
from bot.telegram.commands import CommandMenu
from bot.telegram.errors import Rejected, RetryAfter, Transient, Unreachable
from bot.telegram.pipeline import UpdatePipeline

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "edited_message", "my_chat_member"]
# Content Aduan does not take, in the order aiogram's Message exposes it.
UNSUPPORTED = (
    "sticker",
    "poll",
    "contact",
    "dice",
    "game",
    "animation",
    "video_note",
    "audio",
    "venue",
    "story",
)


def build_bot(settings: Settings) -> Bot:
    """An aiogram Bot on the configured API server, HTML by default."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.telegram_bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def _sender(user: User) -> Sender:
    return Sender(
        user_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def _attachments(message: TgMessage) -> tuple[Attachment, ...]:
    caption = message.caption
    if message.photo:
        best = message.photo[-1]
        return (
            Attachment(
                AttachmentKind.PHOTO, best.file_id, best.file_unique_id, caption, best.file_size
            ),
        )
    for kind, media in (
        (AttachmentKind.VIDEO, message.video),
        (AttachmentKind.VOICE, message.voice),
        (AttachmentKind.DOCUMENT, None if message.animation else message.document),
    ):
        if media is not None:
            return (
                Attachment(
                    kind,
                    media.file_id,
                    media.file_unique_id,
                    caption,
                    media.file_size,
                    getattr(media, "mime_type", None),
                ),
            )
    return ()


def to_event(update: Update) -> Event | None:
    """The project's Event for an update, or None for updates Aduan has nothing to do with."""
    query = update.callback_query
    if query is not None:
        if query.message is None:  # a button under an inline-mode message: not ours
            return None
        return Event(
            update_id=update.update_id,
            chat_id=query.message.chat.id,
            chat_type=query.message.chat.type,
            user=_sender(query.from_user),
            callback_id=query.id,
            callback_data=query.data or "",
            message_id=query.message.message_id,
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    unsupported = next((name for name in UNSUPPORTED if getattr(message, name, None)), None)
    attachments = () if unsupported else _attachments(message)
    location = message.location if not unsupported else None
    if not (message.text or attachments or location or unsupported):
        unsupported = "other"
    return Event(
        update_id=update.update_id,
        chat_id=message.chat.id,
        chat_type=message.chat.type,
        user=_sender(message.from_user),
        text=message.text,
        attachments=attachments,
        location=Location(location.latitude, location.longitude) if location else None,
        media_group_id=message.media_group_id,
        unsupported=unsupported,
        date=message.date,
    )


def _inline(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.callback, url=b.url) for b in row]
            for row in buttons
        ]
    )


def _keys(keys: ReplyKeys) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=k.text, request_location=k.request_location or None) for k in row]
            for row in keys
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


_MEDIA_INPUT = {
    AttachmentKind.PHOTO: InputMediaPhoto,
    AttachmentKind.VIDEO: InputMediaVideo,
    AttachmentKind.DOCUMENT: InputMediaDocument,
}


class AiogramSender:
    """Turns replies into aiogram calls; 429 becomes RetryAfter for the pipeline to wait out."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def answer_callback(self, callback_id: str, notice: Notice | None) -> None:
        """Answer a button press, with the pop-up text if there is one."""
        await self._call(
            self.bot.answer_callback_query(
                callback_id,
                text=notice.text if notice else None,
                show_alert=notice.alert if notice else None,
            )
        )

    async def send(self, chat_id: int, reply: Sendable) -> int | None:
        """Send, edit or un-button one message; returns the id of a new message."""
        if isinstance(reply, Upload):
            upload = BufferedInputFile(reply.data, filename=reply.filename)
            send = self.bot.send_photo if reply.as_photo else self.bot.send_document
            sent = await self._call(send(chat_id, upload, caption=reply.caption or None))
            return sent.message_id if isinstance(sent, TgMessage) else None
        if isinstance(reply, ClearButtons):
            await self._call(
                self.bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=reply.message_id, reply_markup=None
                ),
                not_modified_ok=True,
            )
            return None
        if isinstance(reply, EditMessage):
            await self._call(
                self.bot.edit_message_text(
                    text=reply.text,
                    chat_id=chat_id,
                    message_id=reply.message_id,
                    reply_markup=_inline(reply.buttons),
                ),
                not_modified_ok=True,
            )
            return None
        return await self._send_message(chat_id, reply)

    async def _send_message(self, chat_id: int, reply: Message) -> int | None:
        await self._send_media(chat_id, reply.media)
        markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
        if reply.remove_keys:
            markup = ReplyKeyboardRemove()
        elif reply.reply_keys:
            markup = _keys(reply.reply_keys)
        else:
            markup = _inline(reply.buttons)
        sent = await self._call(self.bot.send_message(chat_id, reply.text, reply_markup=markup))
        return sent.message_id if isinstance(sent, TgMessage) else None

    async def _send_media(self, chat_id: int, media: tuple[Attachment, ...]) -> None:
        groupable = [m for m in media if m.kind in _MEDIA_INPUT]
        singles = [m for m in media if m.kind not in _MEDIA_INPUT]
        if len(groupable) == 1:
            singles.insert(0, groupable.pop())
        for start in range(0, len(groupable), 10):
            chunk = groupable[start : start + 10]
            if len(chunk) == 1:
                singles.append(chunk[0])
                continue
            items = [_MEDIA_INPUT[m.kind](media=m.file_id, caption=m.caption) for m in chunk]
            await self._call(self.bot.send_media_group(chat_id, media=items))
        for item in singles:
            senders: dict[AttachmentKind, Callable[..., Awaitable[Any]]] = {
                AttachmentKind.PHOTO: self.bot.send_photo,
                AttachmentKind.VIDEO: self.bot.send_video,
                AttachmentKind.DOCUMENT: self.bot.send_document,
                AttachmentKind.VOICE: self.bot.send_voice,
            }
            await self._call(senders[item.kind](chat_id, item.file_id, caption=item.caption))

    @staticmethod
    async def _call(request: Awaitable[Any], *, not_modified_ok: bool = False) -> Any:
        """Run one API call, translating aiogram's errors into the project's."""
        try:
            return await request
        except TelegramRetryAfter as error:
            raise RetryAfter(error.retry_after) from error
        except TelegramForbiddenError as error:
            raise Unreachable(error.message) from error
        except (TelegramServerError, TelegramNetworkError) as error:
            raise Transient(str(error)) from error
        except TelegramBadRequest as error:
            if not_modified_ok and "not modified" in error.message:
                return None
            raise Rejected(error.message) from error


def worker_id() -> str:
    """Names this process in the outbox's claims: host, pid and a random part (≤ 64 chars)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class AiogramRuntime:
    """Runs the bot with aiogram until ``stop`` is called; the outbox dispatcher runs alongside."""

    def __init__(
        self,
        *,
        settings: Settings,
        processor: UpdateProcessor,
        menu: CommandMenu,
        duties: Duties | None = None,
    ) -> None:
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
        bot = build_bot(self.settings)
        outbox = OutboxDispatcher(
            sessions=self.processor.sessions,
            sender=AiogramSender(bot),
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
        # before the bot's HTTP session closes.
        self._on_ready = scheduler.start
        try:
            me = await bot.get_me()
            self.processor.bot_username = me.username or ""
            pipeline = UpdatePipeline(
                processor=self.processor.process,
                sender=AiogramSender(bot),
                album_wait=self.settings.album_wait_seconds,
            )
            await self._register_commands(bot)
            dispatcher = Dispatcher()
            webhook = self.settings.bot_mode is BotMode.WEBHOOK
            dispatcher.update.outer_middleware(self._intercept(pipeline, wait=webhook))
            if webhook:
                await self._run_webhook(bot, dispatcher)
            else:
                await self._run_polling(bot, dispatcher)
            await pipeline.drain()
        finally:
            await stop_scheduler(scheduler, dispatcher=outbox)
            await bot.session.close()

    def _became_ready(self) -> None:
        self._on_ready()
        self.ready.set()

    @staticmethod
    def _intercept(pipeline: UpdatePipeline, *, wait: bool) -> Callable[..., Awaitable[Any]]:
        async def middleware(
            handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
            update: TelegramObject,
            data: dict[str, Any],
        ) -> Any:
            assert isinstance(update, Update)
            event = to_event(update)
            if event is None:
                log.debug("ignoring update %s", update.update_id)
                return None
            done = pipeline.submit(event)
            if wait:  # webhook: answer Telegram only once the update is safely processed
                await asyncio.wait_for(asyncio.shield(done), timeout=50)
            return None

        return middleware

    async def _register_commands(self, bot: Bot) -> None:
        for language, commands in self.menu.by_language().items():
            await bot.set_my_commands(
                [BotCommand(command=c, description=d) for c, d in commands],
                language_code=language,
            )

    async def _run_polling(self, bot: Bot, dispatcher: Dispatcher) -> None:
        await bot.delete_webhook(drop_pending_updates=False)
        polling = asyncio.create_task(
            dispatcher.start_polling(
                bot,
                handle_as_tasks=False,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES,
                polling_timeout=10,
            )
        )
        self._became_ready()
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({polling, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not polling.done():
            await dispatcher.stop_polling()
        stop.cancel()
        await polling

    async def _run_webhook(self, bot: Bot, dispatcher: Dispatcher) -> None:
        app = web.Application()
        SimpleRequestHandler(
            dispatcher=dispatcher,
            bot=bot,
            handle_in_background=False,
            secret_token=self.settings.webhook_secret,
        ).register(app, path=urlparse(self.settings.webhook_url).path or "/")
        setup_application(app, dispatcher, bot=bot)
        runner = web.AppRunner(app)
        await runner.setup()
        host, port = self.settings.webhook_host_port
        site = web.TCPSite(runner, host, port)
        await site.start()
        try:
            await bot.set_webhook(
                self.settings.webhook_url,
                secret_token=self.settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            self._became_ready()
            await self._stop.wait()
        finally:
            await runner.cleanup()
