"""Bot API method implementations of the emulator, working on a :class:`World`."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.state import CONTENT_KINDS, ChatState, StoredFile
from bot.sandbox.validation import (
    ApiError,
    Params,
    Upload,
    bad_request,
    check_commands,
    check_reply_markup,
    check_scope,
    format_caption,
    format_text,
)
from bot.sandbox.world import CallbackQueryState, WebhookConfig, World

__all__ = ["MEDIA_METHODS", "BotApi", "Described", "Handler"]

MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVideo": "video",
    "sendVoice": "voice",
    "sendAudio": "audio",
    "sendAnimation": "animation",
    "sendSticker": "sticker",
}
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_GROUPABLE = {"photo": "visual", "video": "visual", "document": "document", "audio": "audio"}
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COPYABLE = ("text", "entities", *CONTENT_KINDS, "caption", "caption_entities")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

Handler = Callable[[Params], Awaitable[Any]]


@dataclass(frozen=True)
class Described:
    """A successful result that also carries Telegram's ``description`` field."""

    result: Any
    description: str


class BotApi:
    """The Bot API methods; ``handlers()`` maps method names to coroutines."""

    def __init__(self, world: World, *, strict_html: bool = True) -> None:
        """Bind the methods to a world."""
        self.world = world
        self.strict_html = strict_html

    def handlers(self) -> dict[str, Handler]:
        """All supported methods keyed by their canonical (camelCase) name."""
        table: dict[str, Handler] = {
            "getMe": self.get_me,
            "logOut": self.ok,
            "close": self.ok,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendLocation": self.send_location,
            "sendContact": self.send_contact,
            "sendMediaGroup": self.send_media_group,
            "copyMessage": self.copy_message,
            "forwardMessage": self.forward_message,
            "getFile": self.get_file,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "sendChatAction": self.send_chat_action,
            "getChat": self.get_chat,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "setMyDescription": self.set_my_description,
            "getMyDescription": self.get_my_description,
            "setMyShortDescription": self.set_my_short_description,
            "getMyShortDescription": self.get_my_short_description,
        }
        for name, kind in MEDIA_METHODS.items():
            table[name] = self._media_sender(kind)
        return table

    # ------------------------------------------------------------------ helpers
    def _chat(self, p: Params, *, write: bool = True) -> ChatState:
        """The target chat; 400 when unknown, 403 when the user blocked the bot."""
        chat = self.world.chat_for(p.require("chat_id"))
        if write:
            self.world.check_reachable(chat)
        return chat

    def _markup(self, p: Params) -> dict[str, Any] | None:
        """The validated reply_markup parameter."""
        return check_reply_markup(p.raw("reply_markup"))

    def _reply_to(self, chat: ChatState, p: Params) -> dict[str, Any] | None:
        """The message replied to (reply_parameters or reply_to_message_id), if any."""
        target: Any = p.get_int("reply_to_message_id")
        parameters = p.get_dict("reply_parameters")
        if parameters is not None:
            target = parameters.get("message_id")
        if target is None:
            return None
        message = chat.messages.get(int(target))
        if message is None:
            if parameters is not None and parameters.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        reply = self.world.public(message)
        reply.pop("reply_to_message", None)
        return reply

    def _send(
        self, chat: ChatState, p: Params, content: dict[str, Any], *, markup: bool = True
    ) -> dict[str, Any]:
        """Store a bot message with reply/markup handling and return its public form."""
        reply_markup = self._markup(p) if markup else None
        content = dict(content)
        content["reply_to_message"] = self._reply_to(chat, p)
        content["reply_markup"] = reply_markup
        message = self.world.new_message(chat, self.world.bot_user(), content)
        self._apply_keyboard(chat, reply_markup)
        return self.world.public(message)

    @staticmethod
    def _apply_keyboard(chat: ChatState, markup: dict[str, Any] | None) -> None:
        """Track the reply keyboard shown in the chat."""
        if markup is None:
            return
        if "keyboard" in markup:
            chat.reply_keyboard = copy.deepcopy(markup)
        elif "remove_keyboard" in markup:
            chat.reply_keyboard = None

    def _caption(self, p: Params) -> dict[str, Any]:
        """Caption fields parsed from caption/parse_mode/caption_entities."""
        caption, entities = format_caption(
            p.get_str("caption"),
            p.get_str("parse_mode"),
            p.raw("caption_entities"),
            strict_html=self.strict_html,
        )
        return {"caption": caption, "caption_entities": entities or None}

    def _resolve(self, kind: str, value: Any, files: dict[str, Upload]) -> tuple[Any, StoredFile]:
        """Turn an InputFile (upload, attach://, URL or file_id) into a Telegram media object."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request("can't parse InputMedia: media not found")
            value = upload
        if isinstance(value, Upload):
            return self.world.store_media(
                kind, value.data, file_name=value.filename, mime_type=value.content_type
            )
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1].split("?", 1)[0] or None
            return self.world.store_media(kind, None, file_name=name)
        stored = self.world.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return self.world.media_object(kind, stored), stored

    def _own_message(self, p: Params, verb: str) -> tuple[ChatState, dict[str, Any]]:
        """The bot message addressed by chat_id/message_id for an edit."""
        if p.has("inline_message_id"):
            raise bad_request(f"message to {verb} not found")
        chat = self._chat(p)
        message_id = p.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request(f"message to {verb} not found")
        if not self.world.is_bot_message(message):
            raise bad_request("message can't be edited")
        return chat, message

    def _finish_edit(
        self, chat: ChatState, message: dict[str, Any], changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply edit changes unless nothing changes (then 400 "message is not modified")."""
        current = dict(message)
        if "inline_keyboard" not in (current.get("reply_markup") or {"inline_keyboard": None}):
            # A reply keyboard sent with the message is not part of its editable content.
            current.pop("reply_markup")
            changes.pop("reply_markup", None)
        if all(current.get(key) == value for key, value in changes.items()):
            raise bad_request(_NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return self.world.public(message)

    @staticmethod
    def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """Edits accept only inline keyboards."""
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")  # emulator wording
        return markup

    # ------------------------------------------------------------ bot & updates
    async def ok(self, p: Params) -> bool:
        """Methods that simply succeed (logOut, close)."""
        return True

    async def get_me(self, p: Params) -> dict[str, Any]:
        """getMe."""
        return {
            **self.world.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, p: Params) -> list[dict[str, Any]]:
        """getUpdates with offset confirmation and long polling."""
        world = self.world
        if world.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = p.get_int("offset")
        limit = min(max(p.get_int("limit", 100) or 100, 1), 100)
        timeout = max(p.get_int("timeout", 0) or 0, 0)
        allowed = p.get_list("allowed_updates")
        if allowed is not None:
            world.set_allowed_updates(allowed)
        if offset is not None and offset != 0:
            world.confirm(offset)
        world.poll_generation += 1
        generation = world.poll_generation

        def ready() -> bool:
            return (
                world.stopping
                or generation != world.poll_generation
                or world.webhook is not None
                or bool(world.pending)
            )

        if timeout > 0 and not ready():
            world.waiting_polls += 1
            world.signal.notify()
            try:
                await world.signal.wait_for(ready, timeout)
            finally:
                world.waiting_polls -= 1
        if generation != world.poll_generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        if world.webhook is not None:
            raise ApiError(409, "Conflict: webhook was set while getUpdates was waiting")
        return copy.deepcopy(world.pending[:limit])

    async def set_webhook(self, p: Params) -> Described:
        """setWebhook (an empty url removes the webhook)."""
        url = (p.get_str("url") or "").strip()
        if not url:
            return await self.delete_webhook(p)
        if not url.startswith(("http://", "https://")):
            # Telegram demands HTTPS; the emulator also accepts plain HTTP for local receivers.
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get_str("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = p.get_list("allowed_updates")
        if p.get_bool("drop_pending_updates"):
            self.world.pending.clear()
        previous = self.world.webhook
        self.world.webhook = WebhookConfig(
            url=url,
            secret_token=secret or None,
            max_connections=p.get_int("max_connections", 40) or 40,
            allowed_updates=[str(kind) for kind in allowed] if allowed is not None else None,
        )
        if allowed is not None:
            self.world.set_allowed_updates(allowed)
        if previous is not None and previous.url == url:
            return Described(True, "Webhook is already set")
        return Described(True, "Webhook was set")

    async def delete_webhook(self, p: Params) -> Described:
        """deleteWebhook."""
        if p.get_bool("drop_pending_updates"):
            self.world.pending.clear()
        if self.world.webhook is None:
            return Described(True, "Webhook is already deleted")
        self.world.webhook = None
        return Described(True, "Webhook was deleted")

    async def get_webhook_info(self, p: Params) -> dict[str, Any]:
        """getWebhookInfo."""
        world = self.world
        webhook = world.webhook
        info: dict[str, Any] = {
            "url": webhook.url if webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(world.pending),
        }
        if webhook is not None:
            info["max_connections"] = webhook.max_connections
            if webhook.allowed_updates is not None:
                info["allowed_updates"] = webhook.allowed_updates
        if world.webhook_last_error_date is not None:
            info["last_error_date"] = world.webhook_last_error_date
            info["last_error_message"] = world.webhook_last_error_message
        return info

    # -------------------------------------------------------------- sending
    async def send_message(self, p: Params) -> dict[str, Any]:
        """sendMessage."""
        chat = self._chat(p)
        text, entities = format_text(
            p.get_str("text"),
            p.get_str("parse_mode"),
            p.raw("entities"),
            strict_html=self.strict_html,
        )
        preview = p.get_dict("link_preview_options")
        return self._send(
            chat,
            p,
            {"text": text, "entities": entities or None, "link_preview_options": preview},
        )

    def _media_sender(self, kind: str) -> Handler:
        """A handler for sendPhoto/sendDocument/... of one media kind."""

        async def send_media(p: Params) -> dict[str, Any]:
            chat = self._chat(p)
            media, _ = self._resolve(kind, p.raw(kind), p.files)
            content: dict[str, Any] = {kind: media}
            if kind != "sticker":
                content.update(self._caption(p))
            return self._send(chat, p, content)

        send_media.__doc__ = f"send{kind.title()}."
        return send_media

    async def send_location(self, p: Params) -> dict[str, Any]:
        """sendLocation."""
        chat = self._chat(p)
        latitude = p.get_float("latitude")
        longitude = p.get_float("longitude")
        if latitude is None or not -90 <= latitude <= 90:
            raise bad_request("wrong latitude specified")  # emulator wording
        if longitude is None or not -180 <= longitude <= 180:
            raise bad_request("wrong longitude specified")  # emulator wording
        return self._send(chat, p, {"location": {"latitude": latitude, "longitude": longitude}})

    async def send_contact(self, p: Params) -> dict[str, Any]:
        """sendContact."""
        chat = self._chat(p)
        contact = {
            "phone_number": str(p.require("phone_number")),
            "first_name": str(p.require("first_name")),
            "last_name": p.get_str("last_name"),
        }
        return self._send(chat, p, {"contact": {k: v for k, v in contact.items() if v}})

    async def send_media_group(self, p: Params) -> list[dict[str, Any]]:
        """sendMediaGroup: 2-10 photos/videos, or only documents, or only audios."""
        chat = self._chat(p)
        items = p.get_list("media")
        if items is None:
            raise bad_request('parameter "media" is required')
        if not 2 <= len(items) <= 10:
            raise bad_request("wrong number of media in the media group: must include 2-10 items")
        groups: set[str] = set()
        for item in items:
            if not isinstance(item, dict) or item.get("type") not in _GROUPABLE:
                raise bad_request("can't parse InputMedia: unsupported media type")
            groups.add(_GROUPABLE[item["type"]])
        if len(groups) > 1:
            raise bad_request(
                "documents and audio files can be only grouped with messages of the same type"
            )
        prepared: list[dict[str, Any]] = []
        for item in items:
            kind = item["type"]
            caption, entities = format_caption(
                item.get("caption"),
                item.get("parse_mode"),
                item.get("caption_entities"),
                strict_html=self.strict_html,
            )
            media, _ = self._resolve(kind, item.get("media"), p.files)
            prepared.append({kind: media, "caption": caption, "caption_entities": entities or None})
        reply_to = self._reply_to(chat, p)
        group_id = self.world.next_id()
        sent = []
        for content in prepared:
            content.update(media_group_id=group_id, reply_to_message=reply_to)
            message = self.world.new_message(chat, self.world.bot_user(), content)
            sent.append(self.world.public(message))
        return sent

    def _source_message(self, p: Params, verb: str) -> dict[str, Any]:
        """The message addressed by from_chat_id/message_id for copy/forward."""
        source_chat = self.world.chat_for(p.require("from_chat_id"))
        message = source_chat.messages.get(p.get_int("message_id") or 0)
        if message is None:
            raise bad_request(f"message to {verb} not found")
        return message

    async def copy_message(self, p: Params) -> dict[str, Any]:
        """copyMessage: returns a MessageId."""
        chat = self._chat(p)
        source = self._source_message(p, "copy")
        content = {key: copy.deepcopy(source[key]) for key in _COPYABLE if key in source}
        if p.has("caption"):
            content.update(self._caption(p))
        if not content:
            raise bad_request("message can't be copied")
        message = self._send(chat, p, content)
        return {"message_id": message["message_id"]}

    async def forward_message(self, p: Params) -> dict[str, Any]:
        """forwardMessage."""
        chat = self._chat(p)
        source = self._source_message(p, "forward")
        content: dict[str, Any] = {
            key: copy.deepcopy(source[key]) for key in _COPYABLE if key in source
        }
        content["forward_origin"] = {
            "type": "user",
            "sender_user": copy.deepcopy(source["from"]),
            "date": source["date"],
        }
        message = self.world.new_message(chat, self.world.bot_user(), content)
        return self.world.public(message)

    # ------------------------------------------------------------------ editing
    async def edit_message_text(self, p: Params) -> dict[str, Any]:
        """editMessageText (omitting reply_markup removes the inline keyboard)."""
        chat, message = self._own_message(p, "edit")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = format_text(
            p.get_str("text"),
            p.get_str("parse_mode"),
            p.raw("entities"),
            strict_html=self.strict_html,
        )
        markup = self._inline_only(self._markup(p))
        changes = {"text": text, "entities": entities or None, "reply_markup": markup}
        return self._finish_edit(chat, message, changes)

    async def edit_message_caption(self, p: Params) -> dict[str, Any]:
        """editMessageCaption."""
        chat, message = self._own_message(p, "edit")
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        changes = self._caption(p)
        changes["reply_markup"] = self._inline_only(self._markup(p))
        return self._finish_edit(chat, message, changes)

    async def edit_message_reply_markup(self, p: Params) -> dict[str, Any]:
        """editMessageReplyMarkup."""
        chat, message = self._own_message(p, "edit")
        markup = self._inline_only(self._markup(p))
        return self._finish_edit(chat, message, {"reply_markup": markup})

    async def delete_message(self, p: Params) -> bool:
        """deleteMessage."""
        chat = self._chat(p, write=False)
        message_id = p.get_int("message_id")
        if message_id is None or chat.messages.pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        return True

    async def answer_callback_query(self, p: Params) -> bool:
        """answerCallbackQuery: each query can be answered once."""
        query_id = p.get_str("callback_query_id") or ""
        query: CallbackQueryState | None = self.world.callback_queries.get(query_id)
        if query is None or query.answered:
            raise bad_request(_QUERY_INVALID)
        text = p.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        query.answer = {
            "text": text,
            "show_alert": p.get_bool("show_alert"),
            "url": p.get_str("url"),
            "cache_time": p.get_int("cache_time", 0),
        }
        return True

    # ---------------------------------------------------------------- files
    async def get_file(self, p: Params) -> dict[str, Any]:
        """getFile."""
        stored = self.world.files.get(p.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size is not None and stored.file_size > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return stored.as_file()

    # --------------------------------------------------------- bot settings
    def _commands_key(self, p: Params) -> tuple[str, str]:
        """Storage key of a (scope, language_code) pair."""
        scope = check_scope(p.get_dict("scope"))
        return self.world.scope_key(scope), p.get_str("language_code") or ""

    async def set_my_commands(self, p: Params) -> bool:
        """setMyCommands."""
        commands = check_commands(p.get_list("commands"))
        key = self._commands_key(p)
        if commands:
            self.world.commands[key] = commands
        else:
            self.world.commands.pop(key, None)
        return True

    async def get_my_commands(self, p: Params) -> list[dict[str, str]]:
        """getMyCommands (exact scope and language, no fallback)."""
        return copy.deepcopy(self.world.commands.get(self._commands_key(p), []))

    async def delete_my_commands(self, p: Params) -> bool:
        """deleteMyCommands."""
        self.world.commands.pop(self._commands_key(p), None)
        return True

    async def send_chat_action(self, p: Params) -> bool:
        """sendChatAction."""
        self._chat(p)
        if p.get_str("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def get_chat(self, p: Params) -> dict[str, Any]:
        """getChat (a ChatFullInfo)."""
        chat = self._chat(p, write=False)
        return {**chat.chat, "accent_color_id": 0, "max_reaction_count": 11}

    async def set_chat_menu_button(self, p: Params) -> bool:
        """setChatMenuButton (per chat or the default)."""
        button = p.get_dict("menu_button") or {"type": "default"}
        if button.get("type") not in {"commands", "web_app", "default"}:
            raise bad_request("can't parse menu button: unsupported type")
        if p.has("chat_id"):
            self._chat(p, write=False).menu_button = button
        else:
            self.world.default_menu_button = (
                {"type": "commands"} if button["type"] == "default" else button
            )
        return True

    async def get_chat_menu_button(self, p: Params) -> dict[str, Any]:
        """getChatMenuButton."""
        if p.has("chat_id"):
            button = self._chat(p, write=False).menu_button
            if button is not None and button.get("type") != "default":
                return copy.deepcopy(button)
        return copy.deepcopy(self.world.default_menu_button)

    def _set_text_setting(self, p: Params, field: str, limit: int) -> bool:
        """Store a per-language bot text (description / short description)."""
        value = p.get_str(field) or ""
        if len(value) > limit:
            raise bad_request(f"{field.replace('_', ' ')} is too long")  # emulator wording
        key = (field, p.get_str("language_code") or "")
        if value:
            self.world.descriptions[key] = value
        else:
            self.world.descriptions.pop(key, None)
        return True

    def _get_text_setting(self, p: Params, field: str) -> dict[str, str]:
        """Read a per-language bot text, falling back to the default language."""
        language = p.get_str("language_code") or ""
        value = self.world.descriptions.get((field, language))
        if value is None:
            value = self.world.descriptions.get((field, ""), "")
        return {field: value}

    async def set_my_description(self, p: Params) -> bool:
        """setMyDescription (≤ 512 characters)."""
        return self._set_text_setting(p, "description", 512)

    async def get_my_description(self, p: Params) -> dict[str, str]:
        """getMyDescription."""
        return self._get_text_setting(p, "description")

    async def set_my_short_description(self, p: Params) -> bool:
        """setMyShortDescription (≤ 120 characters)."""
        return self._set_text_setting(p, "short_description", 120)

    async def get_my_short_description(self, p: Params) -> dict[str, str]:
        """getMyShortDescription."""
        return self._get_text_setting(p, "short_description")
