"""What operators see over HTTP: ``/healthz``, ``/readyz`` and ``/metrics``.

Served by Aduan's own aiohttp server (bot/runtime.py starts it on ``HTTP_LISTEN`` in both
modes; in webhook mode the same server takes the webhook). Framework-free: nothing here
imports aiogram or python-telegram-bot. Built by bot/app.py (the composition root), which
hands it the app's sessions, metrics, scheduler and clock.

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process runs (no database call): for
  restarts and uptime checks.
- ``GET /readyz``: 200 only when every check is ``ok``, else 503; the body names each check:
  ``database`` (a ``SELECT 1`` within ``DATABASE_CHECK_SECONDS``), ``scheduler`` (running,
  not paused or stopped), ``outbox`` (the oldest due notification has waited less than
  ``READY_OUTBOX_MAX_AGE_SECONDS``; "unknown" while the database does not answer) and
  ``runtime`` (updates are taken: not starting, not stopping). For load balancers.
- ``GET /metrics``: Prometheus' text format (bot/metrics.py); the database gauges are read
  at scrape time. A database that does not answer leaves them at their last values and sets
  ``aduan_database_up`` to 0: counters are still served.

No body names a chat, a user, a report or a token (rule 11); errors appear as their class.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from sqlalchemy import text

from bot.metrics import (
    DatabaseReadings,
    Metrics,
    age_seconds,
    oldest_due_notification,
    read_database,
)
from storage.database import SessionFactory

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# /readyz's SELECT 1 (and the metrics' queries) give up after this long.
DATABASE_CHECK_SECONDS = 2.0
OK = "ok"


class Observability:
    """The health, readiness and metrics routes of one app."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        metrics: Metrics,
        scheduler: AsyncIOScheduler,
        clock: Clock,
        outbox_max_age_seconds: float,
        database_seconds: float = DATABASE_CHECK_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.scheduler = scheduler
        self.clock = clock
        self.outbox_max_age_seconds = outbox_max_age_seconds
        self.database_seconds = database_seconds

    def add_routes(self, app: web.Application, *, runtime: Callable[[], str]) -> None:
        """The three routes on ``app``; ``runtime`` says whether updates are taken ("ok")."""

        async def readiness(request: web.Request) -> web.Response:
            checks = await self.checks(runtime=runtime())
            ready = all(value == OK for value in checks.values())
            body = {"status": "ready" if ready else "unready", "checks": checks}
            return web.json_response(body, status=200 if ready else 503)

        app.router.add_get("/healthz", self._health)
        app.router.add_get("/readyz", readiness)
        app.router.add_get("/metrics", self._metrics)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def checks(self, *, runtime: str = OK) -> dict[str, str]:
        """Each readiness check and what it found ("ok" when it passes)."""
        now = self.clock()
        oldest: list[datetime | None] = []

        async def database() -> None:
            async with self.sessions() as session:
                connection = await session.connection()
                await connection.execute(text("SELECT 1"))
                oldest.append(await oldest_due_notification(session=session, now=now))

        found = await self._within(database, "readyz")
        checks = {"database": found, "scheduler": self._scheduler_state()}
        if found != OK:
            checks["outbox"] = "unknown (database unavailable)"
        else:
            age = age_seconds(oldest[0], now)
            checks["outbox"] = (
                OK
                if age < self.outbox_max_age_seconds
                else f"oldest due row {age:.0f} s old (limit {self.outbox_max_age_seconds:g} s)"
            )
        checks["runtime"] = runtime
        return checks

    def _scheduler_state(self) -> str:
        state = self.scheduler.state
        if state == STATE_RUNNING:
            return OK
        return "paused" if state == STATE_PAUSED else "stopped"

    async def _within(self, work: Callable[[], Awaitable[None]], source: str) -> str:
        """``work`` within the time limit: "ok", or what went wrong (the error's class)."""
        try:
            await asyncio.wait_for(work(), self.database_seconds)
        except TimeoutError:
            self.metrics.database_error(source)
            return f"no answer within {self.database_seconds:g} s"
        except Exception as error:
            self.metrics.database_error(source)
            log.debug("%s: the database did not answer (%s)", source, type(error).__name__)
            return f"unavailable ({type(error).__name__})"
        return OK

    async def _metrics(self, request: web.Request) -> web.Response:
        now = self.clock()
        readings: list[DatabaseReadings] = []

        async def read() -> None:
            async with self.sessions() as session:
                readings.append(await read_database(session=session, now=now))

        found = await self._within(read, "metrics")
        self.metrics.show(readings[0] if found == OK else None, now)
        return web.Response(
            body=self.metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
