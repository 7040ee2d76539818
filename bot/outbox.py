"""The outbox dispatcher: delivers notification rows within Telegram's limits, exactly once.

Each ``run_once`` claims a batch of due rows (at most one per chat: the head of its queue, see
``storage.outbox.claim_due``), sends them concurrently through one global rate limiter and
records each outcome in its own short transaction; no transaction is held across a send.

- 429 (``RetryAfter``): Telegram throttles the whole bot, so the dispatcher pauses until
  ``retry_after`` has passed; the row and every row of the batch not yet sent go back to the
  queue without counting an attempt.
- 5xx, timeouts (``Transient``): exponential backoff, dead after ``max_attempts``.
- 400 (``Rejected``): dead at once; retrying the same request cannot help. A notice refused
  for its HTML ("can't parse entities") never gets here: the sender (bot/sending.py, shared
  with the acting user's replies) sends it again once as plain text, and logs that it did.
- 403 (``Unreachable``): the row, the chat's other pending rows and the citizen become
  unreachable.

Several processes may run a dispatcher on the same database: claiming is atomic. Delivery is
exactly once, except that a row whose send succeeded but whose outcome could not be recorded
(the process died, or the database was unreachable, in between) is sent again once its lease
expires. A message with media is several API calls; a failure after the first repeats them.

Framework-free: the sender is anything with ``async send(chat_id, Message) -> int | None``
raising ``bot.sending``'s ``DeliveryError``s (in production the Telegram client's sender, handed
over by bot/app.py); times written to the database come from the injected clock. This module
imports neither ``bot.telegram`` nor the runtime that schedules it (bot/runtime.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.replies import Message
from bot.metrics import Metrics
from bot.sending import Rejected, RetryAfter, Transient, Unreachable, media_batches
from storage.database import SessionFactory, is_connection_error
from storage.models import Notification
from storage.outbox import claim_due, mark_dead, mark_retry, mark_sent, mark_unreachable
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Mark = Callable[..., Awaitable[bool]]
# Telegram's retry_after is seconds; anything longer than this is treated as this long, so a
# bogus value cannot stall delivery for hours (the row simply meets another 429 if too early).
MAX_PAUSE_SECONDS = 600.0
# A row is sent only while this much of its lease remains, so a slow batch cannot race a
# worker that re-claims the row after the lease ran out.
LEASE_MARGIN = 0.25


class NotificationSender(Protocol):
    """Delivers one message to a chat; raises ``bot.sending.DeliveryError``."""

    async def send(self, chat_id: int, reply: Message) -> int | None:
        """Send and return the new message's id."""


@dataclass
class DispatchReport:
    """What one or more dispatcher runs did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    unreachable: int = 0
    deferred: int = 0  # put back untried because of a 429 pause or an almost expired lease
    lost: int = 0  # re-claimed by another worker before this one could record the outcome
    paused_until: datetime | None = None

    def add(self, other: DispatchReport) -> None:
        """Accumulate another run's counts (the latest pause wins)."""
        for name in ("claimed", "sent", "retried", "dead", "unreachable", "deferred", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused_until = other.paused_until or self.paused_until


class RateLimiter:
    """At most ``rate_per_second × window`` calls reach Telegram in any ``window`` seconds.

    Telegram counts a send when it arrives, which the sender cannot see: a request slow to get
    there (a busy event loop, a slow connection) arrives late, and calls released a window
    after it could then arrive in the same window as it (a 429 in every outbox benchmark run).
    So a call holds its place from its release until it has completed, which is after it
    arrived: a new call waits while the calls in flight plus those completed within the last
    ``window`` fill it. The cost is the round trip per window (on a 10 ms round trip, 1 %).

    Calls are also spaced ``1 / rate`` seconds apart (no bursts), in the order they ask; one
    that woke up late lets the next ones catch up by at most a quarter interval. ``guard``
    widens the spacing a little to absorb jitter.
    """

    def __init__(self, rate_per_second: float, *, window: float = 1.0, guard: float = 0.01):
        self.interval = (1.0 + guard) / rate_per_second
        self.slack = self.interval / 4
        self.window = window
        self.capacity = max(1, int(rate_per_second * window))
        self._lock = asyncio.Lock()
        self._next = 0.0
        self._in_flight = 0
        self._completed: deque[float] = deque()  # one entry per API call
        self._change = asyncio.Event()

    async def acquire(self, cost: int = 1) -> Callable[[], None]:
        """Wait for a place for ``cost`` API calls (a message with media makes several); call
        what it returns once they have completed."""
        async with self._lock:
            slot = max(self._next, time.monotonic() - self.slack)
            wait = slot - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._room_for(min(cost, self.capacity))
            released = time.monotonic()
            self._next = max(slot, released - self.slack) + cost * self.interval
            self._in_flight += cost
        returned = False

        def release() -> None:
            nonlocal returned
            if not returned:
                returned = True
                self._in_flight -= cost
                self._completed.extend([time.monotonic()] * cost)
                self._change.set()

        return release

    @contextlib.asynccontextmanager
    async def call(self, cost: int = 1) -> AsyncIterator[None]:
        """``acquire`` around a block: the place is held until the block ends."""
        release = await self.acquire(cost)
        try:
            yield
        finally:
            release()

    async def _room_for(self, cost: int) -> None:
        """Wait until ``cost`` more calls fit in the window."""
        while True:
            now = time.monotonic()
            while self._completed and self._completed[0] <= now - self.window:
                self._completed.popleft()
            if self._in_flight + len(self._completed) + cost <= self.capacity:
                return
            # Room comes when the oldest completion leaves the window or a call completes.
            timeout = self._completed[0] + self.window - now if self._completed else None
            self._change.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._change.wait(), timeout)


