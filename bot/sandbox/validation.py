"""Request parameters and Telegram-like validation for the Bot API emulator.

Error descriptions use Telegram's wording where it is known; the few marked "emulator wording"
below are plausible stand-ins for checks whose exact Telegram text is not documented.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.sandbox.html_check import EntityParseError, parse_html

__all__ = [
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "ApiError",
    "Params",
    "Upload",
    "bad_request",
    "check_commands",
    "check_reply_markup",
    "check_scope",
    "format_caption",
    "format_text",
]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_BUTTON_URL_RE = re.compile(r"^(?:https?://[^\s/?#]+\S*|tg://\S+)$", re.IGNORECASE)


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional retry_after."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        """Store the error code, Telegram description and optional retry_after seconds."""
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 error with Telegram's ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class Upload:
    """A file uploaded in a multipart request."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


class Params:
    """Decoded method parameters with Telegram-like type coercion."""

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, Upload] | None = None):
        """Wrap plain values (query/JSON/form) and uploaded files (multipart parts)."""
        self.values: dict[str, Any] = dict(values)
        self.files: dict[str, Upload] = dict(files or {})

    def has(self, key: str) -> bool:
        """True when the parameter was given and is not null."""
        return self.values.get(key) is not None or key in self.files

    def raw(self, key: str) -> Any:
        """The parameter as received (an Upload for a file part), or None."""
        if key in self.files:
            return self.files[key]
        return self.values.get(key)

    def require(self, key: str) -> Any:
        """The raw parameter; 400 when it is missing."""
        value = self.raw(key)
        if value is None or value == "":
            raise bad_request(f'parameter "{key}" is required')
        return value

    def get_str(self, key: str, default: str | None = None) -> str | None:
        """A string parameter (numbers are stringified)."""
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise bad_request(f'parameter "{key}" must be a string')

    def get_int(self, key: str, default: int | None = None) -> int | None:
        """An integer parameter; 400 when it is not a number."""
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f'parameter "{key}" must be a number')
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f'parameter "{key}" must be a number') from None

    def get_float(self, key: str, default: float | None = None) -> float | None:
        """A float parameter; 400 when it is not a number."""
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f'parameter "{key}" must be a number')
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'parameter "{key}" must be a number') from None

    def get_bool(self, key: str, default: bool = False) -> bool:
        """A boolean parameter accepting JSON booleans and form strings."""
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        return str(value).strip().lower() in {"true", "1", "yes", "on"}

    def get_dict(self, key: str) -> dict[str, Any] | None:
        """A JSON object parameter; 400 when it is something else."""
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise bad_request(f'can\'t parse "{key}" JSON object')
        return value

    def get_list(self, key: str) -> list[Any] | None:
        """A JSON array parameter; 400 when it is something else."""
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise bad_request(f'can\'t parse "{key}" JSON array')
        return value


def _format(
    text: str, parse_mode: str | None, entities: Any, *, strict_html: bool
) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (or explicit entities) and return plain text plus entities."""
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        try:
            return parse_html(text, strict=strict_html)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    if mode in {"", "markdown", "markdownv2"}:
        # Markdown flavours are accepted unvalidated; the text is stored as sent.
        if entities is not None and not isinstance(entities, list):
            raise bad_request("can't parse entities JSON object")
        return text, list(entities or [])
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


def format_text(
    text: str | None, parse_mode: str | None, entities: Any = None, *, strict_html: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """Parse a message text and enforce Telegram's 1-4096 character limit (after parsing)."""
    if text is None or text.strip() == "":
        raise bad_request("message text is empty")
    plain, parsed = _format(text, parse_mode, entities, strict_html=strict_html)
    if plain.strip() == "":
        raise bad_request("message text is empty")
    if len(plain) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return plain, parsed


def format_caption(
    caption: str | None, parse_mode: str | None, entities: Any = None, *, strict_html: bool = True
) -> tuple[str | None, list[dict[str, Any]]]:
    """Parse an optional caption and enforce the 1024 character limit (after parsing)."""
    if caption is None or caption == "":
        return None, []
    plain, parsed = _format(caption, parse_mode, entities, strict_html=strict_html)
    if len(plain) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return (plain or None), parsed


def _check_inline_keyboard(rows: Any) -> None:
    """Validate an InlineKeyboardMarkup's rows of buttons."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: object expected")
            text = button.get("text")
            if text is None:
                raise bad_request("can't parse inline keyboard button: Can't find field \"text\"")
            if not isinstance(text, str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [name for name in INLINE_BUTTON_ACTIONS if button.get(name) is not None]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:  # emulator wording; the Bot API requires exactly one
                raise bad_request(
                    "can't parse inline keyboard button: exactly one of the optional fields "
                    f"must be used, got {', '.join(actions)}"
                )
            data = button.get("callback_data")
            if data is not None:
                if not isinstance(data, str):
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        'Field "callback_data" must be of type String'
                    )
                if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not (isinstance(url, str) and _BUTTON_URL_RE.match(url)):
                raise bad_request("inline keyboard button URL is invalid")


def _check_reply_keyboard(rows: Any) -> None:
    """Validate a ReplyKeyboardMarkup's rows of buttons."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            if isinstance(button, str):
                continue
            if not isinstance(button, dict):
                raise bad_request("can't parse keyboard button: object expected")
            if not isinstance(button.get("text"), str):
                raise bad_request("can't parse keyboard button: Can't find field \"text\"")


def check_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate any reply_markup; return it (None when absent)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    elif "keyboard" in markup:
        _check_reply_keyboard(markup["keyboard"])
    elif "remove_keyboard" in markup:
        if markup["remove_keyboard"] is not True:
            raise bad_request('field "remove_keyboard" of the ReplyKeyboardRemove must be true')
    elif "force_reply" in markup:
        if markup["force_reply"] is not True:
            raise bad_request('field "force_reply" of the ForceReply must be true')
    else:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def check_scope(scope: Any) -> dict[str, Any]:
    """Validate a BotCommandScope (default scope when None)."""
    if scope is None:
        return {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
        raise bad_request("can't parse BotCommandScope: unsupported scope type")
    if scope["type"] in {"chat", "chat_administrators", "chat_member"} and "chat_id" not in scope:
        raise bad_request("can't parse BotCommandScope: Can't find field \"chat_id\"")
    if scope["type"] == "chat_member" and "user_id" not in scope:
        raise bad_request("can't parse BotCommandScope: Can't find field \"user_id\"")
    return scope


def check_commands(commands: Any) -> list[dict[str, str]]:
    """Validate a setMyCommands list: at most 100 commands, names [a-z0-9_]{1,32}."""
    if not isinstance(commands, list):
        raise bad_request('parameter "commands" is required')
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    checked: list[dict[str, str]] = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: object expected")
        command = item.get("command")
        description = item.get("description")
        if not isinstance(command, str):
            raise bad_request("can't parse BotCommand: Can't find field \"command\"")
        if not isinstance(description, str):
            raise bad_request("can't parse BotCommand: Can't find field \"description\"")
        if not _COMMAND_RE.match(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not description.strip():
            raise bad_request("command description must be non-empty")
        if len(description) > 256:
            raise bad_request("command description is too long")  # emulator wording
        checked.append({"command": command, "description": description})
    return checked
