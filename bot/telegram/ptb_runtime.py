"""The second runtime's framework part: python-telegram-bot 22 talks to Telegram.

Only this file knows python-telegram-bot. What the runtime does with updates and replies is
shared (bot/runtime.py, bot/sending.py, bot/updates.py); here are just PTB's bot, types, errors
and getUpdates (Aduan's own polling loop, bot/runtime.py, calls it).
PTB's own webhook server needs tornado; the shared runtime (bot/runtime.py) serves the
webhook with aiohttp.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram import error as tg
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    Defaults,
    ExtBot,
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
PtbApplication = Application[Any, Any, Any, Any, Any, Any]

AlbumItem = InputMediaPhoto | InputMediaVideo | InputMediaDocument
_MEDIA_INPUT: dict[AttachmentKind, type[AlbumItem]] = {
    AttachmentKind.PHOTO: InputMediaPhoto,
    AttachmentKind.VIDEO: InputMediaVideo,
    AttachmentKind.DOCUMENT: InputMediaDocument,
}


def build_application(settings: Settings) -> PtbApplication:
    """A PTB Application on the configured API server, HTML by default, without PTB's jobs."""
    url = settings.telegram_api_url
    return (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .read_timeout(REQUEST_TIMEOUT_SECONDS)
        .write_timeout(REQUEST_TIMEOUT_SECONDS)
        # Aduan's scheduler runs the outbox and the duties (bot/jobs.py).
        .job_queue(None)
        .build()
    )


def _retry_after_seconds(error: tg.RetryAfter) -> float:
    value = error.retry_after  # a timedelta with PTB_TIMEDELTA (see PtbClient), else seconds
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PtbSender(TelegramSender[Markup]):
    """Replies as python-telegram-bot calls."""

    def __init__(self, bot: ExtBot[None]) -> None:
        super().__init__(bot)
        self.framework_bot = bot  # the full client, for downloads (the base knows BotApi)

    def _delivery_error(self, error: Exception) -> DeliveryError | None:
        if isinstance(error, tg.RetryAfter):
            return RetryAfter(_retry_after_seconds(error))
        if isinstance(error, tg.Forbidden):
            return Unreachable(error.message)
        if isinstance(error, tg.Conflict):
            return Conflict(error.message)
        # BadRequest and TimedOut are both NetworkErrors in PTB: the refusal is checked first.
        if isinstance(error, tg.BadRequest):
            return Rejected(error.message)
        if isinstance(error, tg.NetworkError):  # 5xx, timeouts, connection failures
            return Transient(error.message)
        return None

    def _inline(self, buttons: Keyboard) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b.text, callback_data=b.callback, url=b.url) for b in row]
                for row in buttons
            ]
        )

    def _keys(self, keys: ReplyKeys) -> ReplyKeyboardMarkup:
        return ReplyKeyboardMarkup(
            [
                [KeyboardButton(k.text, request_location=k.request_location or None) for k in row]
                for row in keys
            ],
            resize_keyboard=True,
            is_persistent=True,
        )

    def _remove_keys(self) -> ReplyKeyboardRemove:
        return ReplyKeyboardRemove()

    def _album_item(self, item: Attachment, source: object) -> AlbumItem:
        assert isinstance(source, str | InputFile)
        if isinstance(source, InputFile) and source.attach_name is None:
            # Inside a media group an upload must be an attachment (attach://…); PTB takes a
            # ready InputFile as it is, so it is made again as one.
            source = InputFile(source.input_file_content, filename=source.filename, attach=True)
        return _MEDIA_INPUT[item.kind](media=source, caption=item.caption)

    def _named_file(self, data: bytes, filename: str) -> InputFile:
        return InputFile(data, filename=filename)

    async def _download(self, file_id: str) -> tuple[bytes, str | None]:
        file = await self.framework_bot.get_file(file_id)
        if file.file_path is None:
            raise Rejected("the file has no download path")
        return bytes(await file.download_as_bytearray()), file.file_path


class PtbClient(TelegramClient):
    """The runtime's Bot API client on python-telegram-bot (PTB's Updater is not used)."""

    def __init__(self, settings: Settings) -> None:
        # PTB 22 reads RetryAfter.retry_after in its own constructor and, unless this documented
        # opt-in into its next major version's timedelta is set, warns (deprecation) on every
        # 429. An explicit setting in the environment is left as it is.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self.application = build_application(settings)
        self.bot: ExtBot[None] = self.application.bot
        self.sender = PtbSender(self.bot)

    async def open(self) -> None:
        # PTB's bot must be initialised (it calls getMe) before its first request.
        await self.application.initialize()

    async def close(self) -> None:
        await self.application.shutdown()

    def command(self, name: str, description: str) -> BotCommand:
        return BotCommand(name, description)

    async def get_updates(
        self,
        *,
        offset: int | None,
        poll_seconds: int,
        allowed_updates: list[str],
        limit: int = POLLING_LIMIT,
    ) -> list[dict[str, Any]]:
        # PTB's ``get_updates`` parses the whole batch (one unreadable update fails it, and PTB
        # logs the raw batch: personal data); its ``_post`` is the same request, unparsed, on
        # the getUpdates connection pool. The read may take the long poll plus the usual time.
        data = {
            "offset": offset,
            "limit": limit,
            "timeout": poll_seconds,
            "allowed_updates": allowed_updates,
        }
        try:
            result = await self.bot._post(
                "getUpdates", data, read_timeout=REQUEST_TIMEOUT_SECONDS + poll_seconds
            )
        except Exception as error:
            translated = self.sender._delivery_error(error)
            if translated is None:
                raise
            raise translated from error
        return list(result) if isinstance(result, list) else []

    def parse(self, data: dict[str, Any]) -> Update:
        update = Update.de_json(data, self.bot)
        if update is None:
            raise ValueError("empty update")
        return update
