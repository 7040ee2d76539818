"""Replies become Bot API calls, for both runtimes: the calls and their failures, framework-free.

aiogram and python-telegram-bot both name Bot API methods and parameters as the Bot API does
(``send_message(chat_id, text, reply_markup=...)``), so ``TelegramSender`` makes the calls for
both: it decides which calls a reply takes (``media_batches``, then the text; one markup per
message) and translates failures into the ``DeliveryError``s below. Each runtime
(bot/telegram/aiogram_runtime.py, bot/telegram/ptb_runtime.py) subclasses it with its
framework's types (markup, media, files) and error classes.

Why the errors and ``media_batches`` live here and not with a runtime: the pipeline's retries
and the outbox's outcomes and rate limit read them, and neither may depend on a framework or on
the runtime that runs it. This module imports only ``bot.core``, so ``bot/outbox.py`` and
``bot/runtime.py`` both depend on it, and the outbox never depends on the runtime.
"""

from __future__ import annotations

import dataclasses
import logging
import mimetypes
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from bot.core.events import Attachment, AttachmentKind
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
from bot.core.text import escape_caption, plain_text

log = logging.getLogger(__name__)

T = TypeVar("T")
Markup = TypeVar("Markup")


# ---- how a send failed, in the project's words (each runtime maps its framework's errors) ----
class DeliveryError(Exception):
    """A Bot API call did not deliver."""


class RetryAfter(DeliveryError):
    """Telegram asked to wait before any further request (HTTP 429 with retry_after)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Unreachable(DeliveryError):
    """The user blocked the bot or the chat is gone (HTTP 403): retrying cannot help."""


class Conflict(DeliveryError):
    """HTTP 409 on getUpdates: another process polls with this token, or a webhook is set."""


class Transient(DeliveryError):
    """A server error or timeout (HTTP 5xx, network): worth retrying later."""


class Rejected(DeliveryError):
    """Telegram refused this request as malformed (HTTP 400): retrying the same cannot help."""


def refused_for_formatting(error: Rejected) -> bool:
    """Whether Telegram refused the text's HTML ("can't parse entities: …")."""
    return "can't parse entities" in str(error).lower()


# ---- which calls a reply takes ----------------------------------------------------------------
# What a media group may mix: photos with videos, documents only with documents (voice never).
ALBUM_KINDS = (
    frozenset({AttachmentKind.PHOTO, AttachmentKind.VIDEO}),
    frozenset({AttachmentKind.DOCUMENT}),
)
ALBUM_MAX = 10


def media_batches(media: Sequence[Attachment]) -> list[tuple[Attachment, ...]]:
    """How media go out, one API call each: albums of 2–10 first, then items one by one."""
    albums: list[tuple[Attachment, ...]] = []
    singles: list[tuple[Attachment, ...]] = []
    for kinds in ALBUM_KINDS:
        items = [m for m in media if m.kind in kinds]
        for start in range(0, len(items), ALBUM_MAX):
            chunk = tuple(items[start : start + ALBUM_MAX])
            (albums if len(chunk) > 1 else singles).append(chunk)
    groupable = frozenset().union(*ALBUM_KINDS)
    singles.extend((m,) for m in media if m.kind not in groupable)
    return albums + singles


def renamed(item: Attachment, file_path: str | None) -> str:
    """The name a renamed item is uploaded under: ``file_name`` plus the original extension.

    The extension comes from getFile's ``file_path``, which Telegram derives from the original
    file name (``documents/file_12.pdf``; python-telegram-bot makes it a full URL); failing
    that, from the MIME type. Only a short alphanumeric extension is kept: nothing else of
    the original name may show.
    """
    assert item.file_name is not None
    ext = posixpath.splitext(urlsplit(file_path or "").path)[1]
    if not ext and item.mime_type:
        ext = mimetypes.guess_extension(item.mime_type) or ""
    if not (2 <= len(ext) <= 9 and ext[1:].isalnum() and ext[1:].isascii()):
        ext = ""
    return f"{item.file_name}{ext.lower()}"


# ---- the Bot API as Aduan calls it, and the sender both runtimes subclass --------------------
class SentMessage(Protocol):
    """What a send returns, as far as Aduan reads it."""

    @property
    def message_id(self) -> int: ...


