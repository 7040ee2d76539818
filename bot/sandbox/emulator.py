"""A Telegram Bot API emulator: a real HTTP server the bot talks to, plus simulated users.

The bot (aiogram or python-telegram-bot) is pointed at :attr:`Emulator.base_url` and speaks
plain Bot API HTTP.  Tests and the training sandbox drive simulated users through the Python
API (``send_text``, ``click``...), inspect the bot's messages (``messages``), and await state
changes (``wait_for_message``, ``wait_until``, ``wait_idle``) instead of sleeping.

Imports only the standard library and aiohttp.

Example::

    async with Emulator() as emu:
        alice = emu.add_user(1001, "Alice")
        update = emu.send_text(alice, "/start")
        reply = await emu.wait_for_message(alice.id, after=update)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import http
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from bot.sandbox.http_params import decode_json_fields, read_multipart, read_params
from bot.sandbox.methods import MEDIA_METHODS, BotApi, Described, Handler
from bot.sandbox.simulation import UserSimulation, message_id_of
from bot.sandbox.state import (
    CONTENT_KINDS,
    CallRecord,
    EmulatorStats,
    FaultRule,
    SimUser,
    WebhookDelivery,
)
from bot.sandbox.validation import ApiError, Params
from bot.sandbox.world import WebhookConfig, World

__all__ = ["SENDING_METHODS", "Emulator", "SimUser"]

log = logging.getLogger(__name__)

# Methods subject to the rate limit and to ``fail_next(None)`` (lower-case names).
SENDING_METHODS = frozenset(
    {
        "sendmessage",
        "sendlocation",
        "sendcontact",
        "sendmediagroup",
        "copymessage",
        "forwardmessage",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
        *(name.lower() for name in MEDIA_METHODS),
    }
)
_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_dumps = partial(json.dumps, ensure_ascii=False)


# Telegram refuses a bot's upload (the whole request) over 50 MB with 413.
UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024


def _describe(message: Mapping[str, Any]) -> str:
    """A one-line summary of a message for timeout errors."""
    body = message.get("text") or message.get("caption") or ""
    kind = message.get("media_type", "text")
    parts = [f"#{message.get('message_id')}"]
    if kind != "text":
        parts.append(f"[{kind}]")
    parts.append(repr(body[:120]))
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    if rows:
        parts.append(
            "buttons=" + repr([b.get("callback_data") or b.get("url") for r in rows for b in r])
        )
    return " ".join(parts)


def chat_of(update: Mapping[str, Any]) -> int:
    """The chat an update belongs to (anything without one: a queue of its own), for
    delivering each chat's updates in order while chats run in parallel."""
    for key in ("message", "edited_message"):
        if key in update:
            return int(update[key]["chat"]["id"])
    if "callback_query" in update:
        query = update["callback_query"]
        message = query.get("message")
        return int(message["chat"]["id"]) if message else int(query["from"]["id"])
    return -int(update["update_id"])


