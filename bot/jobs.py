"""Scheduled jobs (APScheduler 3, in memory): the outbox dispatcher, the duties, the reports.

Job stores are never shared between processes: each process keeps its jobs in memory and the
work they do is found in the database (due rows, claimed atomically), which is what lets
several processes run the same jobs safely.

``build_scheduler`` only schedules what it is given: bot/app.py builds the dispatcher, the
duties and the report runner (all on the Telegram client's sender and the app's clock), and
bot/runtime.py starts the scheduler once updates flow and stops it with ``stop_scheduler``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.duties import Duties
from bot.outbox import OutboxDispatcher
from bot.reports.runner import ReportRunner
from bot.settings import Settings

log = logging.getLogger(__name__)

OUTBOX_JOB = "outbox"
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
) -> AsyncIOScheduler:
    """A scheduler (not started): the outbox every few seconds; duties and reports if given."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    if duties is not None:
        _add_duties(scheduler, duties, settings, clock)
    if reports is not None:
        _add_reports(scheduler, reports, settings, clock)
    interval = settings.outbox_interval_seconds
    scheduler.add_job(
        dispatcher.run_until_idle,
        "interval",
        seconds=interval,
        kwargs={"budget_seconds": interval * RUN_SHARE_OF_INTERVAL},
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
) -> None:
    """Each duty with the clock's "now"; cadence from the settings (digest at local time)."""
    every = settings.deadline_scan_minutes

    def run(duty: Callable[[datetime], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        async def job() -> int:
            return await duty(clock())

        return job

    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    for name, duty, minutes in (
        ("scan_deadlines", duties.scan_deadlines, every),
        ("auto_close", duties.auto_close, every),
        ("expire_drafts", duties.expire_drafts, every),
        ("citizen_updates", duties.send_citizen_updates, 60),
    ):
        scheduler.add_job(run(duty), "interval", minutes=minutes, id=name, name=name, **common)
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    scheduler.add_job(
        run(duties.send_digests),
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
) -> None:
    """/stats and /export requests, and the monthly report."""
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        runner.run_due,
        "interval",
        seconds=settings.reports_interval_seconds,
        id="reports",
        name="statistics and exports",
        **common,
    )

    async def monthly() -> int:
        return await runner.enqueue_monthly(clock())

    scheduler.add_job(
        monthly,
        "interval",
        minutes=settings.deadline_scan_minutes,
        id="monthly_report",
        name="monthly evaluation report",
        next_run_time=datetime.now(UTC),
        **common,
    )


async def stop_scheduler(
    scheduler: AsyncIOScheduler, *, dispatcher: OutboxDispatcher, grace_seconds: float = 30.0
) -> None:
    """Stop starting jobs, let the dispatcher finish its batch, then shut the scheduler down.

    APScheduler's ``shutdown`` cancels running coroutine jobs, which would leave rows claimed
    until their lease expires (and then send them again); so the batch is finished first.
    """
    if not scheduler.running:
        return
    scheduler.pause()
    try:
        await asyncio.wait_for(dispatcher.close(), grace_seconds)
    except TimeoutError:
        log.warning("the outbox dispatcher did not finish within %s s", grace_seconds)
    scheduler.shutdown(wait=False)