class BotUser(Protocol):
    """getMe's answer, as far as Aduan reads it."""

    @property
    def username(self) -> str | None: ...


class BotApi(Protocol):
    """The Bot API methods Aduan calls, as both frameworks' ``Bot`` spell them.

    mypy checks aiogram's and python-telegram-bot's bots against this; keyword arguments are
    the Bot API's parameter names. ``Any`` stands for the framework's own input types.
    """

    async def get_me(self) -> BotUser: ...
    async def send_message(
        self, chat_id: int, text: str, *, reply_markup: Any = None, parse_mode: Any = None
    ) -> SentMessage: ...
    async def send_media_group(self, chat_id: int, media: Any) -> Sequence[SentMessage]: ...
    async def send_photo(self, chat_id: int, photo: Any, *, caption: Any = None) -> SentMessage: ...
    async def send_video(self, chat_id: int, video: Any, *, caption: Any = None) -> SentMessage: ...
    async def send_document(
        self, chat_id: int, document: Any, *, caption: Any = None
    ) -> SentMessage: ...
    async def send_voice(self, chat_id: int, voice: Any, *, caption: Any = None) -> SentMessage: ...
    async def edit_message_text(
        self,
        text: str,
        *,
        chat_id: int,
        message_id: int,
        reply_markup: Any = None,
        parse_mode: Any = None,
    ) -> object: ...
    async def edit_message_reply_markup(
        self, *, chat_id: int, message_id: int, reply_markup: Any = None
    ) -> object: ...
    async def answer_callback_query(
        self, callback_query_id: str, *, text: Any = None, show_alert: Any = None
    ) -> bool: ...
    async def set_my_commands(self, commands: Any, *, language_code: Any = None) -> bool: ...
    async def set_webhook(
        self, url: str, *, secret_token: Any = None, allowed_updates: Any = None
    ) -> bool: ...
    async def delete_webhook(self, *, drop_pending_updates: Any = None) -> bool: ...


