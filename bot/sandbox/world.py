"""Everything the emulated Telegram knows: bot, users, chats, messages, files and updates."""

from __future__ import annotations

import copy
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from bot.sandbox.state import ChatState, FileStore, SimUser, StateSignal, StoredFile
from bot.sandbox.validation import ApiError, bad_request

__all__ = ["DEFAULT_EXCLUDED_UPDATES", "CallbackQueryState", "WebhookConfig", "World"]

# Update types not delivered while allowed_updates is unset or empty (Telegram's default).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_PHOTO_SIZES = ((90, 68), (320, 240), (800, 600))
_DEFAULT_MIME = {
    "video": "video/mp4",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "animation": "video/mp4",
    "document": "application/octet-stream",
}


@dataclass
class WebhookConfig:
    """The webhook set by setWebhook."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None


@dataclass
class CallbackQueryState:
    """A callback query sent to the bot and whether it has been answered."""

    query_id: str
    chat_id: int
    message_id: int
    data: str
    answered: bool = False
    answer: dict[str, Any] | None = None


class World:
    """The emulated Telegram side shared by the HTTP API and the simulation API."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_name: str) -> None:
        """Create an empty world for one bot."""
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, ChatState] = {}
        self.blocked: set[int] = set()
        self.files = FileStore()
        self.pending: list[dict[str, Any]] = []
        self.next_update_id = 100_000_001
        self.allowed_updates: list[str] | None = None
        self.dropped_updates: list[dict[str, Any]] = []
        self.webhook: WebhookConfig | None = None
        self.webhook_last_error_date: int | None = None
        self.webhook_last_error_message: str | None = None
        self.webhook_in_flight: int | None = None
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self.signal = StateSignal()
        self.stopping = False
        self.poll_generation = 0
        self.waiting_polls = 0
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- identities
    def bot_user(self) -> dict[str, Any]:
        """The bot as the ``from`` of its messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    def next_id(self, prefix: str = "") -> str:
        """A process-unique identifier string (callback query ids, media group ids...)."""
        return f"{prefix}{self.bot_id}{next(self._ids):08d}"

    def add_user(self, user: SimUser) -> SimUser:
        """Register a user and its private chat."""
        self.users[user.id] = user
        if user.id not in self.chats:
            self.chats[user.id] = ChatState(chat=user.as_chat())
        self.signal.notify()
        return user

    def add_chat(self, chat: dict[str, Any]) -> ChatState:
        """Register a group/supergroup/channel chat (or replace its Chat object)."""
        existing = self.chats.get(chat["id"])
        if existing is None:
            state = self.chats[chat["id"]] = ChatState(chat=dict(chat))
        else:
            state = existing
            state.chat = dict(chat)
        self.signal.notify()
        return state

    def chat_for(self, chat_id: Any) -> ChatState:
        """The chat addressed by a chat_id parameter (id or @username); 400 when unknown."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            for state in self.chats.values():
                if str(state.chat.get("username", "")).lower() == wanted:
                    return state
            raise bad_request("chat not found")
        try:
            key = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        found = self.chats.get(key)
        if found is None:
            raise bad_request("chat not found")
        return found

    def check_reachable(self, chat: ChatState) -> None:
        """403 when the chat is a private chat with a user who blocked the bot."""
        if chat.chat.get("type") == "private" and chat.chat["id"] in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    # ------------------------------------------------------------------- messages
    def new_message(
        self, chat: ChatState, sender: dict[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        """Create and store a message in ``chat`` with the next message id."""
        message: dict[str, Any] = {
            "message_id": chat.allocate_message_id(),
            "from": dict(sender),
            "chat": dict(chat.chat),
            "date": int(time.time()),
        }
        message.update({key: value for key, value in content.items() if value is not None})
        chat.messages[message["message_id"]] = message
        return message

    def is_bot_message(self, message: dict[str, Any]) -> bool:
        """True for messages the bot sent."""
        return bool(message.get("from", {}).get("id") == self.bot_id)

    @staticmethod
    def public(message: dict[str, Any]) -> dict[str, Any]:
        """The message as the Bot API returns it (only inline keyboards are echoed)."""
        result = copy.deepcopy(message)
        markup = result.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            del result["reply_markup"]
        return result

    # ---------------------------------------------------------------------- files
    def media_object(self, kind: str, stored: StoredFile) -> Any:
        """The Telegram object for ``stored`` sent as ``kind`` (PhotoSize list for photos)."""
        if stored.kind == kind and stored.media is not None:
            return copy.deepcopy(stored.media)
        if kind == "photo":
            sizes: list[dict[str, Any]] = []
            variants = [
                self.files.add("photo", stored.data, mime_type=stored.mime_type)
                for _ in _PHOTO_SIZES[:-1]
            ]
            for (width, height), variant in zip(_PHOTO_SIZES, [*variants, stored], strict=True):
                size: dict[str, Any] = {
                    "file_id": variant.file_id,
                    "file_unique_id": variant.file_unique_id,
                    "width": width,
                    "height": height,
                }
                if variant.file_size is not None:
                    size["file_size"] = variant.file_size
                sizes.append(size)
            for variant in [*variants, stored]:
                variant.media = sizes
            if stored.kind != "photo":
                stored.media = None
            return copy.deepcopy(sizes)
        obj: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_size is not None:
            obj["file_size"] = stored.file_size
        if kind in {"video", "animation"}:
            obj.update(width=640, height=360, duration=5)
        elif kind == "voice":
            obj["duration"] = 3
        elif kind == "audio":
            obj["duration"] = 30
        elif kind == "sticker":
            obj.update(type="regular", width=512, height=512, is_animated=False, is_video=False)
            obj["emoji"] = "🙂"
        if kind in _DEFAULT_MIME:
            obj["mime_type"] = stored.mime_type or _DEFAULT_MIME[kind]
        if kind in {"document", "audio", "video", "animation"} and stored.file_name:
            obj["file_name"] = stored.file_name
        if stored.kind == kind:
            stored.media = obj
        return copy.deepcopy(obj)

    def store_media(
        self,
        kind: str,
        data: bytes | None,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> tuple[Any, StoredFile]:
        """Store new content and return its Telegram object and the stored file."""
        stored = self.files.add(kind, data, file_name=file_name, mime_type=mime_type)
        return self.media_object(kind, stored), stored

    # -------------------------------------------------------------------- updates
    def update_allowed(self, kind: str) -> bool:
        """Whether an update of this type is delivered under the current allowed_updates."""
        allowed = self.allowed_updates
        if self.webhook is not None and self.webhook.allowed_updates is not None:
            allowed = self.webhook.allowed_updates
        if not allowed:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in allowed

    def enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Create an update with the next update_id and queue it unless it is filtered out."""
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        if self.update_allowed(kind):
            self.pending.append(update)
        else:
            self.dropped_updates.append(update)
        self.signal.notify()
        return update

    def enqueue_raw(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an arbitrary update dict, assigning update_id when it has none."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update = {"update_id": self.next_update_id, **update}
        self.next_update_id = max(self.next_update_id, int(update["update_id"]) + 1)
        kinds = [key for key in update if key != "update_id"]
        if not kinds or self.update_allowed(kinds[0]):
            self.pending.append(update)
        else:
            self.dropped_updates.append(update)
        self.signal.notify()
        return update

    def confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset < 0:
            del self.pending[: max(0, len(self.pending) + offset)]
        else:
            self.pending[:] = [u for u in self.pending if u["update_id"] >= offset]
        self.signal.notify()

    def set_allowed_updates(self, allowed: list[Any]) -> None:
        """Remember allowed_updates from getUpdates/setWebhook (empty list = default)."""
        self.allowed_updates = [str(kind) for kind in allowed] or None

    @staticmethod
    def scope_key(scope: dict[str, Any]) -> str:
        """A canonical key for a BotCommandScope."""
        return json.dumps(scope, sort_keys=True, separators=(",", ":"))
