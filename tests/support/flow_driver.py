"""Drive the framework-free flows as a citizen would, without Telegram: Event in, Replies out."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.app import App, build_app
from bot.core.events import Attachment, AttachmentKind, Event, Location, Sender
from bot.core.replies import Button, EditMessage, Message, Notice, Reply
from bot.settings import Settings

_update_ids = itertools.count(1)
_file_ids = itertools.count(1)


@dataclass
class FakeClock:
    """A clock the test moves by hand (Monday 2026-11-30 09:00 WIB by default)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


def photo(caption: str | None = None) -> Attachment:
    """A photo as a user would send it."""
    n = next(_file_ids)
    return Attachment(AttachmentKind.PHOTO, f"photo-{n}", f"unique-{n}", caption, 1000)


@dataclass
class Citizen:
    """One simulated user in a private chat."""

    app: App
    user_id: int = 1001
    language: str | None = "id"
    first_name: str = "Siti"
    chat_type: str = "private"
    last: list[Reply] = field(default_factory=list)

    @property
    def sender(self) -> Sender:
        return Sender(self.user_id, self.first_name, language_code=self.language)

    async def event(self, **fields: object) -> list[Reply]:
        """Process one event with the given fields and remember the replies."""
        event = Event(
            update_id=next(_update_ids),
            chat_id=self.user_id,
            user=self.sender,
            chat_type=self.chat_type,
            **fields,  # type: ignore[arg-type]
        )
        self.last = await self.app.processor.process(event)
        return self.last

    async def say(self, text: str) -> list[Reply]:
        """Send a text message (or a command)."""
        return await self.event(text=text)

    async def send_media(self, *items: Attachment) -> list[Reply]:
        """Send a photo, or an album when several are given."""
        return await self.event(
            attachments=tuple(items), media_group_id="g" if len(items) > 1 else None
        )

    async def send_location(self, latitude: float, longitude: float) -> list[Reply]:
        """Share a location."""
        return await self.event(location=Location(latitude, longitude))

    async def send_unsupported(self, what: str) -> list[Reply]:
        """Send a sticker, poll or other content Aduan does not take."""
        return await self.event(unsupported=what)

    async def press(self, data: str, message_id: int = 1) -> list[Reply]:
        """Press an inline button with this callback data."""
        return await self.event(
            callback_id=f"cb-{next(_update_ids)}", callback_data=data, message_id=message_id
        )

    async def press_labelled(self, label: str) -> list[Reply]:
        """Press the button whose text contains ``label`` in the last replies."""
        return await self.press(button(self.last, label).callback or "")

    @property
    def texts(self) -> list[str]:
        """The texts of the last replies."""
        return [r.text for r in self.last if isinstance(r, Message | EditMessage | Notice)]

    @property
    def text(self) -> str:
        """All texts of the last replies, joined."""
        return "\n".join(self.texts)


def buttons(replies: Sequence[Reply]) -> list[Button]:
    """Every inline button in the replies."""
    return [
        b for r in replies if isinstance(r, Message | EditMessage) for row in r.buttons for b in row
    ]


def button(replies: Sequence[Reply], label: str) -> Button:
    """The inline button whose text contains ``label``."""
    found = [b for b in buttons(replies) if label in b.text]
    assert found, f"no button {label!r} in {[b.text for b in buttons(replies)]}"
    return found[0]


@asynccontextmanager
async def running_app(
    settings: Settings, clock: FakeClock | None = None, *, bot_username: str = ""
) -> AsyncIterator[App]:
    """The app built on the settings' database (no Telegram), closed afterwards."""
    app = await build_app(settings, clock=clock or FakeClock(), bot_username=bot_username)
    try:
        yield app
    finally:
        await app.close()


class RunningClock:
    """A clock that runs at real speed from a chosen start, and can jump ahead (for live bots,
    whose rate limits need time to pass)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = (start or FakeClock().now) - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump_to(self, moment: datetime) -> None:
        """Continue from ``moment``."""
        self.offset = moment - datetime.now(UTC)
