"""Storage on real SQLite and real PostgreSQL: migrations, numbering, state versions, dedupe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, select

from bot.casework import CitizenActor, Office, Work
from bot.casework.intake import submit
from bot.core.calendar import WorkingCalendar, load_holidays
from bot.core.events import Attachment as Media
from bot.core.events import AttachmentKind, Sender
from bot.core.i18n import Translator
from bot.settings import DATA_DIR, Settings
from storage.citizens import upsert_citizen
from storage.complaints import (
    NewComplaint,
    citizen_history,
    complaint_attachments,
    find_citizen_complaint,
    next_sequence,
)
from storage.conversations import ConcurrentUpdate, FlowState, load_state, save_state
from storage.database import migrate, session_factory
from storage.models import Agency, Category, Complaint
from storage.reference import active_categories, load_reference_data
from storage.unit_of_work import UnitOfWork
from storage.updates import already_processed, claim_updates

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
REFERENCE = DATA_DIR / "tanjungpinang.toml"


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    await migrate(engine)
    async with UnitOfWork(session_factory(engine)) as uow:
        await load_reference_data(session=uow.session, path=REFERENCE)
        await uow.commit()
    return engine


async def test_migrations_match_the_models(db: AsyncEngine) -> None:
    async with db.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    assert diff == []


async def test_migrating_twice_changes_nothing(db: AsyncEngine) -> None:
    await migrate(db)
    async with UnitOfWork(session_factory(db)) as uow:
        assert len(await active_categories(session=uow.session)) == 13


async def test_reference_data_loads_idempotently_and_follows_edits(
    db: AsyncEngine, tmp_path: Path
) -> None:
    edited = tmp_path / "city.toml"
    text = REFERENCE.read_text().replace('name_en = "Street lighting"', 'name_en = "Lights"')
    edited.write_text(text.replace('[[category]]\ncode = "other"', '[[category]]\ncode = "misc"'))
    async with UnitOfWork(session_factory(db)) as uow:
        await load_reference_data(session=uow.session, path=REFERENCE)
        counts = await load_reference_data(session=uow.session, path=edited)
        await uow.commit()
    assert (counts.agencies, counts.categories) == (11, 13)
    async with UnitOfWork(session_factory(db)) as uow:
        session = uow.session
        assert len((await session.exec(select(Agency))).all()) == 11
        categories = {c.code: c for c in (await session.exec(select(Category))).all()}
    assert categories["streetlights"].name_en == "Lights"
    assert not categories["other"].active and categories["misc"].active


async def test_bad_reference_data_names_the_entry(db: AsyncEngine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[category]]\ncode = "x"\nname_id = "X"\nname_en = "X"\nagency = "nope"\n')
    async with UnitOfWork(session_factory(db)) as uow:
        with pytest.raises(ValueError, match="'x' names unknown agency"):
            await load_reference_data(session=uow.session, path=bad)


async def test_tracking_numbers_count_per_year_without_gaps_under_concurrency(
    db: AsyncEngine,
) -> None:
    sessions = session_factory(db)

    async def take(year: int) -> int:
        async with UnitOfWork(sessions) as uow:
            number = await next_sequence(session=uow.session, prefix="TPI", year=year)
            await uow.commit()
            return number

    numbers = await asyncio.gather(*(take(2026) for _ in range(8)))
    assert sorted(numbers) == list(range(1, 9))
    assert await take(2027) == 1
    assert await take(2026) == 9


async def test_a_complaint_is_stored_with_attachments_history_and_aware_times(
    db: AsyncEngine, settings: Settings
) -> None:
    sessions = session_factory(db)
    office = Office.of(
        settings,
        Translator.load(),
        WorkingCalendar(timezone=settings.timezone, holidays=load_holidays(settings.holidays_file)),
    )
    async with UnitOfWork(sessions) as uow:
        citizen, _ = await upsert_citizen(session=uow.session, sender=Sender(42, "Ani"))
        category = (await active_categories(session=uow.session))[0]
        media = tuple(
            Media(AttachmentKind.PHOTO, f"file-{i}", f"u-{i}", f"cap {i}", 10) for i in range(2)
        )
        complaint = await submit(
            Work(office, CitizenActor(citizen), uow.session, NOW),
            NewComplaint(
                kind="complaint",
                category_id=category.id or 0,
                description="d" * 40,
                privacy="anonymous",
                latitude=0.91,
                longitude=104.45,
                attachments=media,
            ),
        )
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        found = await find_citizen_complaint(
            session=uow.session, citizen_id=citizen.id or 0, tracking_code="TPI-2026-000001"
        )
        assert found is not None and found.id == complaint.id
        assert found.submitted_at == NOW and found.submitted_at.tzinfo is not None
        assert found.latitude == pytest.approx(0.91)
        stored = await complaint_attachments(session=uow.session, complaint_id=found.id or 0)
        assert [(a.file_id, a.caption) for a in stored] == [
            ("file-0", "cap 0"),
            ("file-1", "cap 1"),
        ]
        history = await citizen_history(session=uow.session, complaint_id=found.id or 0)
        assert [(e.action, e.to_status) for e in history] == [("submitted", "submitted")]
        other = await find_citizen_complaint(
            session=uow.session, citizen_id=999, tracking_code="TPI-2026-000001"
        )
        assert other is None


async def test_conversation_versions_stop_a_lost_update(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    later = NOW + timedelta(hours=48)
    async with UnitOfWork(sessions) as uow:
        await save_state(
            session=uow.session,
            chat_id=1,
            user_id=1,
            state=FlowState("intake", "kind"),
            loaded_version=None,
            expires_at=later,
            now=NOW,
        )
        await uow.commit()
    async with UnitOfWork(sessions) as first, UnitOfWork(sessions) as second:
        a = await load_state(session=first.session, chat_id=1, user_id=1, now=NOW)
        b = await load_state(session=second.session, chat_id=1, user_id=1, now=NOW)
        assert a.state is not None and b.state is not None
        await save_state(
            session=first.session,
            chat_id=1,
            user_id=1,
            state=FlowState("intake", "category", {"kind": "complaint"}),
            loaded_version=a.version,
            expires_at=later,
            now=NOW,
        )
        await first.commit()
        with pytest.raises(ConcurrentUpdate):
            await save_state(
                session=second.session,
                chat_id=1,
                user_id=1,
                state=FlowState("intake", "description"),
                loaded_version=b.version,
                expires_at=later,
                now=NOW,
            )
    async with UnitOfWork(sessions) as uow:
        loaded = await load_state(session=uow.session, chat_id=1, user_id=1, now=NOW)
        assert loaded.state == FlowState("intake", "category", {"kind": "complaint"})
        expired = await load_state(session=uow.session, chat_id=1, user_id=1, now=later)
        assert expired.state is None and expired.expired_flow == "intake"


async def test_processed_updates_are_recognised(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    async with UnitOfWork(sessions) as uow:
        assert not await already_processed(session=uow.session, update_ids=[5, 6])
        assert await claim_updates(session=uow.session, update_ids=[5, 6], now=NOW)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert await already_processed(session=uow.session, update_ids=[6])
        assert not await already_processed(session=uow.session, update_ids=[7])
        # An album whose one update was handled before is a redelivery: none is recorded.
        assert not await claim_updates(session=uow.session, update_ids=[6, 7], now=NOW)


async def test_an_uncommitted_unit_of_work_leaves_nothing(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    async with UnitOfWork(sessions) as uow:
        await upsert_citizen(session=uow.session, sender=Sender(77, "Tono"))
    async with UnitOfWork(sessions) as uow:
        count = (await uow.session.exec(select(Complaint))).all()
        assert count == []
        from storage.models import Citizen

        assert (
            await uow.session.exec(select(Citizen).where(Citizen.telegram_id == 77))
        ).first() is None