class TelegramSender(ABC, Generic[Markup]):
    """Sends replies through one framework's bot; 429 becomes RetryAfter for the caller.

    Implements both the pipeline's ``ReplySender`` and the outbox's ``NotificationSender``.
    Users' captions are escaped here, the one place media go out (issue 11), and a text
    Telegram refuses for its HTML is sent again once as plain text, so neither the acting
    user's reply nor an outbox notice is lost to a formatting mistake.
    """

    def __init__(self, bot: BotApi) -> None:
        self.bot = bot

    async def download(self, file_id: str) -> tuple[bytes, str | None]:
        """A file's bytes and getFile's ``file_path`` (the token stays in this process)."""
        downloaded = await self._call(self._download(file_id))
        assert downloaded is not None
        return downloaded

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
            send = self.bot.send_photo if reply.as_photo else self.bot.send_document
            upload = self._input_file(reply)
            sent = await self._call(send(chat_id, upload, caption=reply.caption or None))
            return sent.message_id if sent else None
        if isinstance(reply, ClearButtons):
            clear = self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=reply.message_id, reply_markup=None
            )
            await self._call(clear, not_modified_ok=True)
            return None
        if isinstance(reply, EditMessage):
            markup = self._inline(reply.buttons)

            def edit(text: str, plain: bool) -> Awaitable[object]:
                options = {"parse_mode": None} if plain else {}
                return self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=reply.message_id,
                    reply_markup=markup,
                    **options,
                )

            await self._with_plain_fallback(reply.text, edit, not_modified_ok=True)
            return None
        return await self._send_message(chat_id, reply)

    async def _send_message(self, chat_id: int, reply: Message) -> int | None:
        await self._send_media(chat_id, reply.media)
        markup: Markup | None
        if reply.remove_keys:
            markup = self._remove_keys()
        elif reply.reply_keys:
            markup = self._keys(reply.reply_keys)
        else:
            markup = self._inline(reply.buttons)

        def send(text: str, plain: bool) -> Awaitable[SentMessage]:
            options = {"parse_mode": None} if plain else {}
            return self.bot.send_message(chat_id, text, reply_markup=markup, **options)

        sent = await self._with_plain_fallback(reply.text, send)
        return sent.message_id if sent else None

    async def _with_plain_fallback(
        self,
        text: str,
        request: Callable[[str, bool], Awaitable[T]],
        *,
        not_modified_ok: bool = False,
    ) -> T | None:
        """Make the request with ``text`` as HTML; if Telegram refuses the HTML, once more
        with the plain text and ``parse_mode`` off (the request had no effect, so nothing is
        sent twice). ``request(text, plain)`` builds the call; ``plain`` omits parse_mode."""
        try:
            return await self._call(request(text, False), not_modified_ok=not_modified_ok)
        except Rejected as error:
            if not refused_for_formatting(error):
                raise
        # No personal data: the refusal's wording quotes the text, so it is not logged.
        log.warning("Telegram refused a message's formatting; it was sent as plain text")
        return await self._call(request(plain_text(text), True), not_modified_ok=not_modified_ok)

    async def _send_media(self, chat_id: int, media: tuple[Attachment, ...]) -> None:
        senders: dict[AttachmentKind, Callable[..., Awaitable[SentMessage]]] = {
            AttachmentKind.PHOTO: self.bot.send_photo,
            AttachmentKind.VIDEO: self.bot.send_video,
            AttachmentKind.DOCUMENT: self.bot.send_document,
            AttachmentKind.VOICE: self.bot.send_voice,
        }
        for batch in media_batches(media):
            # A caption is always the user's text: escaped, never read as HTML (issue 11).
            batch = tuple(dataclasses.replace(m, caption=escape_caption(m.caption)) for m in batch)
            sources = [(m, await self._source(m)) for m in batch]
            items = [(m, source) for m, source in sources if source is not None]
            if len(items) > 1:
                album = [self._album_item(m, source) for m, source in items]
                await self._call(self.bot.send_media_group(chat_id, album))
            elif items:
                item, source = items[0]
                await self._call(senders[item.kind](chat_id, source, caption=item.caption))

    async def _source(self, item: Attachment) -> object | None:
        """What a send names ``item`` by: its file id, or a fresh upload under a new name.

        Telegram keeps a document's original name with its file id, so an item with
        ``file_name`` is downloaded (getFile + the file route) and uploaded again as
        ``renamed(...)``. A file Telegram refuses to hand over (bots may download up to 20 MB)
        is left out rather than sent under its original name (None).
        """
        if item.file_name is None:
            return item.file_id
        try:
            downloaded = await self._call(self._download(item.file_id))
        except Rejected:
            log.warning("an attachment to rename could not be downloaded; it is left out")
            return None
        assert downloaded is not None
        data, file_path = downloaded
        return self._named_file(data, renamed(item, file_path))

    async def _call(self, request: Awaitable[T], *, not_modified_ok: bool = False) -> T | None:
        """Run one API call, translating the framework's errors into the project's."""
        try:
            return await request
        except Exception as error:
            translated = self._delivery_error(error)
            if translated is None:
                raise
            # Editing a message into what it already is: the wanted state, not a failure.
            if (
                not_modified_ok
                and isinstance(translated, Rejected)
                and "not modified" in str(translated).lower()
            ):
                return None
            raise translated from error

    # ---- the framework's types ----------------------------------------------------------
    @abstractmethod
    def _delivery_error(self, error: Exception) -> DeliveryError | None:
        """The project's error for a framework error (None: not a delivery error)."""

    @abstractmethod
    def _inline(self, buttons: Keyboard) -> Markup | None:
        """Inline buttons (None when there are none)."""

    @abstractmethod
    def _keys(self, keys: ReplyKeys) -> Markup:
        """A persistent, resized reply keyboard."""

    @abstractmethod
    def _remove_keys(self) -> Markup:
        """Take the reply keyboard away."""

    @abstractmethod
    def _album_item(self, item: Attachment, source: object) -> object:
        """One photo, video or document of a media group from its ``_source``, caption kept."""

    def _input_file(self, upload: Upload) -> object:
        """Generated bytes with their file name, ready to upload."""
        return self._named_file(upload.data, upload.filename)

    @abstractmethod
    def _named_file(self, data: bytes, filename: str) -> object:
        """Bytes under a file name, ready to upload (alone or in a media group)."""

    @abstractmethod
    async def _download(self, file_id: str) -> tuple[bytes, str | None]:
        """A file's bytes and getFile's ``file_path`` (framework errors are translated)."""
