"""The default runtime's framework part: aiogram 3 talks to Telegram.

Only this file knows aiogram. What the runtime does with updates and replies is shared
(bot/runtime.py, bot/sending.py, bot/updates.py); here are just aiogram's bot, types, errors
and getUpdates (Aduan's own polling loop, bot/runtime.py, calls it).
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
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
    Update,
)

from bot.core.events import Attachment, AttachmentKind
from bot.core.replies import Keyboard, ReplyKeys
from bot.runtime import POLLING_LIMIT, REQUEST_TIMEOUT_SECONDS, TelegramClient
from bot.sending import (
    Conflict,
    DeliveryError,
    Rejected,
    RetryAfter,
    TelegramSender,
    Transient,
    Unreachable,
)
from bot.settings import Settings

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

AlbumItem = InputMediaPhoto | InputMediaVideo | InputMediaDocument
_MEDIA_INPUT: dict[AttachmentKind, type[AlbumItem]] = {
    AttachmentKind.PHOTO: InputMediaPhoto,
    AttachmentKind.VIDEO: InputMediaVideo,
    AttachmentKind.DOCUMENT: InputMediaDocument,
}


class _Session(AiohttpSession):
    """aiogram's HTTP session, keeping each method's answer model alive.

    aiogram reads every answer into ``Response[T]``, a pydantic generic model that pydantic
    caches only weakly: freed at the next garbage collection, it was rebuilt on the next call
    (~11 ms of CPU, a quarter of the bot's CPU under load; docs/PERFORMANCE.md). One strong
    reference per method the bot calls (a dozen) keeps pydantic's cache entry.
    """

    _answer_models: ClassVar[dict[type[Any], Any]] = {}

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        kind = type(method)
        if kind not in self._answer_models:
            self._answer_models[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await super().make_request(bot, method, timeout)


def build_bot(settings: Settings) -> Bot:
    """An aiogram Bot on the configured API server, HTML by default."""
    session = _Session(
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
        if isinstance(error, TelegramConflictError):
            return Conflict(error.message)
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


class RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates answered as raw JSON objects: aiogram's own ``GetUpdates`` validates the whole
    batch at once, so one update its models cannot read failed every batch (and its error
    quoted the batch, personal data, in the log)."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class AiogramClient(TelegramClient):
    """The runtime's Bot API client on aiogram."""

    def __init__(self, settings: Settings) -> None:
        self.bot: Bot = build_bot(settings)
        self.sender = AiogramSender(self.bot)

    async def close(self) -> None:
        await self.bot.session.close()

    def command(self, name: str, description: str) -> BotCommand:
        return BotCommand(command=name, description=description)

    async def get_updates(
        self,
        *,
        offset: int | None,
        poll_seconds: int,
        allowed_updates: list[str],
        limit: int = POLLING_LIMIT,
    ) -> list[dict[str, Any]]:
        method = RawGetUpdates(
            offset=offset, limit=limit, timeout=poll_seconds, allowed_updates=allowed_updates
        )
        try:
            # The request may take the long poll plus the usual request time.
            wait = int(REQUEST_TIMEOUT_SECONDS) + poll_seconds
            return await self.bot(method, request_timeout=wait)
        except Exception as error:
            translated = self.sender._delivery_error(error)
            if translated is None:
                raise
            raise translated from error

    def parse(self, data: dict[str, Any]) -> Update:
        return Update.model_validate(data, context={"bot": self.bot})
