"""/stats and /export through the real processor: roles, periods, the queue, then the runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.core.replies import Message, Upload
from bot.reports.runner import ReportRunner
from handlers.router import COMMANDS, MENU_COMMANDS
from storage.models import ReportJob
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen, FakeClock, running_app
from tests.unit.test_intake_flow import file_report
from tests.unit.test_staff_workflow import ADMIN, OFFICER, join_as


class RecordingSender:
    """Keeps what the runner sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, Any]] = []

    async def send(self, chat_id: int, reply: Any) -> int | None:
        self.sent.append((chat_id, reply))
        return len(self.sent)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = make_settings(tmp_path, admin_ids=str(ADMIN))
    async with running_app(settings, FakeClock(), bot_username="aduan_test_bot") as app:
        yield app


def runner(app: App, sender: RecordingSender) -> ReportRunner:
    return ReportRunner(
        sessions=app.sessions,
        sender=sender,
        translator=app.translator,
        calendar=app.calendar,
        settings=app.settings,
        clock=app.processor.clock,
        worker_id="test",
    )


async def jobs(app: App) -> list[ReportJob]:
    async with UnitOfWork(app.sessions) as uow:
        return list((await uow.session.exec(select(ReportJob).order_by(col(ReportJob.id)))).all())


def test_the_commands_are_routed_but_not_in_the_citizens_menu() -> None:
    assert "stats" in COMMANDS and "export" in COMMANDS
    assert "stats" not in MENU_COMMANDS and "export" not in MENU_COMMANDS


async def test_a_citizen_is_denied_and_nothing_is_queued(app: App) -> None:
    siti = Citizen(app, user_id=1001)
    await siti.say("/stats")
    assert "tidak berwenang" in siti.text
    await siti.say("/export csv")
    assert "tidak berwenang" in siti.text
    assert await jobs(app) == []


async def test_the_admin_queues_stats_and_exports_with_their_periods(app: App) -> None:
    admin = Citizen(app, user_id=ADMIN)
    await admin.say("/stats")
    assert "Menghitung statistik 2026-11" in admin.text
    await admin.say("/export csv 2026-Q4")
    assert "Ekspor CSV untuk 2026-Q4" in admin.text
    await admin.say("/export 7d")
    assert "Ekspor XLSX untuk 2026-11-24..2026-11-30" in admin.text
    await admin.say("/stats bulan-lalu")
    assert "tidak dikenal" in admin.text and "/stats 2026-Q4" in admin.text
    queued = [(j.kind, j.label, str(j.first_day), str(j.last_day)) for j in await jobs(app)]
    assert queued == [
        ("stats", "2026-11", "2026-11-01", "2026-11-30"),
        ("csv", "2026-Q4", "2026-10-01", "2026-12-31"),
        ("xlsx", "2026-11-24..2026-11-30", "2026-11-24", "2026-11-30"),
    ]


async def test_an_agency_admin_gets_their_agency_beside_the_city(app: App) -> None:
    admin = Citizen(app, user_id=ADMIN)
    officer = await join_as(app, admin, OFFICER, "agency_admin pupr")
    code = await file_report(Citizen(app, user_id=1001))
    await officer.say("/stats")
    assert "Menghitung statistik" in officer.text
    sender = RecordingSender()
    assert await runner(app, sender).run_due() == 1
    texts = [r.text for chat, r in sender.sent if chat == OFFICER and isinstance(r, Message)]
    assert "Statistik Dinas PUPR" in texts[0] and "· kota" in texts[0]
    assert "Laporan:</b> 0" in texts[0]  # the report waits for the city, not for PUPR
    photos = [r for chat, r in sender.sent if isinstance(r, Upload)]
    assert len(photos) == 1 and photos[0].as_photo
    await admin.say("/stats")
    await runner(app, sender).run_due()
    city = [r.text for chat, r in sender.sent if chat == ADMIN and isinstance(r, Message)]
    assert "Statistik Kota" in city[0] and "Laporan:</b> 1" in city[0]
    assert code not in city[2]  # submitted today: not overdue
    assert [j.status for j in await jobs(app)] == ["done", "done"]


async def test_a_job_of_someone_no_longer_staff_fails_quietly(app: App) -> None:
    admin = Citizen(app, user_id=ADMIN)
    officer = await join_as(app, admin, OFFICER, "agency_admin pupr")
    await officer.say("/export")
    await admin.say("/staff")
    member_id = next(j.staff_id for j in await jobs(app))
    await admin.say(f"/staff off {member_id}")
    sender = RecordingSender()
    assert await runner(app, sender).run_due() == 1
    assert sender.sent == []
    assert [j.status for j in await jobs(app)] == ["failed"]


async def test_the_scheduler_runs_the_reports_and_the_monthly_check(app: App) -> None:
    from bot.jobs import build_scheduler
    from bot.outbox import OutboxDispatcher

    sender = RecordingSender()
    dispatcher = OutboxDispatcher(
        sessions=app.sessions, sender=sender, clock=app.processor.clock, worker_id="w"
    )
    scheduler = build_scheduler(
        dispatcher=dispatcher,
        settings=app.settings,
        duties=app.duties,
        reports=runner(app, sender),
    )
    jobs_by_id = {job.id: job for job in scheduler.get_jobs()}
    assert {"reports", "exports", "monthly_report", "outbox"} <= set(jobs_by_id)
    assert jobs_by_id["reports"].trigger.interval.total_seconds() == 3
    assert jobs_by_id["exports"].trigger.interval.total_seconds() == 3
