"""The users' side of the emulator: simulated people sending messages and pressing buttons."""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from bot.sandbox.html_check import utf16_len
from bot.sandbox.state import ChatState, SimUser
from bot.sandbox.world import CallbackQueryState, World

__all__ = ["UserRef", "UserSimulation", "message_id_of"]

UserRef = SimUser | int
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")
DEFAULT_LATITUDE = -6.2088
DEFAULT_LONGITUDE = 106.8456


def message_id_of(ref: int | Mapping[str, Any]) -> int:
    """The message id in an int, a Message dict or an Update dict carrying a message."""
    if isinstance(ref, int):
        return ref
    if "message_id" in ref:
        return int(ref["message_id"])
    for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
        if key in ref:
            return int(ref[key]["message_id"])
    if "callback_query" in ref and "message" in ref["callback_query"]:
        return int(ref["callback_query"]["message"]["message_id"])
    raise ValueError(f"no message id in {ref!r}")


def _fake_bytes(kind: str) -> bytes:
    """Distinct placeholder content for a simulated upload."""
    headers = {
        "photo": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "document": b"%PDF-1.4\n",
        "video": b"\x00\x00\x00\x18ftypmp42",
        "voice": b"OggS\x00\x02",
        "sticker": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    }
    return headers.get(kind, b"") + secrets.token_bytes(64)


