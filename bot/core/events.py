"""What a user did, in the project's own words: the runtimes turn Telegram updates into these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AttachmentKind(StrEnum):
    """Media a report may carry (stored as Telegram file ids)."""

    PHOTO = "photo"
    DOCUMENT = "document"
    VIDEO = "video"
    VOICE = "voice"


# Content Aduan does not take, in the order the Bot API's Message lists it; each has a catalog
# entry ``content.<name>`` so the citizen is told plainly what cannot be used.
UNSUPPORTED_CONTENT = (
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
# A shared location whose coordinates are off the map (outside ±90° / ±180°, or not numbers):
# ``to_event`` drops the point and names it here, so it is refused with a clear message and
# never stored (handlers/router.py).
INVALID_LOCATION = "invalid_location"


@dataclass(frozen=True)
class Sender:
    """The Telegram user behind an event."""

    user_id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Attachment:
    """One media item a user sent.

    ``file_name`` is set only on the way out, never stored: the neutral base name (without an
    extension) a document is re-sent under, e.g. an anonymous report's file shown to an
    officer. Resending by file id keeps the original name, so the sender (bot/sending.py)
    downloads the file and uploads the bytes as ``<file_name><original extension>``.
    """

    kind: AttachmentKind
    file_id: str
    file_unique_id: str
    caption: str | None = None
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class Location:
    """A shared point on the map."""

    latitude: float
    longitude: float


@dataclass(frozen=True)
class Event:
    """One incoming update, already stripped of the framework.

    ``unsupported`` names content Aduan does not accept (sticker, poll, contact …); an album
    arrives as one event whose ``attachments`` hold every item, captions kept. ``edited``
    marks a user's edit of a message sent earlier (Telegram's ``edited_message``): edits are
    not taken as input, the router says so (handlers/router.py).
    """

    update_id: int
    chat_id: int
    user: Sender
    chat_type: str = "private"
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    callback_id: str | None = None
    callback_data: str | None = None
    message_id: int | None = None
    media_group_id: str | None = None
    unsupported: str | None = None
    update_ids: tuple[int, ...] = field(default=())
    date: datetime | None = None
    edited: bool = False

    @property
    def is_callback(self) -> bool:
        """Whether this is a button press."""
        return self.callback_id is not None

    @property
    def command(self) -> tuple[str, str] | None:
        """``("start", "args")`` for ``/start@bot args``; None when the text is no command."""
        if not self.text or not self.text.startswith("/"):
            return None
        head, _, rest = self.text.partition(" ")
        name = head[1:].split("@", 1)[0].lower()
        if not name:
            return None
        return name, rest.strip()

    @property
    def all_update_ids(self) -> tuple[int, ...]:
        """Every update id this event stands for (an album gathers several)."""
        return self.update_ids or (self.update_id,)
