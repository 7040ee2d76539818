"""The emulator as the load benchmark needs it: timestamps and no per-waiter fan-out.

``LoadEmulator`` is bot/sandbox/emulator.py's ``Emulator`` with four changes, all on the
emulator's side (the bot sees the same Bot API):

- every queued update, every delivery (a getUpdates answer or a webhook POST) and every answer
  of the bot (a sending call) is reported to a ``Tracker``, which times the reply latency and
  wakes the one simulated user waiting in that chat (the emulator's own ``wait_for_message``
  wakes every waiter on every call: quadratic with 500 users);
- webhook updates go out as Telegram sends them: up to ``max_connections`` (40) POSTs at once,
  one per chat at a time (the emulator's worker posts one update at a time, and Aduan answers
  the POST only once the update is processed, so the bot could never be busy with two chats);
- getUpdates answers the queued updates without deep-copying them (they are serialised at once);
- calls are counted, not recorded (``calls`` would keep every parameter of every call).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from typing import Any, Protocol

from bot.sandbox.emulator import Emulator, chat_of
from bot.sandbox.validation import ApiError, Params

# The first of these to a chat after an update was delivered answers that update.
ANSWERS = frozenset({"sendmessage", "editmessagetext", "answercallbackquery"})
# Calls whose result may carry what a simulated user waits for (the next step's buttons).
RESULTS = frozenset(
    {"sendmessage", "editmessagetext", "editmessagereplymarkup", "sendphoto", "senddocument"}
)


class Tracker(Protocol):
    """What the emulator tells the load generator."""

    def queued(self, update: dict[str, Any], chat: int, now: float) -> None: ...

    def delivered(self, update_id: int, now: float) -> None: ...

    def answered(self, chat: int, method: str, result: Any, now: float) -> None: ...


class LoadEmulator(Emulator):
    """The emulator with the benchmark's hooks (see the module docstring)."""

    max_connections = 40

    def __init__(self, tracker: Tracker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracker = tracker
        self.errors = 0
        self.webhook_failures = 0
        self.webhook_failure_reasons: Counter[str] = Counter()
        self._fresh: deque[dict[str, Any]] = deque()
        self._dropping = False
        self._wake = asyncio.Event()
        self._handlers["getupdates"] = ("getUpdates", self._get_updates)
        world_enqueue = self.world.enqueue

        def enqueue(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
            update = world_enqueue(kind, payload)
            self.tracker.queued(update, chat_of(update), time.perf_counter())
            self._fresh.append(update)
            self._wake.set()
            return update

        self.world.enqueue = enqueue  # type: ignore[method-assign]

    # ------------------------------------------------------------------ calls
    async def execute(
        self, method: str, params: Params, *, source: str = "http"
    ) -> tuple[dict[str, Any], int]:
        """Run the call; report deliveries (getUpdates) and answers (sending calls)."""
        arrived = time.perf_counter()
        name = method.lower()
        body, status = await super().execute(method, params, source=source)
        if status != 200:
            return body, status
        if name == "getupdates":
            now = time.perf_counter()
            for update in body["result"]:
                self.tracker.delivered(int(update["update_id"]), now)
        elif name in RESULTS or name in ANSWERS:
            chat = self._chat_of_call(name, params)
            if chat is not None:
                self.tracker.answered(chat, name, body["result"], arrived)
        return body, status

    def _chat_of_call(self, name: str, params: Params) -> int | None:
        if name == "answercallbackquery":
            query = self.world.callback_queries.get(params.get_str("callback_query_id") or "")
            return None if query is None else query.chat_id
        value = params.values.get("chat_id")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def _record(
        self, method: str, params: Params, *, result: Any = None, error: ApiError | None = None
    ) -> None:
        """Count instead of keeping every call (memory and time over thousands of calls)."""
        if error is not None:
            self.errors += 1
            self.stats.errors[error.code] += 1
        self.world.signal.notify()

    async def _get_updates(self, p: Params) -> list[dict[str, Any]]:
        """getUpdates as bot/sandbox/methods.py answers it, minus the deep copy of the batch."""
        world = self.world
        if world.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = p.get_int("offset")
        limit = min(max(p.get_int("limit", 100) or 100, 1), 100)
        timeout = max(p.get_int("timeout", 0) or 0, 0)
        allowed = p.get_list("allowed_updates")
        if allowed is not None:
            world.set_allowed_updates(allowed)
        if offset:
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
            raise ApiError(409, "Conflict: terminated by other getUpdates request")
        if world.webhook is not None:
            raise ApiError(409, "Conflict: webhook was set while getUpdates was waiting")
        return world.pending[:limit]

    # ---------------------------------------------------------------- webhook
    async def _webhook_worker(self) -> None:
        """Telegram-like delivery: ``max_connections`` POSTs at once, one per chat at a time."""
        world = self.world
        busy: set[int] = set()
        backlog: dict[int, deque[dict[str, Any]]] = {}
        tasks: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(self.max_connections)

        async def deliver_chat(chat: int, update: dict[str, Any]) -> None:
            try:
                while True:
                    async with slots:
                        await self._deliver(update)
                    queue = backlog.get(chat)
                    if not queue:
                        backlog.pop(chat, None)
                        return
                    update = queue.popleft()
            finally:
                busy.discard(chat)

        try:
            while not world.stopping:
                if not self._fresh or world.webhook is None:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.2)
                    continue
                update = self._fresh.popleft()
                chat = chat_of(update)
                if chat in busy:
                    backlog.setdefault(chat, deque()).append(update)
                    continue
                busy.add(chat)
                task = asyncio.create_task(deliver_chat(chat, update))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()

    def drop_backlog(self) -> None:
        """Forget every update not delivered yet (the bot is about to stop: a backlog left by
        the open loop would only be refused by the stopped bot)."""
        self._dropping = True
        self._fresh.clear()
        self.world.pending.clear()

    async def _deliver(self, update: dict[str, Any]) -> None:
        """POST one update until a 2xx (at most ``webhook_max_attempts`` tries)."""
        for _attempt in range(self.webhook_max_attempts):
            webhook = self.world.webhook
            if webhook is None or self._dropping:
                return
            self.tracker.delivered(int(update["update_id"]), time.perf_counter())
            status, error = await self._post_update(webhook, update)
            if status is not None and 200 <= status < 300:
                break
            self.webhook_failures += 1
            self.webhook_failure_reasons[str(status or error)] += 1
            await asyncio.sleep(self.webhook_retry_delay)
        with contextlib.suppress(ValueError):
            self.world.pending.remove(update)
