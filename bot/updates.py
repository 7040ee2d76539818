"""Updates become ``Event``s, for both runtimes: aiogram and python-telegram-bot objects alike.

Both frameworks mirror the Bot API one to one (``message.from_user``, ``message.photo``,
``callback_query.message.chat`` …), so one conversion serves both; the protocols below name
exactly the fields it reads, and mypy checks each framework's ``Update`` against them.

This is the boundary where user input enters: every text field of the ``Event`` (text,
captions, names, username, callback data …) goes through ``bot.core.text.clean`` (no NUL,
which PostgreSQL refuses, and no other control or non-characters), and a location off the
map is not passed on as one. An ``edited_message`` becomes an Event marked ``edited``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.events import (
    INVALID_LOCATION,
    UNSUPPORTED_CONTENT,
    Attachment,
    AttachmentKind,
    Event,
    Location,
    Sender,
)
from bot.core.text import clean, clean_optional

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
    """A Bot API ``Update``: the kinds Aduan handles."""

    @property
    def update_id(self) -> int: ...
    @property
    def message(self) -> MessageFields | None: ...
    @property
    def edited_message(self) -> MessageFields | None: ...
    @property
    def callback_query(self) -> CallbackQueryFields | None: ...


def _sender(user: UserFields) -> Sender:
    return Sender(
        user_id=user.id,
        first_name=clean(user.first_name or ""),
        last_name=clean_optional(user.last_name),
        username=clean_optional(user.username),
        language_code=clean_optional(user.language_code),
    )


def _file(kind: AttachmentKind, media: FileFields, caption: str | None) -> Attachment:
    return Attachment(
        kind,
        clean(media.file_id),
        clean(media.file_unique_id),
        caption,
        media.file_size,
        clean_optional(getattr(media, "mime_type", None)),
    )


def _attachments(message: MessageFields) -> tuple[Attachment, ...]:
    caption = clean_optional(message.caption)
    if message.photo:
        return (_file(AttachmentKind.PHOTO, message.photo[-1], caption),)
    for kind, media in (
        (AttachmentKind.VIDEO, message.video),
        (AttachmentKind.VOICE, message.voice),
        # An animation (GIF) also arrives as a document; it is refused as unsupported.
        (AttachmentKind.DOCUMENT, None if message.animation else message.document),
    ):
        if media is not None:
            return (_file(kind, media, caption),)
    return ()


def _on_the_map(location: LocationFields) -> bool:
    """Whether a shared point is a place on Earth (latitude ±90°, longitude ±180°)."""
    lat, lon = location.latitude, location.longitude
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def to_event(update: UpdateFields) -> Event | None:
    """The project's Event for an update, or None for updates Aduan has nothing to do with."""
    query = update.callback_query
    if query is not None:
        if query.message is None:  # a button under an inline-mode message: not ours
            return None
        return Event(
            update_id=update.update_id,
            chat_id=query.message.chat.id,
            chat_type=clean(str(query.message.chat.type)),
            user=_sender(query.from_user),
            callback_id=clean(query.id),
            callback_data=clean(query.data or ""),
            message_id=query.message.message_id,
        )
    edited = update.message is None and update.edited_message is not None
    message = update.edited_message if edited else update.message
    if message is None or message.from_user is None:
        return None
    unsupported = next((name for name in UNSUPPORTED_CONTENT if getattr(message, name, None)), None)
    attachments = () if unsupported else _attachments(message)
    location = message.location if not unsupported else None
    if location is not None and not _on_the_map(location):
        location, unsupported = None, INVALID_LOCATION
    text = clean_optional(message.text)
    if not (text or attachments or location or unsupported):
        unsupported = "other"
    return Event(
        update_id=update.update_id,
        chat_id=message.chat.id,
        chat_type=clean(str(message.chat.type)),
        user=_sender(message.from_user),
        text=text,
        attachments=attachments,
        location=Location(location.latitude, location.longitude) if location else None,
        # An edit is answered on its own, never gathered into an album.
        media_group_id=None if edited else clean_optional(message.media_group_id),
        unsupported=unsupported,
        date=message.date,
        edited=edited,
    )