class UserSimulation:
    """Mixin with the simulation API; the host class provides ``world``."""

    world: World

    # ------------------------------------------------------------ users & chats
    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
        phone_number: str | None = None,
    ) -> SimUser:
        """Create a simulated user (and its private chat, id = user id)."""
        user = SimUser(user_id, first_name, last_name, username, language_code, phone_number)
        return self.world.add_user(user)

    def add_chat(
        self, chat_id: int, title: str, *, chat_type: str = "group", username: str | None = None
    ) -> dict[str, Any]:
        """Create a group, supergroup or channel the bot is a member of."""
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": title}
        if username:
            chat["username"] = username
        return dict(self.world.add_chat(chat).chat)

    def block(self, user_id: int, *, announce: bool = True) -> None:
        """The user blocks the bot: sends to them fail with 403 (and a my_chat_member update)."""
        self.world.blocked.add(user_id)
        if announce:
            self._chat_member_update(user_id, "member", "kicked")
        self.world.signal.notify()

    def unblock(self, user_id: int, *, announce: bool = True) -> None:
        """The user unblocks the bot."""
        self.world.blocked.discard(user_id)
        if announce:
            self._chat_member_update(user_id, "kicked", "member")
        self.world.signal.notify()

    def _chat_member_update(self, user_id: int, old: str, new: str) -> None:
        """Queue the my_chat_member update Telegram sends when a user (un)blocks the bot."""
        user = self._user(user_id)
        bot = self.world.bot_user()
        self.world.enqueue(
            "my_chat_member",
            {
                "chat": user.as_chat(),
                "from": user.as_user(),
                "date": int(time.time()),
                "old_chat_member": {"status": old, "user": bot, **self._until(old)},
                "new_chat_member": {"status": new, "user": bot, **self._until(new)},
            },
        )

    @staticmethod
    def _until(status: str) -> dict[str, Any]:
        """``until_date`` required by ChatMemberBanned."""
        return {"until_date": 0} if status == "kicked" else {}

    def _user(self, user: UserRef) -> SimUser:
        """Resolve a SimUser or user id to a registered user."""
        user_id = user.id if isinstance(user, SimUser) else user
        found = self.world.users.get(user_id)
        if found is None:
            raise KeyError(f"unknown simulated user {user_id}; call add_user() first")
        return found

    def _chat_state(self, user: SimUser, chat_id: int | None) -> ChatState:
        """The chat a user writes in (their private chat by default)."""
        state = self.world.chats.get(user.id if chat_id is None else chat_id)
        if state is None:
            raise KeyError(f"unknown chat {chat_id}; call add_chat() first")
        return state

    def _send(
        self, user: UserRef, content: dict[str, Any], *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Store a user's message and queue the ``message`` update; return the update."""
        sim = self._user(user)
        chat = self._chat_state(sim, chat_id)
        message = self.world.new_message(chat, sim.as_user(), content)
        return self.world.enqueue("message", copy.deepcopy(message))

    # ---------------------------------------------------------------- messages
    def send_text(
        self,
        user: UserRef,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: int | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The user sends text; ``/command`` (optionally ``@bot``) gets a bot_command entity."""
        content: dict[str, Any] = {"text": text}
        match = _COMMAND_RE.match(text)
        if match:
            content["entities"] = [
                {"offset": 0, "length": utf16_len(match.group(0)), "type": "bot_command"}
            ]
        if reply_to is not None:
            sim = self._user(user)
            target = self._chat_state(sim, chat_id).messages.get(message_id_of(reply_to))
            if target is None:
                raise KeyError(f"message {message_id_of(reply_to)} not found in the chat")
            content["reply_to_message"] = self.world.public(target)
        return self._send(user, content, chat_id=chat_id)

    def send_photo(
        self,
        user: UserRef,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
        data: bytes | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (three PhotoSize entries; bytes downloadable via getFile)."""
        media, _ = self.world.store_media("photo", data or _fake_bytes("photo"))
        content = {"photo": media, "caption": caption, "media_group_id": media_group_id}
        return self._send(user, content)

    def send_album(
        self, user: UserRef, count: int, *, caption: str | None = None
    ) -> list[dict[str, Any]]:
        """The user sends ``count`` photos as one album (caption on the first)."""
        if not 2 <= count <= 10:
            raise ValueError("an album has 2-10 items")
        group_id = self.world.next_id("1")
        return [
            self.send_photo(user, caption=caption if i == 0 else None, media_group_id=group_id)
            for i in range(count)
        ]

    def send_document(
        self,
        user: UserRef,
        *,
        data: bytes | None = None,
        file_name: str = "dokumen.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """The user sends a document."""
        content = data if data is not None else _fake_bytes("document")
        media, _ = self.world.store_media(
            "document", content, file_name=file_name, mime_type=mime_type
        )
        return self._send(user, {"document": media, "caption": caption})

    def send_video(
        self, user: UserRef, *, data: bytes | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        """The user sends a video."""
        media, _ = self.world.store_media("video", data or _fake_bytes("video"))
        return self._send(user, {"video": media, "caption": caption})

    def send_voice(
        self, user: UserRef, *, data: bytes | None = None, duration: int = 3
    ) -> dict[str, Any]:
        """The user sends a voice note."""
        media, _ = self.world.store_media("voice", data or _fake_bytes("voice"))
        media["duration"] = duration
        return self._send(user, {"voice": media})

    def send_sticker(self, user: UserRef, *, emoji: str = "👍") -> dict[str, Any]:
        """The user sends a sticker."""
        media, _ = self.world.store_media("sticker", _fake_bytes("sticker"))
        media["emoji"] = emoji
        return self._send(user, {"sticker": media})

    def send_location(
        self, user: UserRef, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user shares a location."""
        location = {"latitude": float(latitude), "longitude": float(longitude)}
        return self._send(user, {"location": location}, chat_id=chat_id)

    def send_contact(
        self,
        user: UserRef,
        *,
        phone_number: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """The user shares a contact (their own by default, with user_id)."""
        sim = self._user(user)
        contact: dict[str, Any] = {
            "phone_number": phone_number or sim.phone_number or f"+62811{sim.id % 10**7:07d}",
            "first_name": first_name or sim.first_name,
        }
        if phone_number is None:
            contact["user_id"] = sim.id
        return self._send(user, {"contact": contact})

    def send_poll(
        self, user: UserRef, question: str, options: list[str], *, is_anonymous: bool = False
    ) -> dict[str, Any]:
        """The user sends a poll."""
        poll = {
            "id": self.world.next_id("5"),
            "question": question,
            "options": [
                {"persistent_id": str(n), "text": option, "voter_count": 0}
                for n, option in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": is_anonymous,
            "type": "regular",
            "allows_multiple_answers": False,
            # Fields of Bot API 9.x polls that current clients (aiogram 3.31) require.
            "allows_revoting": False,
            "members_only": False,
        }
        return self._send(user, {"poll": poll})

    def edit_text(
        self, user: UserRef, message: int | Mapping[str, Any], new_text: str
    ) -> dict[str, Any]:
        """The user edits one of their text messages (an ``edited_message`` update)."""
        sim = self._user(user)
        chat = self._chat_state(sim, None)
        stored = chat.messages.get(message_id_of(message))
        if stored is None or stored.get("from", {}).get("id") != sim.id or "text" not in stored:
            raise KeyError(f"user {sim.id} has no text message {message_id_of(message)}")
        stored["text"] = new_text
        stored.pop("entities", None)
        match = _COMMAND_RE.match(new_text)
        if match:
            stored["entities"] = [
                {"offset": 0, "length": utf16_len(match.group(0)), "type": "bot_command"}
            ]
        stored["edit_date"] = int(time.time())
        return self.world.enqueue("edited_message", copy.deepcopy(stored))

    def raw_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue any update dict as is (update_id assigned when missing)."""
        return self.world.enqueue_raw(dict(update))

    # ----------------------------------------------------------------- buttons
    def click(
        self, user: UserRef, message: int | Mapping[str, Any], callback_data: str
    ) -> dict[str, Any]:
        """The user presses an inline button of a bot message; it must really be there."""
        sim = self._user(user)
        chat_id = sim.id
        if isinstance(message, Mapping) and "chat" in message:
            chat_id = int(message["chat"]["id"])
        chat = self._chat_state(sim, chat_id)
        message_id = message_id_of(message)
        current = chat.messages.get(message_id)
        if current is None or not self.world.is_bot_message(current):
            raise LookupError(f"no bot message {message_id} in chat {chat_id}")
        rows = (current.get("reply_markup") or {}).get("inline_keyboard") or []
        available = [b.get("callback_data") for row in rows for b in row if "callback_data" in b]
        if callback_data not in available:
            raise LookupError(
                f"message {message_id} has no button with callback_data {callback_data!r}; "
                f"available: {available!r}"
            )
        query_id = self.world.next_id("9")
        self.world.callback_queries[query_id] = CallbackQueryState(
            query_id, chat_id, message_id, callback_data
        )
        query = {
            "id": query_id,
            "from": sim.as_user(),
            "message": self.world.public(current),
            "chat_instance": f"-{chat_id}{self.world.bot_id}",
            "data": callback_data,
        }
        return self.world.enqueue("callback_query", query)

    def press_reply_button(
        self,
        user: UserRef,
        text: str,
        *,
        latitude: float = DEFAULT_LATITUDE,
        longitude: float = DEFAULT_LONGITUDE,
    ) -> dict[str, Any]:
        """The user presses a button of the shown reply keyboard (location/contact aware)."""
        sim = self._user(user)
        chat = self._chat_state(sim, None)
        keyboard = chat.reply_keyboard
        if keyboard is None:
            raise LookupError(f"no reply keyboard is shown in chat {sim.id}")
        buttons = [
            b if isinstance(b, dict) else {"text": b} for row in keyboard["keyboard"] for b in row
        ]
        button = next((b for b in buttons if b.get("text") == text), None)
        if button is None:
            shown = [b.get("text") for b in buttons]
            raise LookupError(f"the reply keyboard has no button {text!r}; shown: {shown!r}")
        if keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
        if button.get("request_location"):
            return self.send_location(sim, latitude, longitude)
        if button.get("request_contact"):
            return self.send_contact(sim)
        return self.send_text(sim, text)
