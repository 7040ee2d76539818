"""What the bot says back, in the project's own words: the runtimes turn these into API calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.core.events import Attachment, AttachmentKind

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

    def to_payload(self) -> dict[str, Any]:
        """A JSON-safe form, for the outbox (inline buttons and media only: no reply keys)."""
        return {
            "text": self.text,
            "buttons": [[asdict(b) for b in row] for row in self.buttons],
            "media": [{**asdict(m), "kind": m.kind.value} for m in self.media],
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], chat_id: int | None = None) -> Message:
        """The message stored by ``to_payload``."""
        return cls(
            text=payload["text"],
            buttons=tuple(tuple(Button(**b) for b in row) for row in payload.get("buttons", [])),
            media=tuple(
                Attachment(**{**m, "kind": AttachmentKind(m["kind"])})
                for m in payload.get("media", [])
            ),
            chat_id=chat_id,
        )


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


@dataclass(frozen=True)
class Upload:
    """A file the bot made (an export, a chart), sent as a document or, if ``as_photo``, a photo."""

    filename: str
    data: bytes
    caption: str = ""
    as_photo: bool = False
    chat_id: int | None = None


Reply = Message | EditMessage | ClearButtons | Notice | Upload
Sendable = Message | EditMessage | ClearButtons | Upload
