"""The outbox on real SQLite and PostgreSQL: order, limits, failures, leases and racing workers."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.core.replies import Message
from bot.outbox import OutboxDispatcher
from bot.processing import system_clock
from bot.sending import Rejected, RetryAfter, Transient, Unreachable
from storage.database import SessionFactory, create_engine, migrate, session_factory
from storage.models import Citizen, Notification
from storage.outbox import (
    Audience,
    claim_due,
    count_by_status,
    dead_notifications,
    enqueue,
    mark_sent,
)
from storage.unit_of_work import UnitOfWork
from tests.support.flow_driver import FakeClock

LEASE = timedelta(seconds=60)


@dataclass
class RecordingSender:
    """A fake Bot API: records deliveries; ``failures[text]`` are raised, in turn, first."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    calls: int = 0

    async def send(self, chat_id: int, reply: Message) -> int:
        await asyncio.sleep(0)  # a real send yields to the loop
        self.calls += 1
        pending = self.failures.get(reply.text)
        if pending:
            raise pending.pop(0)
        self.sent.append((chat_id, reply.text))
        return len(self.sent)

    def texts(self, chat_id: int) -> list[str]:
        return [t for c, t in self.sent if c == chat_id]


@pytest.fixture
async def sessions(engine: AsyncEngine) -> SessionFactory:
    await migrate(engine)
    return session_factory(engine)


async def add(
    sessions: SessionFactory,
    clock: FakeClock,
    *messages: tuple[int, str],
    citizen_id: int | None = None,
) -> None:
    async with UnitOfWork(sessions) as uow:
        for chat_id, body in messages:
            await enqueue(
                session=uow.session,
                chat_id=chat_id,
                message=Message(body),
                audience=Audience.CITIZEN,
                now=clock.now,
                citizen_id=citizen_id,
            )
        await uow.commit()


async def rows(sessions: SessionFactory) -> dict[str, Notification]:
    async with UnitOfWork(sessions) as uow:
        found = await uow.session.exec(select(Notification).order_by(col(Notification.id)))
        return {n.payload["text"]: n for n in found.all()}


def dispatcher(
    sessions: SessionFactory,
    sender: RecordingSender,
    clock: FakeClock,
    worker_id: str = "worker-1",
    **options: object,
) -> OutboxDispatcher:
    values: dict[str, object] = {"rate_per_second": 1000.0, **options}
    return OutboxDispatcher(
        sessions=sessions,
        sender=sender,
        clock=clock,
        worker_id=worker_id,
        **values,  # type: ignore[arg-type]
    )


