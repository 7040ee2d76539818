"""The outbox over real HTTP: each runtime's sender and the scheduler against emulator faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import col, select

from bot.app import telegram_client
from bot.core.replies import Message
from bot.jobs import build_scheduler, stop_scheduler
from bot.outbox import OutboxDispatcher
from bot.processing import system_clock
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from storage.database import SessionFactory, create_engine, migrate, session_factory
from storage.models import Citizen, Notification
from storage.outbox import Audience, enqueue
from storage.unit_of_work import UnitOfWork
from tests.support.live_bot import WAIT, running_bot

USERS = (2001, 2002, 2003)
BLOCKED = 2004
PER_USER = 4


@pytest.fixture
async def sessions(live_settings: Settings) -> AsyncIterator[SessionFactory]:
    engine = create_engine(live_settings.database_url)
    await migrate(engine)
    yield session_factory(engine)
    await engine.dispose()


async def enqueue_for(
    sessions: SessionFactory, chat_id: int, texts: list[str], citizen_id: int | None = None
) -> None:
    async with UnitOfWork(sessions) as uow:
        for body in texts:
            await enqueue(
                session=uow.session,
                chat_id=chat_id,
                message=Message(body),
                audience=Audience.CITIZEN,
                now=system_clock(),
                citizen_id=citizen_id,
            )
        await uow.commit()


def texts(emulator: Emulator, chat_id: int) -> list[str]:
    return [str(m.get("text")) for m in emulator.messages(chat_id)]


async def test_notifications_arrive_once_in_order_through_429s_and_500s(
    emulator: Emulator, live_settings: Settings, sessions: SessionFactory
) -> None:
    expected = {user: [f"Laporan {user}: kabar {n}" for n in range(PER_USER)] for user in USERS}
    for user in (*USERS, BLOCKED):
        emulator.add_user(user, f"Warga {user}")
    async with UnitOfWork(sessions) as uow:
        citizen = Citizen(telegram_id=BLOCKED, first_name="Budi")
        uow.session.add(citizen)
        await uow.session.flush()
        blocked_citizen = citizen.id
        await uow.commit()
    for user, lines in expected.items():
        await enqueue_for(sessions, user, lines)
    await enqueue_for(sessions, BLOCKED, ["diblokir 1", "diblokir 2"], blocked_citizen)
    emulator.block(BLOCKED)
    emulator.fail_next(None, status=429, retry_after=1)
    emulator.fail_next(None, status=500, count=2)

    client = telegram_client(live_settings)
    await client.open()
    dispatcher = OutboxDispatcher(
        sessions=sessions,
        sender=client.sender,
        clock=system_clock,
        worker_id="e2e",
        rate_per_second=30.0,
        per_chat_interval=0.2,
        backoff_base=0.2,
    )
    scheduler = build_scheduler(
        dispatcher=dispatcher,
        settings=live_settings.model_copy(update={"outbox_interval_seconds": 0.1}),
    )
    scheduler.start()
    try:

        def delivered() -> bool:
            refused = [c for c in emulator.calls_to("sendMessage") if c.error_code == 403]
            return bool(refused) and all(len(texts(emulator, u)) >= PER_USER for u in USERS)

        await emulator.wait_until(delivered, WAIT * 2, what="every notification")
    finally:
        await stop_scheduler(scheduler, dispatcher=dispatcher)
        await client.close()

    for user, lines in expected.items():
        assert texts(emulator, user) == lines  # each exactly once, in order
    assert emulator.stats.too_many_requests == 1
    assert emulator.stats.errors[500] == 2
    assert texts(emulator, BLOCKED) == []
    async with UnitOfWork(sessions) as uow:
        rows = (await uow.session.exec(select(Notification).order_by(col(Notification.id)))).all()
        budi = await uow.session.get(Citizen, blocked_citizen)
    by_status = {(n.chat_id, n.status) for n in rows}
    assert by_status == {*((u, "sent") for u in USERS), (BLOCKED, "unreachable")}
    assert budi is not None and budi.reachable is False


async def test_the_running_bot_delivers_the_outbox(
    emulator: Emulator, live_settings: Settings, sessions: SessionFactory
) -> None:
    emulator.add_user(3001, "Rina", language_code="id")
    await enqueue_for(sessions, 3001, ["Laporan TPI-2026-000001 sedang diproses."])
    settings = live_settings.model_copy(update={"outbox_interval_seconds": 0.2})
    async with running_bot(settings):
        message = await emulator.wait_for_message(3001, after=0, timeout=WAIT)
    assert message["text"] == "Laporan TPI-2026-000001 sedang diproses."
    async with UnitOfWork(sessions) as uow:
        row = (await uow.session.exec(select(Notification))).one()
    assert (row.status, row.message_id) == ("sent", message["message_id"])
