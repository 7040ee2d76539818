"""In-memory state of the Bot API emulator: users, chats, files, records and a change signal."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The content fields a message can carry, in the Bot API's order (media, location, poll …).
CONTENT_KINDS = (
    "photo",
    "document",
    "video",
    "voice",
    "audio",
    "animation",
    "sticker",
    "location",
    "contact",
    "poll",
)

__all__ = [
    "CallRecord",
    "ChatState",
    "EmulatorStats",
    "FaultRule",
    "FileStore",
    "SimUser",
    "StateSignal",
    "StoredFile",
    "WebhookDelivery",
]

_FILE_FOLDERS = {
    "photo": ("photos", "jpg"),
    "document": ("documents", "bin"),
    "video": ("videos", "mp4"),
    "voice": ("voice", "oga"),
    "audio": ("music", "mp3"),
    "sticker": ("stickers", "webp"),
}
_FILE_ID_PREFIX = {
    "photo": "AgACAgUAAxkBAAI",
    "document": "BQACAgUAAxkBAAI",
    "video": "BAACAgUAAxkBAAI",
    "voice": "AwACAgUAAxkBAAI",
    "audio": "CQACAgUAAxkBAAI",
    "sticker": "CAACAgUAAxkBAAI",
}


@dataclass(frozen=True)
class SimUser:
    """A simulated Telegram user; its private chat id equals its user id."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "id"
    phone_number: str | None = None

    def as_user(self) -> dict[str, Any]:
        """The Bot API User object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        """The Bot API Chat object of the private chat with this user."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class ChatState:
    """One chat: its Chat object, all messages (both directions) and the shown reply keyboard."""

    chat: dict[str, Any]
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    menu_button: dict[str, Any] | None = None

    def allocate_message_id(self) -> int:
        """Reserve the next message id of this chat (shared by users and the bot)."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class StoredFile:
    """A file known to the emulator; ``data`` is None for files sent by URL (never fetched)."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    file_path: str | None
    file_name: str | None = None
    mime_type: str | None = None
    media: Any = None  # the Telegram object to reuse when the file_id is sent again

    @property
    def file_size(self) -> int | None:
        """Size in bytes when the content is known."""
        return None if self.data is None else len(self.data)

    def as_file(self) -> dict[str, Any]:
        """The Bot API File object returned by getFile."""
        result: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_size is not None:
            result["file_size"] = self.file_size
        if self.file_path is not None:
            result["file_path"] = self.file_path
        return result


class FileStore:
    """All files users or the bot sent, addressable by file_id and by download path."""

    def __init__(self) -> None:
        """Start empty."""
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def add(
        self,
        kind: str,
        data: bytes | None,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        """Store content under a fresh file_id/file_unique_id (and a path when data is known)."""
        number = next(self._counter)
        folder, ext = _FILE_FOLDERS.get(kind, ("documents", "bin"))
        if file_name and "." in file_name:
            ext = file_name.rsplit(".", 1)[1][:8] or ext
        path = f"{folder}/file_{number}.{ext}" if data is not None else None
        stored = StoredFile(
            file_id=_FILE_ID_PREFIX.get(kind, "BQACAgUAAxkBAAI") + secrets.token_urlsafe(40),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            kind=kind,
            data=data,
            file_path=path,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._by_id[stored.file_id] = stored
        if path is not None:
            self._by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file with this file_id, if any."""
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """The file served at ``/file/bot<token>/<file_path>``, if any."""
        return self._by_path.get(file_path)

    def __len__(self) -> int:
        """Number of stored file ids."""
        return len(self._by_id)


@dataclass(frozen=True)
class CallRecord:
    """One Bot API call as the emulator answered it."""

    method: str
    params: dict[str, Any]
    ok: bool
    error_code: int | None = None
    description: str | None = None
    result: Any = None


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook."""

    update_id: int
    url: str
    attempt: int
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class FaultRule:
    """An injected failure consumed by the next matching calls."""

    method: str | None
    status: int
    retry_after: int
    remaining: int
    description: str | None


@dataclass
class EmulatorStats:
    """Counters for tests and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)
    too_many_requests: int = 0
    injected_faults: int = 0


class StateSignal:
    """Broadcast "state changed" to coroutines waiting for a predicate (sync-safe notify)."""

    def __init__(self) -> None:
        """Start with no waiters."""
        self._waiters: set[asyncio.Future[None]] = set()
        self.version = 0

    def notify(self) -> None:
        """Wake every waiter so it re-checks its predicate."""
        self.version += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for(self, predicate: Callable[[], bool], within: float | None) -> bool:
        """Wait until ``predicate()`` is true; False after ``within`` seconds (None: forever)."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return predicate()
            finally:
                self._waiters.discard(waiter)
        return True
