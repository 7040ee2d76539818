"""A graceful stop finishes or releases what was claimed (rule 9): report jobs and outbox rows.

A job still running when the grace period ends is cancelled and released (pending, claim
cleared, the attempt not counted), so the next runner takes it at once and the requester gets
it once; a job that ends within the grace period is finished and not run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import prepare_database
from bot.core.i18n import Translator
from bot.core.periods import parse_period
from bot.core.replies import Message, Upload
from bot.jobs import build_scheduler, stop_scheduler
from bot.outbox import OutboxDispatcher
from bot.reports.runner import ReportRunner
from bot.settings import Settings
from storage.database import SessionFactory, session_factory
from storage.models import Notification, ReportJob, Staff
from storage.outbox import Audience, enqueue
from storage.report_jobs import add_job
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.stats_fixture import ADMIN, CALENDAR, NOW, WIB, load_fixture


@dataclass
class Sender:
    """Records what is delivered; ``gate`` (when set) holds every send until it opens."""

    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[tuple[int, Any]] = field(default_factory=list)

    async def send(self, chat_id: int, reply: Any) -> int | None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append((chat_id, reply))
        return len(self.sent)

    def uploads(self) -> list[Upload]:
        return [r for _, r in self.sent if isinstance(r, Upload)]


@dataclass
class World:
    settings: Settings
    sessions: SessionFactory


@pytest.fixture
async def world(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[World]:
    settings = make_settings(tmp_path, reports_interval_seconds=0.5)
    await prepare_database(settings, engine)
    sessions = session_factory(engine)
    async with UnitOfWork(sessions) as uow:
        await load_fixture(uow.session)
        await uow.commit()
    yield World(settings, sessions)


def runner(world: World, sender: Sender, worker: str) -> ReportRunner:
    return ReportRunner(
        sessions=world.sessions,
        sender=sender,
        translator=Translator.load(),
        calendar=CALENDAR,
        settings=world.settings,
        clock=lambda: NOW,
        worker_id=worker,
        progress_every=0,
    )


async def queue_stats(world: World) -> int:
    period = parse_period("2026-11", now=NOW, timezone=WIB)
    async with UnitOfWork(world.sessions) as uow:
        staff = (await uow.session.exec(select(Staff).where(Staff.telegram_id == ADMIN))).one()
        assert staff.id is not None
        job = await add_job(
            session=uow.session,
            kind="stats",
            chat_id=ADMIN,
            staff_id=staff.id,
            locale="id",
            first_day=period.first_day,
            last_day=period.last_day,
            label=period.label,
            now=NOW,
        )
        await uow.commit()
    assert job is not None and job.id is not None
    return job.id


async def job_row(world: World, job_id: int) -> ReportJob:
    async with UnitOfWork(world.sessions) as uow:
        found = await uow.session.get(ReportJob, job_id, populate_existing=True)
    assert found is not None
    return found


async def test_a_job_past_the_grace_period_is_released_and_sent_once_after_restart(
    world: World,
) -> None:
    job_id = await queue_stats(world)
    stuck = Sender(gate=asyncio.Event())  # never opens: the first message hangs
    first = runner(world, stuck, "worker-1")
    running = asyncio.create_task(first.run_due())
    await asyncio.wait_for(stuck.entered.wait(), 10)

    await first.close(grace_seconds=0.2)

    assert running.cancelled()
    job = await job_row(world, job_id)
    assert (job.status, job.claimed_by, job.claimed_until, job.attempts) == (
        "pending",
        None,
        None,
        0,
    )
    assert stuck.sent == []
    assert await first.run_due() == 0  # a stopped runner claims nothing more

    fresh = Sender()
    assert await runner(world, fresh, "worker-2").run_due() == 1
    assert (await job_row(world, job_id)).status == "done"
    assert len(fresh.uploads()) == 1  # the chart: the job reached the admin once
    assert await runner(world, Sender(), "worker-3").run_due() == 0


async def test_a_job_that_ends_within_the_grace_period_is_finished(world: World) -> None:
    job_id = await queue_stats(world)
    gate = asyncio.Event()
    slow = Sender(gate=gate)
    first = runner(world, slow, "worker-1")
    running = asyncio.create_task(first.run_due())
    await asyncio.wait_for(slow.entered.wait(), 10)
    asyncio.get_running_loop().call_later(0.2, gate.set)

    await first.close(grace_seconds=10)

    assert await running == 1
    assert (await job_row(world, job_id)).status == "done"
    assert len(slow.uploads()) == 1
    assert await runner(world, Sender(), "worker-2").run_due() == 0


async def test_stop_scheduler_releases_the_report_job_and_the_outbox_rows(world: World) -> None:
    job_id = await queue_stats(world)
    async with UnitOfWork(world.sessions) as uow:
        await enqueue(
            session=uow.session,
            chat_id=ADMIN,
            message=Message("halo"),
            audience=Audience.STAFF,
            now=NOW,
        )
        await uow.commit()
    stuck = Sender(gate=asyncio.Event())
    reports = runner(world, stuck, "worker-1")
    outbox_sender = Sender(gate=asyncio.Event())
    dispatcher = OutboxDispatcher(
        sessions=world.sessions, sender=outbox_sender, clock=lambda: NOW, worker_id="worker-1"
    )
    scheduler = build_scheduler(dispatcher=dispatcher, settings=world.settings, reports=reports)
    scheduler.start()
    try:
        await asyncio.wait_for(stuck.entered.wait(), 10)
        await asyncio.wait_for(outbox_sender.entered.wait(), 10)
    finally:
        # bot/runtime.py passes the dispatcher only: the runner is found by the scheduler.
        await stop_scheduler(scheduler, dispatcher=dispatcher, grace_seconds=0.3)

    assert not scheduler.running
    job = await job_row(world, job_id)
    assert (job.status, job.claimed_by) == ("pending", None)
    async with UnitOfWork(world.sessions) as uow:
        rows = (await uow.session.exec(select(Notification))).all()
    assert [(r.status, r.claimed_by) for r in rows] == [("pending", None)]