def transcript_view(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message copy plus ``media_type`` and ``file_id`` (largest photo) for easy asserts."""
    view = copy.deepcopy(dict(message))
    media_type = "text"
    for kind in CONTENT_KINDS:
        if kind in view:
            media_type = kind
            media = view[kind]
            if isinstance(media, list) and media:
                view["file_id"] = media[-1]["file_id"]
            elif isinstance(media, dict) and "file_id" in media:
                view["file_id"] = media["file_id"]
            break
    view["media_type"] = media_type
    return view


class Emulator(UserSimulation):
    """An in-process Telegram Bot API server with simulated users, faults and waits."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "aduan_test_bot",
        bot_id: int = 123456,
        bot_name: str = "Aduan Test Bot",
        rate_limit_per_second: float | None = None,
        webhook_retry_delay: float = 0.05,
        webhook_max_attempts: int = 3,
        webhook_timeout: float = 10.0,
        strict_html: bool = True,
    ) -> None:
        """Configure the emulator; nothing listens until :meth:`start`."""
        self.token = token
        self.host = host
        self.port = port
        self.rate_limit_per_second = rate_limit_per_second
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_max_attempts = max(1, webhook_max_attempts)
        self.webhook_timeout = webhook_timeout
        self.world = World(bot_id=bot_id, bot_username=bot_username, bot_name=bot_name)
        self.api = BotApi(self.world, strict_html=strict_html)
        self.calls: list[CallRecord] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.stats = EmulatorStats()
        self.internal_errors: list[BaseException] = []
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self.api.handlers().items()
        }
        self._faults: list[FaultRule] = []
        self._sent_times: deque[float] = deque()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    # -------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._runner is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``{base_url}/bot{token}``, the prefix of every method URL."""
        return f"{self.base_url}/bot{self.token}"

    @property
    def file_url(self) -> str:
        """``{base_url}/file/bot{token}``, the prefix of file downloads."""
        return f"{self.base_url}/file/bot{self.token}"

    async def start(self) -> None:
        """Start the HTTP server (ephemeral port by default) and the webhook deliverer."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=UPLOAD_LIMIT_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.world.stopping = False
        self._session = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_worker(), name="emulator-webhook")

    async def stop(self) -> None:
        """Finish long polls, stop webhook delivery and close the server."""
        self.world.stopping = True
        self.world.signal.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        """Start on entering ``async with``."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on leaving ``async with``."""
        await self.stop()

    # ------------------------------------------------------------------- HTTP
    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> web.Response:
        """A JSON response with Telegram's body and status."""
        return web.json_response(body, status=status, dumps=_dumps)

    async def _handle_api(self, request: web.Request) -> web.Response:
        """``/bot{token}/{method}``: authenticate, decode parameters, execute."""
        if request.match_info["token"] != self.token:
            return self._json(ApiError(401, "Unauthorized").body(), 401)
        method = request.match_info["method"]
        if method.lower() not in self._handlers:
            return self._json(ApiError(404, "Not Found").body(), 404)
        if (request.content_length or 0) > UPLOAD_LIMIT_BYTES:
            error = ApiError(413, "Request Entity Too Large")
            self._record(method, Params({}), error=error)
            return self._json(error.body(), error.code)
        try:
            params = await read_params(request)
        except ApiError as error:
            self._record(method, Params({}), error=error)
            return self._json(error.body(), error.code)
        body, status = await self.execute(method, params)
        return self._json(body, status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """``/file/bot{token}/{file_path}``: bytes of a stored file."""
        if request.match_info["token"] != self.token:
            return self._json(ApiError(401, "Unauthorized").body(), 401)
        stored = self.world.files.by_path(request.match_info["file_path"])
        if stored is None or stored.data is None:
            return self._json(ApiError(404, "Not Found").body(), 404)
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    async def execute(
        self, method: str, params: Params, *, source: str = "http"
    ) -> tuple[dict[str, Any], int]:
        """Run one Bot API call (faults, rate limit, validation); return (body, HTTP status)."""
        entry = self._handlers.get(method.lower())
        if entry is None:
            error = ApiError(404, "Not Found")
            self._record(method, params, error=error)
            return error.body(), error.code
        name, handler = entry
        self.stats.calls[name] += 1
        try:
            self._apply_faults(name)
            self._apply_rate_limit(name)
            result = await handler(params)
        except ApiError as api_error:
            self._record(name, params, error=api_error)
            return api_error.body(), api_error.code
        except Exception as exc:  # an emulator bug: answer 500 and keep it for the tests
            log.exception("emulator failure in %s (%s)", name, source)
            self.internal_errors.append(exc)
            failure = ApiError(500, f"Internal Server Error: emulator failure: {exc!r}")
            self._record(name, params, error=failure)
            return failure.body(), failure.code
        body: dict[str, Any] = {"ok": True}
        if isinstance(result, Described):
            body["result"] = result.result
            body["description"] = result.description
        else:
            body["result"] = result
        self._record(name, params, result=body["result"])
        return body, 200

    def _record(
        self,
        method: str,
        params: Params,
        *,
        result: Any = None,
        error: ApiError | None = None,
    ) -> None:
        """Append a CallRecord, update counters and wake waiters."""
        values: dict[str, Any] = {**params.values, **params.files}
        if error is None:
            self.calls.append(CallRecord(method, values, True, result=result))
        else:
            self.stats.errors[error.code] += 1
            if error.code == 429:
                self.stats.too_many_requests += 1
            self.calls.append(
                CallRecord(method, values, False, error.code, error.description, None)
            )
        self.world.signal.notify()

    # -------------------------------------------------------- fault injection
    def fail_next(
        self,
        method: str | None = None,
        *,
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (or any sending method) fail."""
        key = method.lower() if method is not None else None
        if key is not None and key not in self._handlers:
            raise ValueError(f"unknown Bot API method {method!r}")
        self._faults.append(FaultRule(key, status, retry_after, count, description))

    def _apply_faults(self, name: str) -> None:
        """Raise the first injected fault matching this method, consuming it."""
        key = name.lower()
        for rule in self._faults:
            if rule.method == key or (rule.method is None and key in SENDING_METHODS):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._faults.remove(rule)
                self.stats.injected_faults += 1
                raise self._fault_error(rule)

    @staticmethod
    def _fault_error(rule: FaultRule) -> ApiError:
        """The error an injected fault answers with."""
        if rule.status == 429:
            description = rule.description or f"Too Many Requests: retry after {rule.retry_after}"
            return ApiError(429, description, retry_after=rule.retry_after)
        if rule.description is not None:
            return ApiError(rule.status, rule.description)
        defaults = {
            400: "Bad Request: injected failure",
            403: "Forbidden: bot was blocked by the user",
            409: "Conflict: injected failure",
        }
        try:
            phrase = http.HTTPStatus(rule.status).phrase
        except ValueError:
            phrase = "Error"
        return ApiError(rule.status, defaults.get(rule.status, phrase))

    def _apply_rate_limit(self, name: str) -> None:
        """429 when more than ``rate_limit_per_second`` sends happened in the last second."""
        limit = self.rate_limit_per_second
        if not limit or name.lower() not in SENDING_METHODS:
            return
        now = time.monotonic()
        window = self._sent_times
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            retry_after = max(1, math.ceil(1.0 - (now - window[0])))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        window.append(now)

    # --------------------------------------------------------------- webhook
    async def _webhook_worker(self) -> None:
        """Deliver pending updates to the webhook in order, one at a time, with retries."""
        world = self.world

        def has_work() -> bool:
            return world.stopping or (world.webhook is not None and bool(world.pending))

        while True:
            await world.signal.wait_for(has_work, None)
            if world.stopping:
                return
            webhook = world.webhook
            assert webhook is not None
            update = world.pending[0]
            await self._deliver_with_retries(webhook, update)
            world.signal.notify()

    def _still_pending(self, update: dict[str, Any]) -> bool:
        """True while ``update`` is still queued (not dropped by drop_pending_updates)."""
        return any(item is update for item in self.world.pending)

    def _forget(self, update: dict[str, Any]) -> None:
        """Remove ``update`` from the queue."""
        self.world.pending[:] = [item for item in self.world.pending if item is not update]

    async def _deliver_with_retries(self, webhook: WebhookConfig, update: dict[str, Any]) -> None:
        """POST one update until a 2xx answer or ``webhook_max_attempts`` failures."""
        world = self.world
        for attempt in range(1, self.webhook_max_attempts + 1):
            world.webhook_in_flight = update["update_id"]
            status, error = await self._post_update(webhook, update)
            world.webhook_in_flight = None
            self.webhook_deliveries.append(
                WebhookDelivery(update["update_id"], webhook.url, attempt, status, error)
            )
            if status is not None and 200 <= status < 300:
                self._forget(update)
                return
            world.webhook_last_error_date = int(time.time())
            world.webhook_last_error_message = error
            world.signal.notify()
            if world.webhook is not webhook or not self._still_pending(update):
                return
            if attempt < self.webhook_max_attempts:
                await asyncio.sleep(self.webhook_retry_delay)
        log.warning("webhook: dropping update %s after %s attempts", update["update_id"], attempt)
        world.dropped_updates.append(update)
        self._forget(update)

    async def _post_update(
        self, webhook: WebhookConfig, update: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        """POST one update; return (HTTP status or None, error message or None)."""
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if webhook.secret_token:
            headers[_SECRET_HEADER] = webhook.secret_token
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        try:
            async with self._session.post(
                webhook.url, data=_dumps(update), headers=headers, timeout=timeout
            ) as response:
                if 200 <= response.status < 300:
                    await self._run_webhook_reply(response)
                    return response.status, None
                reason = response.reason or ""
                return (
                    response.status,
                    f"Wrong response from the webhook: {response.status} {reason}",
                )
        except aiohttp.ClientConnectorError:
            return None, "Connection refused"
        except TimeoutError:
            return None, "Connection timed out"
        except aiohttp.ClientError as exc:
            return None, f"Connection failed: {exc}"

    async def _run_webhook_reply(self, response: aiohttp.ClientResponse) -> None:
        """Execute a Bot API method returned in the webhook answer body, if any."""
        values: dict[str, Any] = {}
        files: dict[str, Any] = {}
        if response.content_type == "application/json":
            with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
                body = await response.json()
                values = body if isinstance(body, dict) else {}
        elif response.content_type == "multipart/form-data":
            reader = aiohttp.MultipartReader(response.headers, response.content)
            values, files = await read_multipart(reader)
        method = values.pop("method", None)
        if isinstance(method, str) and method:
            try:
                params = Params(decode_json_fields(values), files)
            except ApiError as error:
                self._record(method, Params(values), error=error)
                return
            await self.execute(method, params, source="webhook")

    # ------------------------------------------------------------ transcript
    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, oldest first, in their current state."""
        chat = self.world.chats.get(chat_id)
        if chat is None:
            return []
        return [transcript_view(m) for m in chat.messages.values() if self.world.is_bot_message(m)]

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message in a chat (users' and the bot's), oldest first."""
        chat = self.world.chats.get(chat_id)
        return [transcript_view(m) for m in chat.messages.values()] if chat else []

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        """The bot's latest message in a chat, if any."""
        found = self.messages(chat_id)
        return found[-1] if found else None

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The reply keyboard currently shown in a chat (None after ReplyKeyboardRemove)."""
        chat = self.world.chats.get(chat_id)
        return copy.deepcopy(chat.reply_keyboard) if chat and chat.reply_keyboard else None

    def unanswered_callback_queries(self) -> list[str]:
        """Ids of callback queries the bot has not answered yet."""
        return [q.query_id for q in self.world.callback_queries.values() if not q.answered]

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a callback query (text, show_alert, url), if it did."""
        query = self.world.callback_queries.get(query_id)
        return copy.deepcopy(query.answer) if query else None

    def commands(
        self, language_code: str | None = None, scope: Mapping[str, Any] | None = None
    ) -> list[dict[str, str]]:
        """Commands registered for a language and scope (default scope)."""
        key = (self.world.scope_key(dict(scope or {"type": "default"})), language_code or "")
        return copy.deepcopy(self.world.commands.get(key, []))

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by getUpdates or acknowledged by the webhook."""
        return copy.deepcopy(self.world.pending)

    @property
    def polling(self) -> bool:
        """True while a getUpdates long poll is waiting for updates."""
        return self.world.waiting_polls > 0

    def calls_to(self, method: str) -> list[CallRecord]:
        """Recorded calls of one method (case-insensitive)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    # ------------------------------------------------------------------ waits
    def _chat_summary(self, chat_id: int | None, count: int = 5) -> str:
        """The last bot messages of a chat, for timeout errors."""
        if chat_id is None:
            return ""
        recent = self.messages(chat_id)[-count:]
        lines = "\n  ".join(_describe(m) for m in recent) or "(none)"
        return f"\nlast bot messages in chat {chat_id}:\n  {lines}"

    def _calls_summary(self, count: int = 5) -> str:
        """The last API calls, for timeout errors."""
        recent = [c for c in self.calls if c.method != "getUpdates"][-count:]
        lines = "\n  ".join(
            f"{c.method} -> {'ok' if c.ok else f'{c.error_code} {c.description}'}" for c in recent
        )
        return f"\nlast calls:\n  {lines or '(none)'}"

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        after: int | Mapping[str, Any] | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
    ) -> dict[str, Any]:
        """The first bot message in the chat with id > ``after`` (default: any new one)."""
        if after is None:
            chat = self.world.chats.get(chat_id)
            after_id = chat.next_message_id - 1 if chat else 0
        else:
            after_id = message_id_of(after)
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for message in self.messages(chat_id):
                if message["message_id"] > after_id and (predicate is None or predicate(message)):
                    found.append(message)
                    return True
            return False

        if not await self.world.signal.wait_for(check, timeout):
            raise TimeoutError(
                f"no bot message in chat {chat_id} after #{after_id}"
                f"{' matching the predicate' if predicate else ''} within {timeout}s"
                + self._chat_summary(chat_id)
                + self._calls_summary()
            )
        return found[-1]

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
        *,
        chat_id: int | None = None,
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` holds, re-checked on every emulator state change."""
        if not await self.world.signal.wait_for(predicate, timeout):
            raise TimeoutError(
                f"{what} not reached within {timeout}s"
                + self._chat_summary(chat_id)
                + self._calls_summary()
            )

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - public API
        """Wait until every update is confirmed/delivered and every callback query answered."""

        def idle() -> bool:
            return not self.world.pending and not self.unanswered_callback_queries()

        if not await self.world.signal.wait_for(idle, timeout):
            pending = [u["update_id"] for u in self.world.pending]
            raise TimeoutError(
                f"emulator not idle within {timeout}s: pending updates {pending}, "
                f"unanswered callback queries {self.unanswered_callback_queries()}"
                + self._calls_summary()
            )
