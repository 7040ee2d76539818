"""Races between real parallel updates on PostgreSQL.

Each round starts several ``UpdateProcessor.process`` calls at the same moment with
``asyncio.gather``; on PostgreSQL the processor does not serialise writes, so every call runs
in its own transaction on its own connection, exactly as two webhook workers would. Each race
is repeated ``ADUAN_RACE_ROUNDS`` times (default 4) and judged only by what the database holds
afterwards (history, outbox, status, staff) and by the replies the two people got.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App, build_app
from bot.core.lifecycle import Action, Role, Status
from bot.core.replies import Message, Reply
from storage.complaints import NewComplaint, add_complaint
from storage.database import create_engine
from storage.models import Agency, Complaint, ComplaintEvent, Notification, Staff, StaffInvite
from storage.models import Citizen as CitizenRow
from storage.staff import create_invite
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.databases import POSTGRES_URL, postgres_schema
from tests.support.flow_driver import Citizen, FakeClock

pytestmark = pytest.mark.postgres

ROUNDS = int(os.environ.get("ADUAN_RACE_ROUNDS", "4"))
ADMIN, OFFICER_A, OFFICER_B, SITI = 9001, 9002, 9003, 1001
NEWCOMERS = 7000  # two fresh Telegram users per invite round: 7000 + 2r, 7001 + 2r


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    """The real app on a fresh PostgreSQL schema, with two PUPR officers and a citizen."""
    async with postgres_schema() as schema:
        engine = create_engine(POSTGRES_URL, schema=schema)
        settings = make_settings(tmp_path, database_url=POSTGRES_URL, admin_ids=str(ADMIN))
        app = await build_app(settings, clock=clock, engine=engine)
        try:
            # build_app serialises writes on SQLite only: here every update runs in parallel.
            assert app.engine.dialect.name == "postgresql"
            async with UnitOfWork(app.sessions) as uow:
                pupr = await agency_id(uow, "pupr")
                uow.session.add_all(
                    [
                        Staff(telegram_id=OFFICER_A, role=Role.AGENCY_ADMIN, agency_id=pupr),
                        Staff(telegram_id=OFFICER_B, role=Role.AGENCY_ADMIN, agency_id=pupr),
                    ]
                )
                await uow.commit()
            await Citizen(app, user_id=SITI).say("/start")  # registers the citizen
            await warm_up(app)
            yield app
        finally:
            await app.close()


async def warm_up(app: App, connections: int = 4) -> None:
    """Open the pool's connections up front: a connection opened mid-race would hand the
    other request a head start of several milliseconds and let it finish alone."""

    async def touch() -> None:
        async with UnitOfWork(app.sessions) as uow:
            await uow.session.exec(select(Agency.id).limit(1))

    await asyncio.gather(*(touch() for _ in range(connections)))


async def agency_id(uow: UnitOfWork, code: str) -> int:
    agency = (await uow.session.exec(select(Agency).where(Agency.code == code))).one()
    assert agency.id is not None
    return agency.id


async def make_case(app: App, status: Status, clock: FakeClock) -> Complaint:
    """A report of Siti's, assigned to PUPR and left in ``status``."""
    async with UnitOfWork(app.sessions) as uow:
        session = uow.session
        citizen = (
            await session.exec(select(CitizenRow).where(CitizenRow.telegram_id == SITI))
        ).one()
        case = await add_complaint(
            session=session,
            data=NewComplaint(
                kind="complaint", category_id=1, description="d" * 40, privacy="public"
            ),
            citizen_id=citizen.id,
            prefix="TPI",
            year=2026,
            now=clock.now,
            verify_due_at=clock.now,
        )
        case.status = status.value
        case.agency_id = await agency_id(uow, "pupr")
        case.assigned_at = clock.now
        case.first_response_due_at = clock.now + timedelta(days=5)
        if status is Status.IN_PROGRESS:
            case.acknowledged_at = clock.now
            case.completion_due_at = clock.now + timedelta(days=14)
        session.add(case)
        await uow.commit()
        return case


async def at_once(*pairs: tuple[Citizen, str]) -> list[list[Reply]]:
    """Every user sends their text at the same moment; the replies in the same order."""
    return list(await asyncio.gather(*(user.say(text) for user, text in pairs)))


def texts(replies: list[Reply]) -> list[str]:
    return [str(r.text) for r in replies if isinstance(r, Message)]


