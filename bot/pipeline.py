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
- What the future of ``submit`` says (ARCHITECTURE rule 9: the runtime confirms an update to
  Telegram only on it): done with ``None`` once the event is processed, which includes a flow
  that failed with a bug (the processor answered the generic error: confirming it is right,
  delivering it again would fail again forever). A processor that raises
  ``DatabaseUnavailable`` stored nothing: the event is retried in place, at the head of its
  chat (so the chat keeps its order), after 0.5 s, 1 s, 2 s … up to 30 s, woken early when
  another chat gets through; the future stays pending meanwhile. ``database_unavailable`` is
  True from such a failure until the next success (the webhook answers 503 then; one warning
  per growing interval is logged, not one per update). ``close`` (a stop) ends the retries:
  the event and the rest of its chat's queue end with ``NotProcessed`` (not to be confirmed;
  Telegram delivers them again after the restart).
- An update already in the pipeline is not queued twice: ``submit`` of an update id still in
  flight returns its future (a webhook redelivery while the first delivery is still waiting).

Framework-free: the runtimes provide a ``ReplySender`` and turn their updates into ``Event``s.
Built by bot/app.py (processor and the client's sender), fed and drained by bot/runtime.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.core.events import Event
from bot.core.replies import Notice, Reply, Sendable
from bot.logs import chat_ref, failure
from bot.sending import RetryAfter, Transient

log = logging.getLogger(__name__)

Processor = Callable[[Event], Awaitable[list[Reply]]]
MAX_RETRY_AFTER = 60.0
# Retrying an event while the database is unreachable: the first wait, doubling up to the cap.
OUTAGE_RETRY_FIRST = 0.5
OUTAGE_RETRY_MAX = 30.0


class DatabaseUnavailable(Exception):
    """Raised by a processor: the database could not be reached and nothing was stored, so the
    same event must be processed again later (bot/processing.py decides, bot/pipeline.py
    retries)."""


class NotProcessed(Exception):
    """A submitted event's future when the pipeline stopped before it could be processed (the
    database was unavailable): the update must not be confirmed to Telegram."""


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


class _Outage:
    """The database outage seen by the workers: one warning per growing interval, not one per
    update, and a wake-up for every waiting chat once one of them gets through."""

    def __init__(self) -> None:
        self.since: float | None = None
        self._warned_at = 0.0
        self._interval = OUTAGE_RETRY_FIRST
        self._wake = asyncio.Event()
        self.closed = False

    def failed(self, waiting: int) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since, self._warned_at, self._interval = now, now, OUTAGE_RETRY_FIRST
            self._wake = asyncio.Event()
            if self.closed:
                self._wake.set()
            log.warning(
                "the database is unavailable: updates stay unconfirmed and are retried "
                "(%s chats waiting)",
                waiting,
            )
        elif now - self._warned_at >= self._interval:
            self._warned_at = now
            self._interval = min(self._interval * 2, OUTAGE_RETRY_MAX)
            log.warning(
                "the database is still unavailable after %.0f s (%s chats waiting); retrying",
                now - self.since,
                waiting,
            )

    def succeeded(self) -> None:
        if self.since is not None:
            log.info("the database is reachable again after %.1f s", time.monotonic() - self.since)
            self.since = None
            self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the database comes back or the pipeline closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


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
        self._in_flight: dict[int, asyncio.Future[None]] = {}
        self._outage = _Outage()

    @property
    def database_unavailable(self) -> bool:
        """True from a "database unavailable" failure until the next successful processing."""
        return self._outage.since is not None

    def submit(self, event: Event) -> asyncio.Future[None]:
        """Enqueue an event; the future completes once it is processed and answered (see the
        module's notes for ``NotProcessed``)."""
        known = self._in_flight.get(event.update_id)
        if known is not None:
            return known
        done = self._submit(event)
        self._in_flight[event.update_id] = done
        done.add_done_callback(lambda _: self._in_flight.pop(event.update_id, None))
        return done

    def _submit(self, event: Event) -> asyncio.Future[None]:
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

    def close(self) -> None:
        """Stop retrying: events waiting for the database end ``NotProcessed`` (the others
        finish as usual; ``drain`` waits for them)."""
        self._outage.close()

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
                    replies = await self._process(event)
                    await self._deliver(event, replies)
                except NotProcessed:
                    # Given up at a stop: this chat's later events must not overtake it.
                    for left in queue:
                        _not_processed(left.done)
                    queue.clear()
                    continue
                except Exception as error:
                    log.error(
                        "handling an update of %s failed: %s", chat_ref(chat_id), failure(error)
                    )
                queue.popleft()
                if not item.done.done():
                    item.done.set_result(None)
        finally:
            for left in queue:  # only when cancelled
                _not_processed(left.done)
            del self._queues[chat_id]
            del self._workers[chat_id]

    async def _process(self, event: Event) -> list[Reply]:
        """The processor's replies; an unreachable database is waited out in place."""
        attempt = 0
        while True:
            try:
                replies = await self.processor(event)
            except DatabaseUnavailable:
                if self._outage.closed:
                    raise NotProcessed from None
                attempt += 1
                self._outage.failed(waiting=len(self._queues))
                await self._outage.pause(
                    min(OUTAGE_RETRY_FIRST * 2 ** (attempt - 1), OUTAGE_RETRY_MAX)
                )
                if self._outage.closed:
                    raise NotProcessed from None
                continue
            self._outage.succeeded()
            return replies

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
            except Exception as refused:
                log.error(
                    "a reply was refused (%s); continuing with the next one", failure(refused)
                )
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


def _not_processed(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(NotProcessed())
        done.exception()  # retrieved: nobody may be waiting, which is no error
