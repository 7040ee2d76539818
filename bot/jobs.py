"""Scheduled jobs (APScheduler 3, in memory): the outbox dispatcher, the duties, the reports.

Job stores are never shared between processes: each process keeps its jobs in memory and the
work they do is found in the database (due rows, claimed atomically), which is what lets
several processes run the same jobs safely.

``build_scheduler`` only schedules what it is given: bot/app.py builds the dispatcher, the
duties and the report runner (all on the Telegram client's sender and the app's clock), and
bot/runtime.py starts the scheduler once updates flow and stops it with ``stop_scheduler``.

Database outages: every job runs through one ``DatabaseHealth`` per scheduler. A job failing
because the database cannot be reached (``storage.database.is_connection_error``) logs ONE
warning for the whole outage ("database unavailable, retrying"), and the jobs then skip their
ticks for a pause that doubles (1 s, 2 s, 4 s … up to 30 s) until one tick gets through and
"database back" is logged once. Nothing is lost meanwhile: due notifications, duties and report
jobs are found in the database again after the outage. Any other error is logged by APScheduler
with its traceback, as before.

A graceful stop (``stop_scheduler``) finishes or releases what was claimed: the outbox batch in
flight is finished (or, past the grace period, its rows are put back in the queue) and the
report runner finishes its job or releases it (bot/reports/runner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text

from bot.duties import Duties
from bot.metrics import Metrics
from bot.outbox import OutboxDispatcher
from bot.reports.runner import ReportRunner
from bot.settings import Settings
from storage.database import describe_connection_error, is_connection_error
from storage.outbox import release_claims
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")

OUTBOX_JOB = "outbox"
PRUNE_MINUTES = 60
# The report runner of each scheduler, so ``stop_scheduler`` can stop it (bot/runtime.py calls
# it with the dispatcher only).
_runners: weakref.WeakKeyDictionary[AsyncIOScheduler, ReportRunner] = weakref.WeakKeyDictionary()


class DatabaseHealth:
    """Whether the database answered the jobs' last attempt; shared by a scheduler's jobs.

    One warning when an outage starts, one line when it ends; in between every job skips its
    ticks until the pause after the last failed attempt (doubling up to ``max_pause``) is over.
    """

    def __init__(
        self,
        *,
        first_pause: float = 1.0,
        max_pause: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        probe: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        # During an outage the first job of a round asks ``probe`` (a ``SELECT 1``) before its
        # work, so a job that happens not to touch the database cannot announce the recovery.
        self.probe = probe
        self.first_pause = first_pause
        self.max_pause = max_pause
        self.monotonic = monotonic
        self.down_since: float | None = None
        self.failures = 0
        self.retry_at = 0.0

    @property
    def down(self) -> bool:
        """Whether an outage is going on."""
        return self.down_since is not None

    def skip(self) -> bool:
        """Whether a job should skip this tick (the database is down and the pause not over)."""
        return self.down and self.monotonic() < self.retry_at

    def failed(self, error: BaseException, job: str) -> None:
        """A job could not reach the database."""
        now = self.monotonic()
        if self.down_since is None:
            self.down_since = now
            log.warning(
                "database unavailable, retrying (%s: %s); jobs pause until it answers",
                job,
                describe_connection_error(error),
            )
        elif now < self.retry_at:
            return  # another job's attempt of the same round already counted
        self.failures += 1
        pause = min(self.max_pause, self.first_pause * 2 ** (self.failures - 1))
        self.retry_at = now + pause

    async def back(self, job: str) -> bool:
        """During an outage: whether the database answers now (probed, if a probe is set)."""
        if self.probe is None:
            return True
        try:
            await self.probe()
        except Exception as error:
            if not is_connection_error(error):
                raise
            self.failed(error, job)
            return False
        self.succeeded()
        return True

    def succeeded(self) -> None:
        """A job got through: the outage, if any, is over."""
        if self.down_since is None:
            return
        log.info("database back after %.0f s; jobs resume", self.monotonic() - self.down_since)
        self.down_since, self.failures, self.retry_at = None, 0, 0.0


def guarded(
    health: DatabaseHealth,
    name: str,
    work: Callable[[], Awaitable[T]],
    metrics: Metrics | None = None,
) -> Callable[[], Awaitable[T | None]]:
    """``work`` as a job: skipped while the database is down, its connection errors counted
    (not raised: APScheduler would log a traceback every tick). With ``metrics``: each run
    (not a skipped tick) and each failed run is counted by job id, and connection errors."""

    # Made now, so every job shows (with 0) from the first scrape.
    runs = metrics.job_runs.labels(name) if metrics is not None else None
    failures = metrics.job_failures.labels(name) if metrics is not None else None

    async def job() -> T | None:
        if health.skip() or (health.down and not await health.back(name)):
            return None
        if runs is not None:
            runs.inc()
        try:
            result = await work()
        except Exception as error:
            if failures is not None:
                failures.inc()
            if not is_connection_error(error):
                raise
            if metrics is not None:
                metrics.database_error("jobs")
            health.failed(error, name)
            return None
        health.succeeded()
        return result

    job.__name__ = job.__qualname__ = name
    return job


# A run stops claiming after this share of the interval, so it has ended when the next one is
# due: an overlapping run would be skipped (with a warning) and idle a whole interval.
RUN_SHARE_OF_INTERVAL = 0.9


def build_scheduler(
    *,
    dispatcher: OutboxDispatcher,
    settings: Settings,
    duties: Duties | None = None,
    reports: ReportRunner | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    health: DatabaseHealth | None = None,
    metrics: Metrics | None = None,
) -> AsyncIOScheduler:
    """A scheduler (not started): the outbox every few seconds; duties and reports if given.

    Every job goes through ``health`` (a new ``DatabaseHealth`` unless given) and counts its
    runs and failures in ``metrics``, if given.
    """
    if health is None:
        health = DatabaseHealth()
    if health.probe is None:
        sessions = dispatcher.sessions

        async def probe() -> None:
            async with sessions() as session:
                connection = await session.connection()
                await connection.execute(text("SELECT 1"))

        health.probe = probe
    scheduler = AsyncIOScheduler(timezone=UTC)
    if duties is not None:
        _add_duties(scheduler, duties, settings, clock, health, metrics)
    if reports is not None:
        _add_reports(scheduler, reports, settings, clock, health, metrics)
        _runners[scheduler] = reports
    interval = settings.outbox_interval_seconds
    budget = interval * RUN_SHARE_OF_INTERVAL

    async def deliver() -> object:
        return await dispatcher.run_until_idle(budget_seconds=budget)

    scheduler.add_job(
        guarded(health, OUTBOX_JOB, deliver, metrics),
        "interval",
        seconds=interval,
        id=OUTBOX_JOB,
        name="deliver due notifications",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


def _add_duties(
    scheduler: AsyncIOScheduler,
    duties: Duties,
    settings: Settings,
    clock: Callable[[], datetime],
    health: DatabaseHealth,
    metrics: Metrics | None,
) -> None:
    """Each duty with the clock's "now"; cadence from the settings (digest at local time)."""
    every = settings.deadline_scan_minutes

    def run(
        job_id: str, duty: Callable[[datetime], Awaitable[int]]
    ) -> Callable[[], Awaitable[int | None]]:
        async def work() -> int:
            return await duty(clock())

        return guarded(health, job_id, work, metrics)

    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    for name, duty, minutes in (
        ("scan_deadlines", duties.scan_deadlines, every),
        ("auto_close", duties.auto_close, every),
        ("expire_drafts", duties.expire_drafts, every),
        ("citizen_updates", duties.send_citizen_updates, 60),
        ("prune", duties.prune, PRUNE_MINUTES),
    ):
        scheduler.add_job(
            run(name, duty), "interval", minutes=minutes, id=name, name=name, **common
        )
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    scheduler.add_job(
        run("digest", duties.send_digests),
        "cron",
        hour=hour,
        minute=minute,
        timezone=ZoneInfo(settings.timezone),
        id="digest",
        name="staff digest",
        **common,
    )