async def history(app: App, case_id: int) -> list[ComplaintEvent]:
    async with UnitOfWork(app.sessions) as uow:
        query = select(ComplaintEvent).where(ComplaintEvent.complaint_id == case_id)
        return list((await uow.session.exec(query.order_by(col(ComplaintEvent.id)))).all())


async def citizen_buttons(app: App, case_id: int) -> list[list[str]]:
    """The callback data under each outbox message to the citizen about this report."""
    async with UnitOfWork(app.sessions) as uow:
        query = select(Notification).where(
            Notification.chat_id == SITI, Notification.complaint_id == case_id
        )
        rows = (await uow.session.exec(query.order_by(col(Notification.id)))).all()
    return [
        [button["callback"] or "" for row in n.payload.get("buttons", []) for button in row]
        for n in rows
    ]


async def status_of(app: App, case_id: int) -> str:
    async with UnitOfWork(app.sessions) as uow:
        case = await uow.session.get(Complaint, case_id)
        assert case is not None
        return case.status


@dataclass
class Round:
    """What one round left behind, and what was wrong with it."""

    number: int
    problems: list[str]


def verdict(rounds: list[Round]) -> None:
    broken = [r for r in rounds if r.problems]
    assert not broken, f"{len(broken)} of {len(rounds)} rounds raced:\n" + "\n".join(
        f"  round {r.number}: {'; '.join(r.problems)}" for r in broken
    )


def done_and_denied(
    app: App, replies: list[list[Reply]], done: list[str]
) -> tuple[list[int], list[int]]:
    """Which of the users got their done answer, and which the refusal."""
    refusal = str(app.translator("id", "staff.denied"))
    winners = [i for i, r in enumerate(replies) if done[i] in texts(r)]
    losers = [i for i, r in enumerate(replies) if refusal in texts(r)]
    return winners, losers


async def test_two_officers_resolve_the_same_report_once(app: App, clock: FakeClock) -> None:
    """Race 1: two liaison officers of PUPR /resolve the same report at the same moment."""
    officers = Citizen(app, user_id=OFFICER_A), Citizen(app, user_id=OFFICER_B)
    rounds = []
    for number in range(ROUNDS):
        status = Status.ASSIGNED if number % 2 == 0 else Status.IN_PROGRESS
        case = await make_case(app, status, clock)
        assert case.id is not None
        code = case.tracking_code
        replies = await at_once(
            (officers[0], f"/resolve {code} Sudah ditambal oleh tim A."),
            (officers[1], f"/resolve {code} Sudah ditambal oleh tim B."),
        )
        problems = []
        resolutions = [e for e in await history(app, case.id) if e.action == Action.RESOLVE]
        if len(resolutions) != 1:
            problems.append(f"{len(resolutions)} resolve events")
        verdicts = [b for b in await citizen_buttons(app, case.id) if b and b[0].startswith("v:")]
        if len(verdicts) != 1:
            problems.append(f"{len(verdicts)} citizen messages with the verdict buttons")
        if (now := await status_of(app, case.id)) != Status.RESOLVED:
            problems.append(f"status {now}")
        done = str(app.translator("id", "staff.done.resolve", code=code))
        winners, losers = done_and_denied(app, replies, [done, done])
        if (len(winners), len(losers)) != (1, 1):
            problems.append(f"{len(winners)} told done, {len(losers)} refused")
        rounds.append(Round(number, problems))
    verdict(rounds)


