"""The hourly prune duty: old handled update ids and finished notifications go, the rest stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.app import prepare_database
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.lifecycle import NOT_TERMINAL
from bot.duties import Duties
from storage.database import session_factory
from storage.models import Complaint, Notification, ProcessedUpdate
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.stats_fixture import NOW, load_fixture


async def test_prune_keeps_recent_rows_and_notices_of_open_reports(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await prepare_database(settings, engine)
    sessions = session_factory(engine)
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    async with UnitOfWork(sessions) as uow:
        await load_fixture(uow.session)
        complaints = (await uow.session.exec(select(Complaint))).all()
        open_id = next(c.id for c in complaints if c.status in NOT_TERMINAL)
        closed_id = next(c.id for c in complaints if c.status not in NOT_TERMINAL)
        uow.session.add_all(
            [
                ProcessedUpdate(update_id=1, processed_at=NOW - timedelta(days=8)),
                ProcessedUpdate(update_id=2, processed_at=recent),
            ]
        )

        def notice(key: str, status: str, created: object, complaint: int | None) -> Notification:
            return Notification(
                chat_id=5,
                payload={"text": key},
                audience="staff",
                status=status,
                not_before=created,
                created_at=created,
                complaint_id=complaint,
                dedupe_key=key,
            )

        uow.session.add_all(
            [
                notice("old-sent", "sent", old, None),
                notice("old-dead", "dead", old, closed_id),
                notice("old-unreachable", "unreachable", old, None),
                notice("old-pending", "pending", old, None),
                notice("old-open-report", "sent", old, open_id),
                notice("recent-sent", "sent", recent, None),
            ]
        )
        await uow.commit()

    duties = Duties(sessions, Translator.load(), WorkingCalendar(timezone="Asia/Jakarta"), settings)
    assert await duties.prune(NOW) == 4
    assert await duties.prune(NOW) == 0

    async with UnitOfWork(sessions) as uow:
        updates = (await uow.session.exec(select(ProcessedUpdate.update_id))).all()
        keys = (
            await uow.session.exec(
                select(Notification.dedupe_key)
                .where(col(Notification.chat_id) == 5)
                .order_by(col(Notification.id))
            )
        ).all()
    assert list(updates) == [2]
    assert list(keys) == ["old-pending", "old-open-report", "recent-sent"]