def _add_reports(
    scheduler: AsyncIOScheduler,
    runner: ReportRunner,
    settings: Settings,
    clock: Callable[[], datetime],
    health: DatabaseHealth,
    metrics: Metrics | None,
) -> None:
    """/stats and /export requests, and the monthly report, in two lanes (two jobs that run
    concurrently, each claiming only its kinds): a year's export (a minute and more) never
    delays a /stats asked for after it."""
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        guarded(health, "reports", runner.run_quick, metrics),
        "interval",
        seconds=settings.reports_interval_seconds,
        id="reports",
        name="statistics",
        **common,
    )
    scheduler.add_job(
        guarded(health, "exports", runner.run_long, metrics),
        "interval",
        seconds=settings.reports_interval_seconds,
        id="exports",
        name="exports and the monthly report",
        **common,
    )

    async def monthly() -> int:
        return await runner.enqueue_monthly(clock())

    scheduler.add_job(
        guarded(health, "monthly_report", monthly, metrics),
        "interval",
        minutes=settings.deadline_scan_minutes,
        id="monthly_report",
        name="monthly evaluation report",
        next_run_time=datetime.now(UTC),
        **common,
    )


async def stop_scheduler(
    scheduler: AsyncIOScheduler,
    *,
    dispatcher: OutboxDispatcher,
    reports: ReportRunner | None = None,
    grace_seconds: float = 30.0,
) -> None:
    """Stop starting jobs; finish or release what was claimed; shut the scheduler down.

    APScheduler's ``shutdown`` cancels running coroutine jobs, which would leave rows claimed
    until their lease expires (and then send them again); so first the dispatcher finishes its
    batch and the report runner its job (``reports``, else the runner ``build_scheduler`` was
    given), both within ``grace_seconds``. Past it, the runner releases its job itself, and the
    outbox rows this process still holds are put back in the queue after the shutdown.
    """
    if not scheduler.running:
        return
    scheduler.pause()
    reports = reports or _runners.get(scheduler)
    closing = [asyncio.ensure_future(dispatcher.close())]
    if reports is not None:
        closing.append(asyncio.ensure_future(reports.close(grace_seconds)))
    _, late = await asyncio.wait(closing, timeout=grace_seconds)
    outbox_late = closing[0] in late
    if outbox_late:
        log.warning("the outbox dispatcher did not finish within %s s", grace_seconds)
    scheduler.shutdown(wait=False)  # cancels the jobs still running
    if late:
        # Let the cancelled jobs unwind (the report runner releases its job on the way).
        await asyncio.wait(late, timeout=10)
    for task in late:
        task.cancel()
    if outbox_late:
        await _release_outbox(dispatcher)


async def _release_outbox(dispatcher: OutboxDispatcher) -> None:
    """Put this process's claimed, undelivered notifications back in the queue."""
    with contextlib.suppress(Exception):
        async with UnitOfWork(dispatcher.sessions) as uow:
            released = await release_claims(session=uow.session, worker_id=dispatcher.worker_id)
            await uow.commit()
        if released:
            log.warning("%s claimed notifications were put back in the queue", released)
