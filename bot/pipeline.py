"""What both runtimes share between "an update arrived" and "the replies were sent".

- Per-chat order: events of one chat are processed one after another, in arrival order, while
  different chats run concurrently. ``submit`` enqueues synchronously, so the framework's own
  concurrency cannot reorder a chat.
- Albums: Telegram sends an album as separate messages sharing a ``media_group_id``; they are
  gathered (until ``album_wait`` seconds pass with no new item) into one event, so the flow
  accepts or refuses the album as a whole. The album keeps its place in the chat's order.
  An album still gathering when the process dies is lost with it; the window is under a second.
- Sending: every button press is answered; a 429 is waited out (``retry_after``) and a 5xx or
  timeout retried after a short backoff; any other refusal of one reply is logged and the rest
  are still sent.

Framework-free: the runtimes provide a ``ReplySender`` and turn their updates into ``Event``s.
Built by bot/app.py (processor and the client's sender), fed and drained by bot/runtime.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.core.events import Event
from bot.core.replies import Notice, Reply, Sendable
from bot.sending import RetryAfter, Transient

log = logging.getLogger(__name__)

Processor = Callable[[Event], Awaitable[list[Reply]]]
MAX_RETRY_AFTER = 60.0


class ReplySender(Protocol):
    """Executes replies through one framework's Bot API client."""

    async def answer_callback(self, callback_id: str, notice: Notice | None) -> None:
        """Answer a button press (Telegram shows a spinner until it is answered)."""

    async def send(self, chat_id: int, reply: Sendable) -> int | None:
        """Send one reply and return the new message's id; raise a DeliveryError on failure."""


@dataclass
class _Album:
    ready: asyncio.Future[Event]
    items: list[Event] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Queued:
    ready: asyncio.Future[Event]
    done: asyncio.Future[None]


class UpdatePipeline:
    """Orders, gathers and processes events, then sends their replies."""

    def __init__(
        self,
        *,
        processor: Processor,
        sender: ReplySender,
        album_wait: float = 0.8,
        send_attempts: int = 5,
    ) -> None:
        self.processor = processor
        self.sender = sender
        self.album_wait = album_wait
        self.send_attempts = send_attempts
        self._queues: dict[int, deque[_Queued]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._albums: dict[tuple[int, str], _Album] = {}

    def submit(self, event: Event) -> asyncio.Future[None]:
        """Enqueue an event; the future completes once it is processed and answered."""
        loop = asyncio.get_running_loop()
        if event.media_group_id is not None:
            key = (event.chat_id, event.media_group_id)
            album = self._albums.get(key)
            if album is not None:
                album.items.append(event)
                self._arm(key, album)
                return self._queued_for(album.ready)
            album = _Album(ready=loop.create_future(), items=[event])
            self._albums[key] = album
            self._arm(key, album)
            return self._enqueue(event.chat_id, album.ready)
        ready: asyncio.Future[Event] = loop.create_future()
        ready.set_result(event)
        return self._enqueue(event.chat_id, ready)

    def _arm(self, key: tuple[int, str], album: _Album) -> None:
        if album.timer is not None:
            album.timer.cancel()
        album.timer = asyncio.get_running_loop().call_later(self.album_wait, self._flush, key)

    def _flush(self, key: tuple[int, str]) -> None:
        album = self._albums.pop(key)
        first = album.items[0]
        merged = replace(
            first,
            attachments=tuple(a for item in album.items for a in item.attachments),
            text=next((item.text for item in album.items if item.text), None),
            update_ids=tuple(item.update_id for item in album.items),
        )
        album.ready.set_result(merged)

    def _queued_for(self, ready: asyncio.Future[Event]) -> asyncio.Future[None]:
        for queue in self._queues.values():
            for item in queue:
                if item.ready is ready:
                    return item.done
        # The album's entry is being processed already (cannot happen before the flush).
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def _enqueue(self, chat_id: int, ready: asyncio.Future[Event]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(chat_id, deque()).append(_Queued(ready, done))
        if chat_id not in self._workers:
            self._workers[chat_id] = asyncio.create_task(self._work(chat_id))
        return done

    async def _work(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue:
                item = queue[0]
                try:
                    event = await item.ready
                    replies = await self.processor(event)
                    await self._deliver(event, replies)
                except Exception:
                    log.exception("handling an update of chat %s failed", chat_id)
                finally:
                    queue.popleft()
                    if not item.done.done():
                        item.done.set_result(None)
        finally:
            del self._queues[chat_id]
            del self._workers[chat_id]

    async def _deliver(self, event: Event, replies: list[Reply]) -> None:
        if event.callback_id is not None:
            notice = next((r for r in replies if isinstance(r, Notice)), None)
            callback_id = event.callback_id
            await self._with_retry(lambda: self.sender.answer_callback(callback_id, notice))
        for reply in replies:
            if isinstance(reply, Notice):
                continue
            target = reply.chat_id if reply.chat_id is not None else event.chat_id
            await self._with_retry(functools.partial(self.sender.send, target, reply))

    async def _with_retry(self, call: Callable[[], Awaitable[object]]) -> None:
        """429: wait as told; 5xx / timeouts: back off briefly; anything else is not retried."""
        for attempt in range(1, self.send_attempts + 1):
            try:
                await call()
                return
            except RetryAfter as pause:
                log.warning("Telegram asked to wait %s s (attempt %s)", pause.seconds, attempt)
                await asyncio.sleep(min(pause.seconds, MAX_RETRY_AFTER))
            except Transient as error:
                log.warning("Telegram failed (%s); retrying (attempt %s)", error, attempt)
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            except Exception:
                log.exception("a reply was refused; continuing with the next one")
                return
        log.error("a reply was dropped after %s attempts", self.send_attempts)

    async def drain(self) -> None:
        """Wait until every submitted event (albums included) is processed and answered."""
        while self._workers or self._albums:
            pending: list[asyncio.Future[Any]] = [
                *self._workers.values(),
                *(album.ready for album in self._albums.values()),
            ]
            await asyncio.wait(pending)