async def test_a_question_and_a_resolution_at_once_only_one_happens(
    app: App, clock: FakeClock
) -> None:
    """Race 2: one officer asks the citizen (/reply) while the other resolves (/resolve)."""
    asker, resolver = Citizen(app, user_id=OFFICER_A), Citizen(app, user_id=OFFICER_B)
    rounds = []
    for number in range(ROUNDS):
        status = Status.ASSIGNED if number % 2 == 0 else Status.IN_PROGRESS
        case = await make_case(app, status, clock)
        assert case.id is not None
        code = case.tracking_code
        # Who sends first alternates, so neither always gets the head start of gather's order.
        pairs = [
            (asker, f"/reply {code} Di sebelah mana tepatnya lubangnya?"),
            (resolver, f"/resolve {code} Sudah ditambal."),
        ]
        order = pairs if number % 2 == 0 else pairs[::-1]
        replies = dict(zip((u.user_id for u, _ in order), await at_once(*order), strict=True))
        problems = []
        events = await history(app, case.id)
        asks = [e for e in events if e.action == Action.ASK]
        resolutions = [e for e in events if e.action == Action.RESOLVE]
        buttons = await citizen_buttons(app, case.id)
        reply_buttons = [b for b in buttons if f"c:ans:{case.id}" in b]
        verdict_buttons = [b for b in buttons if b and b[0].startswith("v:")]
        now = await status_of(app, case.id)
        if now == Status.NEEDS_INFO:
            if resolutions:
                problems.append("needs_info with a resolution recorded")
            if len(asks) != 1:
                problems.append(f"needs_info with {len(asks)} ask events")
            if (len(reply_buttons), len(verdict_buttons)) != (1, 0):
                problems.append(
                    f"needs_info, citizen got {len(reply_buttons)} reply and "
                    f"{len(verdict_buttons)} verdict keyboards"
                )
        elif now == Status.RESOLVED:
            if len(resolutions) != 1:
                problems.append(f"resolved with {len(resolutions)} resolve events")
            elif any(e.id is not None and e.id > (resolutions[0].id or 0) for e in asks):
                problems.append("resolved with a question asked after the resolution")
            if asks:
                problems.append(f"resolved, and {len(asks)} questions asked as well")
            if (len(reply_buttons), len(verdict_buttons)) != (0, 1):
                problems.append(
                    f"resolved, citizen got {len(reply_buttons)} reply and "
                    f"{len(verdict_buttons)} verdict keyboards"
                )
        else:
            problems.append(f"status {now}")
        done = [
            str(app.translator("id", "staff.done.ask", code=code)),
            str(app.translator("id", "staff.done.resolve", code=code)),
        ]
        ordered = [replies[asker.user_id], replies[resolver.user_id]]
        winners, losers = done_and_denied(app, ordered, done)
        if (len(winners), len(losers)) != (1, 1):
            problems.append(f"{len(winners)} told done, {len(losers)} refused")
        elif now in (Status.NEEDS_INFO, Status.RESOLVED) and winners != [
            0 if now == Status.NEEDS_INFO else 1
        ]:
            problems.append(f"status {now} but the other officer was told done")
        rounds.append(Round(number, problems))
    verdict(rounds)


async def test_one_invitation_opened_twice_at_once_makes_one_staff_member(
    app: App, clock: FakeClock
) -> None:
    """Race 3: one invitation link opened by two Telegram users at the same moment."""
    invalid = str(app.translator("id", "staff.invite_invalid"))
    async with UnitOfWork(app.sessions) as uow:
        admin = (await uow.session.exec(select(Staff).where(Staff.telegram_id == ADMIN))).one()
        pupr = await agency_id(uow, "pupr")
    assert admin.id is not None
    rounds = []
    for number in range(ROUNDS):
        async with UnitOfWork(app.sessions) as uow:
            invite = await create_invite(
                session=uow.session,
                role=Role.AGENCY_ADMIN,
                agency_id=pupr,
                created_by_id=admin.id,
                now=clock.now,
                ttl=timedelta(hours=72),
            )
            await uow.commit()
        ids = (NEWCOMERS + 2 * number, NEWCOMERS + 2 * number + 1)
        users = [Citizen(app, user_id=i, first_name=f"Calon{i}") for i in ids]
        replies = await at_once(*((user, f"/start join_{invite.token}") for user in users))
        problems = []
        async with UnitOfWork(app.sessions) as uow:
            joined = (
                await uow.session.exec(select(Staff).where(col(Staff.telegram_id).in_(ids)))
            ).all()
            used = await uow.session.get(StaffInvite, invite.id)
        assert used is not None
        if len(joined) != 1:
            problems.append(f"{len(joined)} staff members from one invitation")
        refused = [i for i, r in enumerate(replies) if invalid in texts(r)]
        if len(refused) != 1:
            problems.append(f"{len(refused)} told the invitation is invalid")
        elif len(joined) == 1:
            if joined[0].telegram_id == ids[refused[0]]:
                problems.append("the refused user became staff")
            if used.used_by != joined[0].telegram_id:
                problems.append("the invitation names someone else as its user")
        rounds.append(Round(number, problems))
    verdict(rounds)
