"""Scheduled duties driven by an injected clock: each notice once, at the right moment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot.app import App
from storage.models import Complaint, Conversation, Notification
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen, FakeClock, running_app
from tests.unit.test_intake_flow import file_report, fill_until
from tests.unit.test_staff_workflow import ADMIN, OFFICER, join_as

SITI = 1001


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()  # Monday 30 Nov 2026, 09:00 WIB


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    settings = make_settings(tmp_path, admin_ids=str(ADMIN))
    async with running_app(settings, clock, bot_username="aduan_test_bot") as app:
        yield app


async def notices(app: App, chat_id: int) -> list[Notification]:
    async with UnitOfWork(app.sessions) as uow:
        query = select(Notification).where(Notification.chat_id == chat_id)
        return list((await uow.session.exec(query.order_by(col(Notification.id)))).all())


async def texts(app: App, chat_id: int) -> list[str]:
    return [n.payload["text"] for n in await notices(app, chat_id)]


async def case(app: App, code: str) -> Complaint:
    async with UnitOfWork(app.sessions) as uow:
        return (
            await uow.session.exec(select(Complaint).where(Complaint.tracking_code == code))
        ).one()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026 (or 30 Nov for day 30), given in WIB (UTC+7)."""
    month = 11 if day == 30 else 12
    return (
        datetime(2026, month, day, hour - 7, minute, tzinfo=UTC)
        if hour >= 7
        else datetime(2026, month, day - 1 if day > 1 else 30, hour + 17, minute, tzinfo=UTC)
    )


async def test_verification_reminder_then_escalation_once_each(app: App, clock: FakeClock) -> None:
    admin = Citizen(app, user_id=ADMIN)
    await admin.say("/start")
    siti = Citizen(app, user_id=SITI)
    code = await file_report(siti)  # verify by Thu 3 Dec 23:59 WIB
    duties = app.duties
    assert await duties.scan_deadlines(at(1, 10)) == 0  # Tue: two working days left
    await duties.scan_deadlines(at(3, 9))  # Thu morning: within one working day
    await duties.scan_deadlines(at(3, 15))
    reminders = [t for t in await texts(app, ADMIN) if "Pengingat" in t]
    assert len(reminders) == 1 and code in reminders[0]
    await duties.scan_deadlines(at(4, 9))  # Fri: overdue
    await duties.scan_deadlines(at(4, 12))
    assert len([t for t in await texts(app, ADMIN) if "Terlambat" in t]) == 1
    late = [t for t in await texts(app, SITI) if "terlambat" in t]
    assert len(late) == 1 and "verifikasi dan disposisi" in late[0]


async def test_citizen_notices_wait_for_the_end_of_quiet_hours(app: App) -> None:
    await file_report(Citizen(app, user_id=SITI))
    await app.duties.scan_deadlines(at(4, 22))  # Friday 22:00 WIB: overdue, but quiet
    late = [n for n in await notices(app, SITI) if "terlambat" in n.payload["text"]]
    assert len(late) == 1
    assert late[0].not_before == at(5, 7)  # Saturday 07:00 WIB


async def test_agency_first_response_is_escalated_to_agency_and_admins(
    app: App, clock: FakeClock
) -> None:
    admin = Citizen(app, user_id=ADMIN)
    await join_as(app, admin, OFFICER, "agency_admin pupr")
    code = await file_report(Citizen(app, user_id=SITI))
    complaint = await case(app, code)
    await admin.press(f"s:fwdto:{complaint.id}:1")  # first response due Mon 7 Dec
    await app.duties.scan_deadlines(at(8, 9))
    assert len([t for t in await texts(app, OFFICER) if "Terlambat" in t]) == 1
    assert len([t for t in await texts(app, ADMIN) if "Terlambat" in t]) == 1


async def test_periodic_update_after_five_quiet_working_days(app: App) -> None:
    code = await file_report(Citizen(app, user_id=SITI))
    before = len(await notices(app, SITI))
    assert await app.duties.send_citizen_updates(at(4, 10)) == 0
    assert await app.duties.send_citizen_updates(at(7, 10)) == 1  # Mon 7 Dec: 5 working days
    assert await app.duties.send_citizen_updates(at(7, 11)) == 0  # the update itself is news
    update = (await texts(app, SITI))[before:]
    assert len(update) == 1 and code in update[0] and "masih berjalan" in update[0]


