"""The default runtime's framework part: aiogram 3 talks to Telegram.

Only this file knows aiogram. What the runtime does with updates and replies is shared
(bot/runtime.py, bot/sending.py, bot/updates.py); here are just aiogram's bot, types, errors
and polling.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
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
)

from bot.core.events import Attachment, AttachmentKind
from bot.core.replies import Keyboard, ReplyKeys
from bot.runtime import POLLING_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS, Accept, TelegramClient
from bot.sending import (
    DeliveryError,
    Rejected,
    RetryAfter,
    TelegramSender,
    Transient,
    Unreachable,
)
from bot.settings import Settings
from bot.updates import ALLOWED_UPDATES

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

AlbumItem = InputMediaPhoto | InputMediaVideo | InputMediaDocument
_MEDIA_INPUT: dict[AttachmentKind, type[AlbumItem]] = {
    AttachmentKind.PHOTO: InputMediaPhoto,
    AttachmentKind.VIDEO: InputMediaVideo,
    AttachmentKind.DOCUMENT: InputMediaDocument,
}


def build_bot(settings: Settings) -> Bot:
    """An aiogram Bot on the configured API server, HTML by default."""
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url), timeout=REQUEST_TIMEOUT_SECONDS
    )
    return Bot(
        settings.telegram_bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


class AiogramSender(TelegramSender[Markup]):
    """Replies as aiogram calls."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(bot)
        self.framework_bot = bot  # the full client, for downloads (the base knows BotApi)

    def _delivery_error(self, error: Exception) -> DeliveryError | None:
        if isinstance(error, TelegramRetryAfter):
            return RetryAfter(error.retry_after)
        if isinstance(error, TelegramForbiddenError):
            return Unreachable(error.message)
        if isinstance(error, TelegramServerError | TelegramNetworkError):
            return Transient(str(error))
        if isinstance(error, TelegramBadRequest):
            return Rejected(error.message)
        return None

    def _inline(self, buttons: Keyboard) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=b.text, callback_data=b.callback, url=b.url)
                    for b in row
                ]
                for row in buttons
            ]
        )

    def _keys(self, keys: ReplyKeys) -> ReplyKeyboardMarkup:
        return ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(text=k.text, request_location=k.request_location or None)
                    for k in row
                ]
                for row in keys
            ],
            resize_keyboard=True,
            is_persistent=True,
        )

    def _remove_keys(self) -> ReplyKeyboardRemove:
        return ReplyKeyboardRemove()

    def _album_item(self, item: Attachment, source: object) -> AlbumItem:
        assert isinstance(source, str | BufferedInputFile)
        return _MEDIA_INPUT[item.kind](media=source, caption=item.caption)

    def _named_file(self, data: bytes, filename: str) -> BufferedInputFile:
        return BufferedInputFile(data, filename=filename)

    async def _download(self, file_id: str) -> tuple[bytes, str | None]:
        file = await self.framework_bot.get_file(file_id)
        if file.file_path is None:
            raise Rejected("the file has no download path")
        try:
            stream = await self.framework_bot.download_file(file.file_path)
        except aiohttp.ClientResponseError as error:  # the file route answers outside the API
            if error.status >= 500:
                raise Transient(f"file download: HTTP {error.status}") from error
            raise Rejected(f"file download: HTTP {error.status}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Transient("file download failed") from error
        assert stream is not None  # a BytesIO when no destination is given
        return stream.read(), file.file_path


class AiogramClient(TelegramClient):
    """The runtime's Bot API client on aiogram; polling through aiogram's Dispatcher."""

    def __init__(self, settings: Settings) -> None:
        self.bot: Bot = build_bot(settings)
        self.sender = AiogramSender(self.bot)
        self._dispatcher = Dispatcher()
        self._polling: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self.bot.session.close()

    def command(self, name: str, description: str) -> BotCommand:
        return BotCommand(command=name, description=description)

    async def start_polling(self, accept: Accept) -> None:
        async def intercept(_handler: Any, update: TelegramObject, _data: Any) -> None:
            # Every update is taken here, before aiogram's routers (Aduan has its own).
            assert isinstance(update, Update)
            accept(update)

        self._dispatcher.update.outer_middleware(intercept)
        self._polling = asyncio.create_task(
            self._dispatcher.start_polling(
                self.bot,
                handle_as_tasks=False,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES,
                polling_timeout=POLLING_TIMEOUT_SECONDS,
            )
        )
        # One step of the task takes aiogram's running lock, so stop_polling may follow at once.
        await asyncio.sleep(0)

    async def stop_polling(self) -> None:
        if self._polling is None:
            return
        if not self._polling.done():
            await self._dispatcher.stop_polling()
        await self._polling

    def parse(self, data: dict[str, Any]) -> Update:
        return Update.model_validate(data, context={"bot": self.bot})