def api_calls(message: Message) -> int:
    """How many Bot API calls sending the message takes (albums and single media, the text)."""
    return 1 + len(media_batches(message.media))


class OutboxDispatcher:
    """Claims due notifications and delivers them; safe to run in several processes at once."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        sender: NotificationSender,
        clock: Clock,
        worker_id: str,
        rate_per_second: float = 25.0,
        per_chat_interval: float = 1.0,
        max_attempts: int = 5,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        metrics: Metrics | None = None,
    ) -> None:
        if rate_per_second <= 0 or max_attempts < 1 or batch_size < 1:
            raise ValueError("rate_per_second, max_attempts and batch_size must be positive")
        self.sessions = sessions
        self.sender = sender
        self.clock = clock
        self.worker_id = worker_id
        self.rate_per_second = rate_per_second
        self.per_chat_interval = timedelta(seconds=per_chat_interval)
        self.max_attempts = max_attempts
        self.lease = lease
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        # Sent / retried / dead / unreachable, counted when recorded (bot/metrics.py).
        self.metrics = metrics
        # A batch must be sendable well within the lease, or its tail would be re-claimed.
        self.batch_size = max(1, min(batch_size, int(rate_per_second * lease.total_seconds() / 2)))
        self.limiter = RateLimiter(rate_per_second)
        self.paused_until: datetime | None = None
        # One writer at a time from this dispatcher: SQLite has a single writer anyway, and at
        # Telegram's rates PostgreSQL gains nothing from parallel marks.
        self._write = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return float(min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1)))

    def paused(self) -> bool:
        """Whether Telegram's last 429 still holds."""
        return self.paused_until is not None and self.clock() < self.paused_until

    async def run_once(self, *, limit: int | None = None) -> DispatchReport:
        """Claim one batch (of at most ``limit`` rows) and deliver it; nothing while paused."""
        report = DispatchReport()
        if self.paused() or self._stopping.is_set():
            report.paused_until = self.paused_until if self.paused() else None
            return report
        self._running += 1
        self._idle.clear()
        try:
            batch = await self._claim(min(limit or self.batch_size, self.batch_size))
            report.claimed = len(batch)
            results = await asyncio.gather(
                *(self._deliver(row, report) for row in batch), return_exceptions=True
            )
            failures = [
                (row, result)
                for row, result in zip(batch, results, strict=True)
                if isinstance(result, BaseException)
            ]
            # The rows stay claimed and are retried after their lease expires. A database
            # outage is said once for the batch (the scheduler reports the outage itself);
            # anything else is a bug, logged with the error's type only: an exception's text
            # may quote a message's content (rule 11).
            if failures and all(is_connection_error(error) for _, error in failures):
                log.warning("%s notification(s) not recorded: database unavailable", len(failures))
            else:
                for row, error in failures:
                    log.error("notification %s failed: %s", row.id, type(error).__name__)
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()
        report.paused_until = self.paused_until if self.paused() else None
        return report

    async def run_until_idle(self, budget_seconds: float) -> DispatchReport:
        """Run batches while there is due work and time left (a 429 pause is waited out)."""
        total = DispatchReport()
        deadline = time.monotonic() + budget_seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self.paused() and self.paused_until is not None:
                wait = (self.paused_until - self.clock()).total_seconds()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), min(wait, left))
                continue
            # Claim no more than can be sent before the budget ends, so a scheduled run ends
            # about on time instead of holding rows it has no time for.
            report = await self.run_once(limit=max(1, math.ceil(left * self.rate_per_second)))
            total.add(report)
            if report.claimed == 0 and not self.paused():
                break
        total.paused_until = self.paused_until if self.paused() else None
        return total

    async def close(self) -> None:
        """Stop claiming and wait until the batch in flight is delivered and recorded."""
        self._stopping.set()
        await self._idle.wait()

    async def _claim(self, limit: int) -> list[Notification]:
        async with self._write, UnitOfWork(self.sessions) as uow:
            rows = await claim_due(
                session=uow.session,
                now=self.clock(),
                worker_id=self.worker_id,
                limit=limit,
                lease=self.lease,
                per_chat_interval=self.per_chat_interval,
            )
            await uow.commit()
        return rows

    async def _deliver(self, row: Notification, report: DispatchReport) -> None:
        assert row.id is not None
        try:
            message = Message.from_payload(row.payload)
        except (KeyError, TypeError, ValueError) as error:
            await self._record(row, report, "dead", mark_dead, error=f"bad payload: {error!r}")
            return
        release = await self.limiter.acquire(api_calls(message))
        lease_end = row.claimed_until
        margin = self.lease * LEASE_MARGIN
        if self.paused() or (lease_end is not None and self.clock() > lease_end - margin):
            release()
            await self._record(
                row,
                report,
                "deferred",
                mark_retry,
                error=None,
                not_before=self.paused_until if self.paused() else self.clock(),
                count_attempt=False,
            )
            return
        try:
            message_id = await self._transmit(row.chat_id, message, release)
        except RetryAfter as error:
            self._pause(error.seconds)
            await self._record(
                row,
                report,
                "retried",
                mark_retry,
                error=f"429: {error}",
                not_before=self.paused_until,
                count_attempt=False,
            )
        except Unreachable as error:
            await self._record(row, report, "unreachable", mark_unreachable, error=f"403: {error}")
        except Rejected as error:
            await self._record(row, report, "dead", mark_dead, error=f"400: {error}")
        except Exception as error:
            # Transient (5xx, network) or anything unforeseen: back off, then give up.
            if not isinstance(error, Transient):
                log.exception("notification %s: unexpected error while sending", row.id)
            await self._fail(row, report, f"{type(error).__name__}: {error}")
        else:
            await self._record(
                row, report, "sent", mark_sent, message_id=message_id, now=self.clock()
            )

    async def _transmit(
        self, chat_id: int, message: Message, release: Callable[[], None]
    ) -> int | None:
        """Send, then give the rate limiter's place back (the send has arrived by then)."""
        try:
            return await self.sender.send(chat_id, message)
        finally:
            release()

    async def _fail(self, row: Notification, report: DispatchReport, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            log.warning("notification %s dead after %s attempts: %s", row.id, attempts, error)
            await self._record(row, report, "dead", mark_dead, error=error)
            return
        not_before = self.clock() + timedelta(seconds=self.backoff(attempts))
        await self._record(
            row,
            report,
            "retried",
            mark_retry,
            error=error,
            not_before=not_before,
            count_attempt=True,
        )

    def _pause(self, seconds: float) -> None:
        until = self.clock() + timedelta(seconds=min(max(seconds, 0.0), MAX_PAUSE_SECONDS))
        if self.paused_until is None or until > self.paused_until:
            log.warning("Telegram asked to wait %s s: outbox paused", seconds)
            self.paused_until = until

    async def _record(
        self,
        row: Notification,
        report: DispatchReport,
        outcome: str,
        mark: Mark,
        **values: object,
    ) -> None:
        assert row.id is not None
        async with self._write, UnitOfWork(self.sessions) as uow:
            applied = await mark(
                session=uow.session, notification_id=row.id, worker_id=self.worker_id, **values
            )
            await uow.commit()
        if applied:
            setattr(report, outcome, getattr(report, outcome) + 1)
            if self.metrics is not None:
                self.metrics.delivered(outcome)
        else:
            log.warning("notification %s was re-claimed by another worker", row.id)
            report.lost += 1