async def test_resolved_reports_close_after_ten_working_days(app: App, clock: FakeClock) -> None:
    admin = Citizen(app, user_id=ADMIN)
    officer = await join_as(app, admin, OFFICER, "agency_admin pupr")
    code = await file_report(Citizen(app, user_id=SITI))
    complaint = await case(app, code)
    await admin.press(f"s:fwdto:{complaint.id}:1")
    await officer.say(f"/resolve {code} Sudah ditambal.")
    assert await app.duties.auto_close(at(11, 10)) == 0  # 9 working days
    assert await app.duties.auto_close(at(15, 10)) == 1  # 11 working days (Tue 15 Dec)
    assert (await case(app, code)).status == "closed"
    assert await app.duties.auto_close(at(16, 10)) == 0
    assert sum("ditutup otomatis" in t for t in await texts(app, SITI)) == 1


async def test_drafts_get_a_reminder_then_expire(app: App, clock: FakeClock) -> None:
    siti = Citizen(app, user_id=SITI)
    await fill_until(siti, "description")  # expires Wed 2 Dec 09:00 WIB
    assert await app.duties.expire_drafts(at(1, 8)) == 0
    assert await app.duties.expire_drafts(at(1, 10)) == 1
    assert await app.duties.expire_drafts(at(1, 11)) == 1  # deduplicated: still one reminder
    assert sum("akan dihapus" in t for t in await texts(app, SITI)) == 1
    await app.duties.expire_drafts(at(2, 10))
    assert sum("dihapus karena" in t for t in await texts(app, SITI)) == 1
    async with UnitOfWork(app.sessions) as uow:
        assert (await uow.session.exec(select(Conversation))).all() == []


async def test_morning_digest_once_a_day(app: App) -> None:
    admin = Citizen(app, user_id=ADMIN)
    await admin.say("/start")
    await file_report(Citizen(app, user_id=SITI))
    await app.duties.send_digests(at(1, 8))
    await app.duties.send_digests(at(1, 8, 5))
    digests = [t for t in await texts(app, ADMIN) if "Ringkasan harian" in t]
    assert len(digests) == 1 and "Baru: 1" in digests[0]


async def test_the_scheduler_runs_every_duty(app: App) -> None:
    from bot.jobs import build_scheduler
    from bot.outbox import OutboxDispatcher
    from bot.reports.runner import ReportRunner

    class NoSender:
        async def send(self, chat_id: int, reply: object) -> int | None:
            raise AssertionError("nothing is sent here")

    dispatcher = OutboxDispatcher(
        sessions=app.sessions, sender=NoSender(), clock=FakeClock(), worker_id="test"
    )
    reports = ReportRunner(
        sessions=app.sessions,
        sender=NoSender(),
        translator=app.translator,
        calendar=app.calendar,
        settings=app.settings,
        clock=app.clock,
        worker_id="test",
    )
    scheduler = build_scheduler(
        dispatcher=dispatcher, settings=app.settings, duties=app.duties, reports=reports
    )
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "outbox",
        "scan_deadlines",
        "auto_close",
        "expire_drafts",
        "citizen_updates",
        "prune",
        "digest",
        "reports",
        "exports",
        "monthly_report",
    }
    assert str(jobs["digest"].trigger) == "cron[hour='8', minute='0']"


async def test_the_deadline_scan_looks_up_each_recipient_once_per_run(app: App) -> None:
    # At a million reports the scan met tens of thousands of overdue ones a run, each asking
    # again who the admins are and which language each reads (docs/PERFORMANCE.md).
    admin = Citizen(app, user_id=ADMIN)
    await admin.say("/start")
    for n in range(5):
        await file_report(Citizen(app, user_id=SITI + n))
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(" ".join(args[2].split()))

    engine = app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await app.duties.scan_deadlines(at(4, 9)) == 5  # Fri: all five overdue
    finally:
        event.remove(engine, "before_cursor_execute", record)
    staff_lookups = [s for s in statements if "FROM staff" in s or "FROM citizen" in s]
    # The admins once, the admin's language once, each citizen once (their notice's language).
    assert len(staff_lookups) <= 2 + 5, staff_lookups
    assert len([t for t in await texts(app, ADMIN) if "Terlambat" in t]) == 5