async def test_a_chat_gets_its_messages_in_order_and_a_delayed_one_holds_the_rest(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    await add(sessions, clock, (1, "a1"), (2, "b1"), (1, "a2"), (1, "a3"), (2, "b2"))
    sender = RecordingSender(failures={"a2": [Transient("502 Bad Gateway")]})
    outbox = dispatcher(sessions, sender, clock)

    first = await outbox.run_once()
    assert (first.claimed, first.sent) == (2, 2)  # one row per chat: the head of its queue
    clock.advance(seconds=1)
    second = await outbox.run_once()
    assert (second.sent, second.retried) == (1, 0 + 1)  # b2 sent; a2 failed, backs off 2 s
    clock.advance(seconds=1)
    assert (await outbox.run_once()).claimed == 0  # a3 waits behind a2's backoff
    clock.advance(seconds=1)
    assert (await outbox.run_once()).sent == 1
    clock.advance(seconds=1)
    assert (await outbox.run_once()).sent == 1

    assert sender.texts(1) == ["a1", "a2", "a3"]
    assert sender.texts(2) == ["b1", "b2"]
    assert (await rows(sessions))["a2"].attempts == 1


async def test_a_chat_gets_at_most_one_message_per_interval(sessions: SessionFactory) -> None:
    clock = FakeClock()
    await add(sessions, clock, (1, "first"), (1, "second"))
    sender = RecordingSender()
    outbox = dispatcher(sessions, sender, clock, per_chat_interval=1.0)

    assert (await outbox.run_once()).sent == 1
    clock.advance(seconds=0.9)
    assert (await outbox.run_once()).claimed == 0
    clock.advance(seconds=0.2)
    assert (await outbox.run_once()).sent == 1
    assert sender.texts(1) == ["first", "second"]
    sent = await rows(sessions)
    assert sent["second"].sent_at == clock.now
    assert sent["second"].message_id == 2


async def test_429_pauses_every_send_and_the_row_goes_out_once_afterwards(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    await add(sessions, clock, (1, "one"), (2, "two"), (3, "three"))
    sender = RecordingSender(failures={"one": [RetryAfter(5)]})
    # 20/s spaces the sends 50 ms apart: the 429 arrives before the next send is due.
    outbox = dispatcher(sessions, sender, clock, rate_per_second=20.0)

    paused = await outbox.run_once()
    assert (paused.claimed, paused.sent, paused.retried, paused.deferred) == (3, 0, 1, 2)
    assert paused.paused_until == clock.now + timedelta(seconds=5)
    assert sender.calls == 1  # nothing else was sent once Telegram said wait

    clock.advance(seconds=4)
    still = await outbox.run_once()
    assert still.claimed == 0 and still.paused_until is not None
    assert sender.calls == 1

    clock.advance(seconds=1)
    resumed = await outbox.run_once()
    assert resumed.sent == 3 and resumed.paused_until is None
    assert sorted(t for _, t in sender.sent) == ["one", "three", "two"]
    assert {n.attempts for n in (await rows(sessions)).values()} == {0}


async def test_server_errors_back_off_then_the_row_is_dead_with_its_error(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    await add(sessions, clock, (1, "flaky"))
    sender = RecordingSender(failures={"flaky": [Transient(f"50{n} error") for n in range(9)]})
    outbox = dispatcher(sessions, sender, clock, max_attempts=3, backoff_base=2.0)

    assert (await outbox.run_once()).retried == 1
    row = (await rows(sessions))["flaky"]
    assert (row.status, row.attempts, row.not_before) == (
        "pending",
        1,
        clock.now + timedelta(seconds=2),
    )
    clock.advance(seconds=1.9)
    assert (await outbox.run_once()).claimed == 0
    clock.advance(seconds=0.1)
    assert (await outbox.run_once()).retried == 1
    assert (await rows(sessions))["flaky"].not_before == clock.now + timedelta(seconds=4)
    clock.advance(seconds=4)
    assert (await outbox.run_once()).dead == 1

    row = (await rows(sessions))["flaky"]
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.last_error is not None and "502 error" in row.last_error
    async with UnitOfWork(sessions) as uow:
        dead = await dead_notifications(session=uow.session, limit=10)
        counts = await count_by_status(session=uow.session)
    assert [n.id for n in dead] == [row.id]
    assert counts == {"dead": 1}


async def test_a_rejected_message_is_dead_at_once_and_does_not_block_the_chat(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    await add(sessions, clock, (1, "malformed"), (1, "next"))
    sender = RecordingSender(failures={"malformed": [Rejected("Bad Request: can't parse")]})
    outbox = dispatcher(sessions, sender, clock, per_chat_interval=0.0)

    assert (await outbox.run_once()).dead == 1
    assert (await outbox.run_once()).sent == 1
    found = await rows(sessions)
    assert (found["malformed"].status, found["malformed"].attempts) == ("dead", 1)
    assert found["malformed"].last_error == "400: Bad Request: can't parse"
    assert sender.texts(1) == ["next"]


async def test_a_blocked_citizen_becomes_unreachable_with_the_chats_pending_rows(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    async with UnitOfWork(sessions) as uow:
        citizen = Citizen(telegram_id=1, first_name="Siti")
        uow.session.add(citizen)
        await uow.session.flush()
        citizen_id = citizen.id
        await uow.commit()
    await add(sessions, clock, (1, "status 1"), (1, "status 2"), citizen_id=citizen_id)
    await add(sessions, clock, (2, "someone else"))
    sender = RecordingSender(failures={"status 1": [Unreachable("Forbidden: bot was blocked")]})
    outbox = dispatcher(sessions, sender, clock)

    report = await outbox.run_once()
    assert (report.unreachable, report.sent) == (1, 1)
    clock.advance(seconds=5)
    assert (await outbox.run_once()).claimed == 0

    found = await rows(sessions)
    assert found["status 1"].status == found["status 2"].status == "unreachable"
    assert found["someone else"].status == "sent"
    async with UnitOfWork(sessions) as uow:
        stored = await uow.session.get(Citizen, citizen_id)
        assert stored is not None and stored.reachable is False


async def test_an_expired_lease_lets_another_worker_deliver_and_the_old_one_cannot_mark(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    await add(sessions, clock, (1, "orphan"))
    async with UnitOfWork(sessions) as uow:  # a worker claims, then dies before sending
        [claimed] = await claim_due(
            session=uow.session,
            now=clock.now,
            worker_id="crashed",
            limit=10,
            lease=LEASE,
            per_chat_interval=timedelta(seconds=1),
        )
        await uow.commit()
    sender = RecordingSender()
    outbox = dispatcher(sessions, sender, clock, worker_id="survivor")

    assert (await outbox.run_once()).claimed == 0
    clock.advance(seconds=61)
    assert (await outbox.run_once()).sent == 1
    assert claimed.id is not None
    async with UnitOfWork(sessions) as uow:
        late = await mark_sent(
            session=uow.session,
            notification_id=claimed.id,
            worker_id="crashed",
            message_id=999,
            now=clock.now,
        )
        await uow.commit()
    assert late is False
    row = (await rows(sessions))["orphan"]
    assert (row.status, row.message_id) == ("sent", 1)
    assert sender.texts(1) == ["orphan"]


async def test_a_dedupe_key_enqueues_once(sessions: SessionFactory) -> None:
    clock = FakeClock()
    for _ in range(2):
        async with UnitOfWork(sessions) as uow:
            await enqueue(
                session=uow.session,
                chat_id=1,
                message=Message("deadline reminder"),
                audience=Audience.STAFF,
                now=clock.now,
                dedupe_key="reminder:42:1",
            )
            await uow.commit()
    assert len(await rows(sessions)) == 1
    async with UnitOfWork(sessions) as uow:
        assert await count_by_status(session=uow.session) == {"pending": 1}


async def _second_engine(engine: AsyncEngine) -> AsyncEngine:
    """Another engine (its own connections) on the same database and schema."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "postgresql":
        return create_engine(url)
    async with engine.connect() as connection:
        schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
    return create_engine(url, schema=schema)


async def test_two_dispatchers_racing_deliver_each_row_once_in_order(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    now = system_clock()
    expected: dict[int, list[str]] = defaultdict(list)
    async with UnitOfWork(sessions) as uow:
        for n in range(300):
            chat_id = 1000 + n % 40
            expected[chat_id].append(f"m{n}")
            await enqueue(
                session=uow.session,
                chat_id=chat_id,
                message=Message(f"m{n}"),
                audience=Audience.CITIZEN,
                now=now,
            )
        await uow.commit()
    other = await _second_engine(engine)
    sender = RecordingSender()
    racers = [
        OutboxDispatcher(
            sessions=factory,
            sender=sender,
            clock=system_clock,
            worker_id=name,
            rate_per_second=1000.0,
            per_chat_interval=0.0,
            batch_size=10,
        )
        for name, factory in (("first", sessions), ("second", session_factory(other)))
    ]
    delivered = [0, 0]
    try:
        deadline = time.monotonic() + 40
        while len(sender.sent) < 300 and time.monotonic() < deadline:
            reports = await asyncio.gather(*(racer.run_until_idle(20) for racer in racers))
            delivered = [total + r.sent for total, r in zip(delivered, reports, strict=True)]
    finally:
        await other.dispose()

    assert len(sender.sent) == 300
    assert len(set(sender.sent)) == 300  # nothing twice
    for chat_id, texts in expected.items():
        assert sender.texts(chat_id) == texts
    assert sum(delivered) == 300
    assert all(delivered), f"both dispatchers should have delivered: {delivered}"
    assert {n.status for n in (await rows(sessions)).values()} == {"sent"}


async def test_concurrent_claims_never_hand_out_a_row_twice(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    clock = FakeClock()
    await add(sessions, clock, *((chat_id, f"c{chat_id}") for chat_id in range(200)))
    other = await _second_engine(engine)
    factories = [sessions, session_factory(other)]

    async def claim(n: int) -> list[int]:
        async with UnitOfWork(factories[n % 2]) as uow:
            claimed = await claim_due(
                session=uow.session,
                now=clock.now,
                worker_id=f"w{n}",
                limit=20,
                lease=LEASE,
                per_chat_interval=timedelta(seconds=1),
            )
            await uow.commit()
        return [row.id for row in claimed if row.id is not None]

    try:
        batches = await asyncio.gather(*(claim(n) for n in range(8)))
    finally:
        await other.dispose()
    ids = [i for batch in batches for i in batch]
    assert len(ids) == len(set(ids)) == 160  # 8 claimers x 20, none shared
    found = await rows(sessions)
    owners = {n.claimed_by for n in found.values() if n.status == "sending"}
    assert len(owners) == 8


async def test_a_duty_lock_is_held_by_one_process_at_a_time(engine: AsyncEngine) -> None:
    from storage.locks import try_singleton

    sessions = session_factory(engine)
    async with UnitOfWork(sessions) as first, UnitOfWork(sessions) as second:
        assert await try_singleton(session=first.session, name="scan")
        expected = engine.dialect.name != "postgresql"  # SQLite: one process, nothing to take
        assert await try_singleton(session=second.session, name="scan") is expected
        assert await try_singleton(session=second.session, name="other")
