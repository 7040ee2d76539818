"""Scheduled jobs (APScheduler 3, in memory): today the outbox dispatcher.

Job stores are never shared between processes: each process keeps its jobs in memory and the
work they do is found in the database (due rows, claimed atomically), which is what lets
several processes run the same jobs safely.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.outbox import OutboxDispatcher
from bot.settings import Settings

log = logging.getLogger(__name__)

OUTBOX_JOB = "outbox"
# A run stops claiming after this share of the interval, so it has ended when the next one is
# due: an overlapping run would be skipped (with a warning) and idle a whole interval.
RUN_SHARE_OF_INTERVAL = 0.9


def build_scheduler(*, dispatcher: OutboxDispatcher, settings: Settings) -> AsyncIOScheduler:
    """A scheduler (not started) that runs the outbox dispatcher every few seconds."""
    scheduler = AsyncIOScheduler(timezone=UTC)
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
