"""The training sandbox's web page: several simulated users' chats side by side, live.

Plain aiohttp: ``/`` and ``/static/*`` serve the page (no build step), a small JSON API acts as
a simulated user (text, photo, location, inline button, reply-keyboard key) through the
emulator's user simulation, and ``/api/live`` is a websocket that pushes a chat's transcript
whenever it changes (driven by the emulator's state-change signal, never by polling).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.emulator import Emulator
from bot.sandbox.pictures import sample_photo
from bot.sandbox.render import entities_to_html
from bot.sandbox.state import StateSignal

__all__ = ["STATIC_DIR", "Participant", "SandboxWeb", "chat_view"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024
CALLBACK_ANSWER_WAIT = 5.0
_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)
_MEDIA_KINDS = ("photo", "document", "video", "voice", "audio", "animation", "sticker")


@dataclass(frozen=True)
class Participant:
    """A simulated user the page can show: role is citizen, admin, officer or sample."""

    user_id: int
    name: str
    role: str
    language: str
    detail: str = ""


def _image_type(data: bytes | None) -> str | None:
    """The content type of an image the browser can show, from its first bytes."""
    if not data:
        return None
    return next((kind for magic, kind in _IMAGE_TYPES if data.startswith(magic)), None)


def _buttons(markup: Mapping[str, Any] | None) -> list[list[dict[str, str]]]:
    """Inline buttons as rows of {text, data} or {text, url}."""
    rows = (markup or {}).get("inline_keyboard") or []
    result: list[list[dict[str, str]]] = []
    for row in rows:
        shown: list[dict[str, str]] = []
        for button in row:
            item = {"text": str(button.get("text", ""))}
            if "callback_data" in button:
                item["data"] = str(button["callback_data"])
            elif "url" in button:
                item["url"] = str(button["url"])
            shown.append(item)
        result.append(shown)
    return result


def message_view(emulator: Emulator, message: Mapping[str, Any]) -> dict[str, Any]:
    """One message as the page draws it; its HTML is built here, safely, from the entities."""
    view: dict[str, Any] = {
        "id": message["message_id"],
        "out": not emulator.world.is_bot_message(dict(message)),
        "date": message.get("date"),
        "edited": "edit_date" in message,
        "buttons": _buttons(message.get("reply_markup")),
    }
    if "text" in message:
        view["html"] = entities_to_html(message["text"], message.get("entities"))
    elif message.get("caption"):
        view["html"] = entities_to_html(message["caption"], message.get("caption_entities"))
    kind = next((k for k in _MEDIA_KINDS if k in message), None)
    if kind is not None:
        media = message[kind]
        item = media[-1] if isinstance(media, list) else media
        file_id = str(item.get("file_id", ""))
        stored = emulator.world.files.get(file_id)
        view["media"] = {
            "kind": kind,
            "name": item.get("file_name"),
            "url": f"/api/files/{file_id}" if stored and _image_type(stored.data) else None,
        }
    if "location" in message:
        location = message["location"]
        view["location"] = {"latitude": location["latitude"], "longitude": location["longitude"]}
    if "contact" in message:
        view["html"] = "👤 " + entities_to_html(str(message["contact"].get("phone_number")), [])
    if "reply_to_message" in message:
        quoted = message["reply_to_message"]
        view["reply_to"] = str(quoted.get("text") or quoted.get("caption") or "")[:80]
    return view


def chat_view(emulator: Emulator, user_id: int) -> dict[str, Any]:
    """A user's private chat with the bot: every message and the shown reply keyboard."""
    chat = emulator.world.chats.get(user_id)
    messages = [message_view(emulator, m) for m in chat.messages.values()] if chat else []
    keyboard = emulator.reply_keyboard(user_id)
    keys = [
        [
            {
                "text": str(key["text"] if isinstance(key, dict) else key),
                "location": bool(isinstance(key, dict) and key.get("request_location")),
            }
            for key in row
        ]
        for row in (keyboard or {}).get("keyboard", [])
    ]
    return {"user_id": user_id, "messages": messages, "keyboard": keys}


