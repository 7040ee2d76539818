"""What the bot says back, in the project's own words: the runtimes turn these into API calls."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.events import Attachment

CALLBACK_DATA_MAX_BYTES = 64


@dataclass(frozen=True)
class Button:
    """An inline button: a callback (at most 64 bytes, as Telegram demands) or a link."""

    text: str
    callback: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.callback is None) == (self.url is None):
            raise ValueError("a button needs exactly one of callback or url")
        if self.callback is not None:
            size = len(self.callback.encode())
            if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
                raise ValueError(f"callback data must be 1-64 bytes, got {size}: {self.callback!r}")


@dataclass(frozen=True)
class KeyboardKey:
    """A reply-keyboard key; ``request_location`` makes Telegram send the user's location."""

    text: str
    request_location: bool = False


Keyboard = tuple[tuple[Button, ...], ...]
ReplyKeys = tuple[tuple[KeyboardKey, ...], ...]


@dataclass(frozen=True)
class Message:
    """Send an HTML message (optionally with media) to a chat; None means the acting chat.

    ``reply_keys`` shows a reply keyboard, ``remove_keys`` takes it away; a message carries
    either those or inline ``buttons``, never both (Telegram allows one markup per message).
    """

    text: str
    buttons: Keyboard = ()
    reply_keys: ReplyKeys = ()
    remove_keys: bool = False
    media: tuple[Attachment, ...] = ()
    chat_id: int | None = None

    def __post_init__(self) -> None:
        if self.buttons and (self.reply_keys or self.remove_keys):
            raise ValueError("a message has either inline buttons or a reply keyboard")


@dataclass(frozen=True)
class EditMessage:
    """Replace the text and inline buttons of a message the bot sent (e.g. to turn a page)."""

    message_id: int
    text: str
    buttons: Keyboard = ()
    chat_id: int | None = None


@dataclass(frozen=True)
class ClearButtons:
    """Take the inline buttons off the message that was pressed (keeps stale buttons away)."""

    message_id: int
    chat_id: int | None = None


@dataclass(frozen=True)
class Notice:
    """The small pop-up answer to a button press."""

    text: str
    alert: bool = False


Reply = Message | EditMessage | ClearButtons | Notice
