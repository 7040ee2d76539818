"""Updates become ``Event``s, for both runtimes: aiogram and python-telegram-bot objects alike.

Both frameworks mirror the Bot API one to one (``message.from_user``, ``message.photo``,
``callback_query.message.chat`` …), so one conversion serves both; the protocols below name
exactly the fields it reads, and mypy checks each framework's ``Update`` against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.events import (
    UNSUPPORTED_CONTENT,
    Attachment,
    AttachmentKind,
    Event,
    Location,
    Sender,
)

# What Aduan asks Telegram for; anything else that still arrives is ignored by ``to_event``.
ALLOWED_UPDATES = ["message", "callback_query", "edited_message", "my_chat_member"]


class UserFields(Protocol):
    """A Bot API ``User``."""

    @property
    def id(self) -> int: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def language_code(self) -> str | None: ...


class ChatFields(Protocol):
    """A Bot API ``Chat``."""

    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...


class FileFields(Protocol):
    """A Bot API file: ``PhotoSize``, ``Video``, ``Voice``, ``Document``."""

    @property
    def file_id(self) -> str: ...
    @property
    def file_unique_id(self) -> str: ...
    @property
    def file_size(self) -> int | None: ...


class LocationFields(Protocol):
    """A Bot API ``Location``."""

    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...


class MessageFields(Protocol):
    """The parts of a Bot API ``Message`` Aduan reads (the unsupported kinds by name)."""

    @property
    def chat(self) -> ChatFields: ...
    @property
    def from_user(self) -> UserFields | None: ...
    @property
    def date(self) -> datetime: ...
    @property
    def text(self) -> str | None: ...
    @property
    def caption(self) -> str | None: ...
    @property
    def photo(self) -> Sequence[FileFields] | None: ...
    @property
    def video(self) -> FileFields | None: ...
    @property
    def voice(self) -> FileFields | None: ...
    @property
    def document(self) -> FileFields | None: ...
    @property
    def animation(self) -> FileFields | None: ...
    @property
    def location(self) -> LocationFields | None: ...
    @property
    def media_group_id(self) -> str | None: ...


class PressedMessageFields(Protocol):
    """The message under a pressed button (possibly inaccessible: id and chat only)."""

    @property
    def chat(self) -> ChatFields: ...
    @property
    def message_id(self) -> int: ...


class CallbackQueryFields(Protocol):
    """A Bot API ``CallbackQuery``."""

    @property
    def id(self) -> str: ...
    @property
    def from_user(self) -> UserFields: ...
    @property
    def data(self) -> str | None: ...
    @property
    def message(self) -> PressedMessageFields | None: ...


class UpdateFields(Protocol):
    """A Bot API ``Update``: the two kinds Aduan handles."""

    @property
    def update_id(self) -> int: ...
    @property
    def message(self) -> MessageFields | None: ...
    @property
    def callback_query(self) -> CallbackQueryFields | None: ...


def _sender(user: UserFields) -> Sender:
    return Sender(
        user_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def _attachments(message: MessageFields) -> tuple[Attachment, ...]:
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
        # An animation (GIF) also arrives as a document; it is refused as unsupported.
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


def to_event(update: UpdateFields) -> Event | None:
    """The project's Event for an update, or None for updates Aduan has nothing to do with."""
    query = update.callback_query
    if query is not None:
        if query.message is None:  # a button under an inline-mode message: not ours
            return None
        return Event(
            update_id=update.update_id,
            chat_id=query.message.chat.id,
            chat_type=str(query.message.chat.type),
            user=_sender(query.from_user),
            callback_id=query.id,
            callback_data=query.data or "",
            message_id=query.message.message_id,
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    unsupported = next((name for name in UNSUPPORTED_CONTENT if getattr(message, name, None)), None)
    attachments = () if unsupported else _attachments(message)
    location = message.location if not unsupported else None
    if not (message.text or attachments or location or unsupported):
        unsupported = "other"
    return Event(
        update_id=update.update_id,
        chat_id=message.chat.id,
        chat_type=str(message.chat.type),
        user=_sender(message.from_user),
        text=message.text,
        attachments=attachments,
        location=Location(location.latitude, location.longitude) if location else None,
        media_group_id=message.media_group_id,
        unsupported=unsupported,
        date=message.date,
    )