def _changed(signal: StateSignal, seen: int, socket: web.WebSocketResponse) -> bool:
    """Whether the emulator changed since version ``seen`` (or the page left)."""
    return signal.version != seen or socket.closed


def _refusal(kind: type[web.HTTPError], error: str) -> web.HTTPError:
    """An HTTP error with the API's JSON body."""
    return kind(text=json.dumps({"ok": False, "error": error}), content_type="application/json")


class BadInput(Exception):
    """A request the page should not have sent (answered with 400)."""


Action = Callable[[int, dict[str, Any]], Awaitable[dict[str, Any]]]


class SandboxWeb:
    """The page, its static files, the act-as-a-user API and the live transcript websocket."""

    def __init__(
        self,
        emulator: Emulator,
        participants: list[Participant],
        *,
        city_location: tuple[float, float] = (0.9186, 104.4554),
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Serve ``participants``' chats of ``emulator``; nothing listens until :meth:`start`."""
        self.emulator = emulator
        self.participants = {p.user_id: p for p in participants}
        self.city_location = city_location
        self.info = dict(info or {})
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._photos = 0
        self._actions: dict[str, Action] = {
            "text": self._text,
            "photo": self._photo,
            "location": self._location,
            "click": self._click,
            "key": self._key,
        }

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.host}:{self.port}/"

    def application(self) -> web.Application:
        """The aiohttp application (routes only; :meth:`start` serves it)."""
        app = web.Application(client_max_size=MAX_PHOTO_BYTES * 2)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC_DIR, append_version=False)
        app.router.add_get("/api/session", self._session)
        app.router.add_get("/api/chats/{user_id}", self._chat)
        app.router.add_post("/api/users/{user_id}/{action}", self._act)
        app.router.add_get("/api/files/{file_id}", self._file)
        app.router.add_get("/api/live", self._live)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: any free port)."""
        runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Close open websockets and stop listening."""
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ reading
    async def _index(self, request: web.Request) -> web.StreamResponse:
        """The page itself."""
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def _session(self, request: web.Request) -> web.Response:
        """Who can be shown, the bot's name and the sandbox's facts."""
        world = self.emulator.world
        return web.json_response(
            {
                "bot": {"name": world.bot_name, "username": world.bot_username},
                "participants": [asdict(p) for p in self.participants.values()],
                "city_location": list(self.city_location),
                **self.info,
            }
        )

    def _participant(self, request: web.Request) -> int:
        """The user id in the path; 404 unless it is one of the participants."""
        raw = request.match_info["user_id"]
        if not raw.lstrip("-").isdigit() or int(raw) not in self.participants:
            raise _refusal(web.HTTPNotFound, "unknown user")
        return int(raw)

    async def _chat(self, request: web.Request) -> web.Response:
        """One chat's transcript."""
        return web.json_response(chat_view(self.emulator, self._participant(request)))

    async def _file(self, request: web.Request) -> web.Response:
        """An image someone sent, for the page to show."""
        stored = self.emulator.world.files.get(request.match_info["file_id"])
        kind = _image_type(stored.data if stored else None)
        if stored is None or stored.data is None or kind is None:
            raise web.HTTPNotFound(text="no such image")
        return web.Response(
            body=stored.data, content_type=kind, headers={"Cache-Control": "max-age=3600"}
        )

    # ------------------------------------------------------------------ acting
    async def _act(self, request: web.Request) -> web.Response:
        """``POST /api/users/{id}/{text|photo|location|click|key}`` with a JSON body."""
        user_id = self._participant(request)
        action = self._actions.get(request.match_info["action"])
        if action is None:
            raise _refusal(web.HTTPNotFound, "unknown action")
        if request.content_type != "application/json":
            # JSON only: a plain cross-site form cannot post here.
            raise _refusal(web.HTTPUnsupportedMediaType, "send application/json")
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise BadInput("the body must be a JSON object")
            result = await action(user_id, body)
        except (BadInput, json.JSONDecodeError) as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        except LookupError as error:  # a button or key that is no longer shown
            return web.json_response({"ok": False, "error": str(error).strip("'\"")}, status=409)
        return web.json_response({"ok": True, **result})

    @staticmethod
    def _string(body: dict[str, Any], key: str, limit: int, *, required: bool) -> str:
        value = body.get(key, "")
        if not isinstance(value, str):
            raise BadInput(f"{key} must be a string")
        value = value.strip()
        if required and not value:
            raise BadInput(f"{key} is empty")
        if len(value) > limit:
            raise BadInput(f"{key} is longer than {limit} characters")
        return value

    async def _text(self, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        update = self.emulator.send_text(
            user_id, self._string(body, "text", MAX_TEXT, required=True)
        )
        return {"update_id": update["update_id"]}

    async def _photo(self, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        caption = self._string(body, "caption", MAX_CAPTION, required=False) or None
        encoded = body.get("data")
        if encoded is None:
            self._photos += 1
            data = sample_photo(self._photos)
        else:
            try:
                data = base64.b64decode(str(encoded).split(",")[-1], validate=True)
            except (binascii.Error, ValueError):
                raise BadInput("data must be base64") from None
            if len(data) > MAX_PHOTO_BYTES or _image_type(data) is None:
                raise BadInput("data must be a PNG, JPEG, GIF or WebP image up to 10 MB")
        update = self.emulator.send_photo(user_id, caption=caption, data=data)
        return {"update_id": update["update_id"]}

    async def _location(self, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        latitude = body.get("latitude", self.city_location[0])
        longitude = body.get("longitude", self.city_location[1])
        if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
            raise BadInput("latitude and longitude must be numbers")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise BadInput("latitude must be within ±90 and longitude within ±180")
        update = self.emulator.send_location(user_id, latitude, longitude)
        return {"update_id": update["update_id"]}

    async def _click(self, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Press an inline button; answers with the bot's pop-up text once it answered."""
        message_id, data = body.get("message_id"), body.get("data")
        if not isinstance(message_id, int) or not isinstance(data, str):
            raise BadInput("message_id (number) and data (string) are needed")
        update = self.emulator.click(user_id, message_id, data)
        query_id = update["callback_query"]["id"]
        state = self.emulator.world.callback_queries[query_id]
        answered = await self.emulator.world.signal.wait_for(
            lambda: state.answered, CALLBACK_ANSWER_WAIT
        )
        answer = self.emulator.callback_answer(query_id) if answered else None
        return {"update_id": update["update_id"], "answer": answer or None}

    async def _key(self, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Press a reply-keyboard key (a location key shares the city's location)."""
        text = self._string(body, "text", MAX_TEXT, required=True)
        latitude, longitude = self.city_location
        update = self.emulator.press_reply_button(
            user_id, text, latitude=latitude, longitude=longitude
        )
        return {"update_id": update["update_id"]}

    # -------------------------------------------------------------------- live
    async def _live(self, request: web.Request) -> web.WebSocketResponse:
        """Push ``{"type": "chat", ...}`` for every participant's chat when it changes."""
        socket = web.WebSocketResponse(heartbeat=20)
        await socket.prepare(request)
        self._sockets.add(socket)
        pusher = asyncio.create_task(self._push_changes(socket))
        try:
            async for message in socket:  # the page sends nothing; this notices it leave
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await pusher
            self._sockets.discard(socket)
        return socket

    async def _push_changes(self, socket: web.WebSocketResponse) -> None:
        """Send each chat once, then again whenever its transcript differs from the last sent."""
        signal = self.emulator.world.signal
        sent: dict[int, str] = {}
        while not socket.closed:
            seen = signal.version
            for user_id in self.participants:
                payload = json.dumps(
                    {"type": "chat", **chat_view(self.emulator, user_id)}, ensure_ascii=False
                )
                if sent.get(user_id) != payload:
                    await socket.send_str(payload)
                    sent[user_id] = payload
            await signal.wait_for(partial(_changed, signal, seen, socket), None)
