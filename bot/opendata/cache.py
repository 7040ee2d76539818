"""Caches of the public page: one value per period (single-flight) and a bounded LRU per key.

Why: the page is for a crowd of visitors, and none of them may reach the database more than
once per period. Expiry follows the injected clock (tests move it); a refresh is computed by
one caller while the others wait for it, and a failed refresh serves the last value (stale)
when there is one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]


class Periodic(Generic[T]):
    """A value computed at most once per ``period``; concurrent callers share one computation."""

    def __init__(self, compute: Callable[[], Awaitable[T]], *, period: timedelta, clock: Clock):
        self._compute = compute
        self._period = period
        self._clock = clock
        self._value: T | None = None
        self._at: datetime | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._at is not None and self._clock() - self._at < self._period

    async def get(self) -> T:
        """The current value, computing it first when it is older than the period."""
        if self._fresh():
            assert self._value is not None
            return self._value
        async with self._lock:
            if self._fresh():  # another caller computed it while this one waited
                assert self._value is not None
                return self._value
            try:
                value = await self._compute()
            except Exception as error:
                if self._value is None:
                    raise
                # Stale beats nothing: the page keeps showing the last figures (with their
                # time), and the next period tries again.
                log.warning(
                    "public page: refresh failed (%s), serving the last figures",
                    type(error).__name__,
                )
                self._at = self._clock()
                return self._value
            self._value, self._at = value, self._clock()
            return value


class TimedLru(Generic[T]):
    """At most ``size`` entries, each kept ``period`` after it was computed; oldest use evicted."""

    def __init__(self, *, size: int, period: timedelta, clock: Clock) -> None:
        self._size = size
        self._period = period
        self._clock = clock
        self._entries: OrderedDict[str, tuple[datetime, T]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _cached(self, key: str) -> tuple[datetime, T] | None:
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] >= self._period:
            return None
        self._entries.move_to_end(key)
        return entry

    async def get(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """The value of ``key``, computed (once, however many ask at the same time) if absent."""
        entry = self._cached(key)
        if entry is not None:
            return entry[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fill(key, compute))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        # Shielded: a visitor who goes away does not cancel the others' computation.
        return await asyncio.shield(pending)

    async def _fill(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        value = await compute()
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value
