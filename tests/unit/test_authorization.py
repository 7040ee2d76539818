"""The authorisation matrix: every staff action × every role × own / other agency × status,
pressed as a (possibly forged) button or typed as a command. Denied means: the same clear
denial, and nothing in the report changed. Allowed means: no denial.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.core.lifecycle import Action, Role, Status, may
from bot.core.replies import Message, Notice
from storage.complaints import NewComplaint, add_complaint
from storage.models import Agency, Complaint, Staff
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen, FakeClock, running_app

ADMIN, OWN, OTHER, VIEWER, NOBODY = 9001, 9002, 9003, 9004, 9005
ACTORS = {
    ADMIN: Role.SUPERADMIN,
    OWN: Role.AGENCY_ADMIN,
    OTHER: Role.AGENCY_ADMIN,
    VIEWER: Role.VIEWER,
    NOBODY: None,
}
STATUSES = (
    Status.SUBMITTED,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.NEEDS_INFO,
    Status.RESOLVED,
    Status.REJECTED,
)
# Button verb (with the extra choice it carries) → the action it performs.
BUTTONS: dict[str, tuple[Action, str]] = {
    "fwd": (Action.FORWARD, ""),
    "fwdto": (Action.FORWARD, ":{agency}"),
    "rej": (Action.REJECT, ""),
    "rejr": (Action.REJECT, ":abusive"),
    "ask": (Action.ASK, ""),
    "ack": (Action.ACKNOWLEDGE, ""),
    "ackf": (Action.ACKNOWLEDGE, ":1"),
    "prog": (Action.PROGRESS, ""),
    "note": (Action.NOTE, ""),
    "res": (Action.RESOLVE, ""),
    "back": (Action.HAND_BACK, ""),
    "cat": (Action.RECLASSIFY, ""),
    "catto": (Action.RECLASSIFY, ":2"),
    "kind": (Action.RECLASSIFY, ""),
    "kindto": (Action.RECLASSIFY, ":information"),
    "priv": (Action.PRIVACY, ""),
    "privto": (Action.PRIVACY, ":confidential"),
}
COMMANDS = {
    "reply": Action.ASK,
    "note": Action.NOTE,
    "progress": Action.PROGRESS,
    "resolve": Action.RESOLVE,
}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with running_app(make_settings(tmp_path, admin_ids=str(ADMIN)), FakeClock()) as app:
        async with UnitOfWork(app.sessions) as uow:
            agencies = {a.code: a.id for a in (await uow.session.exec(select(Agency))).all()}
            uow.session.add_all(
                [
                    Staff(telegram_id=OWN, role=Role.AGENCY_ADMIN, agency_id=agencies["pupr"]),
                    Staff(telegram_id=OTHER, role=Role.AGENCY_ADMIN, agency_id=agencies["dinkes"]),
                    Staff(telegram_id=VIEWER, role=Role.VIEWER),
                ]
            )
            await uow.commit()
        yield app


async def make_case(app: App, status: Status, clock: FakeClock) -> Complaint:
    """A report of citizen 1001 in ``status``, assigned to PUPR unless merely submitted."""
    async with UnitOfWork(app.sessions) as uow:
        session = uow.session
        pupr = (await session.exec(select(Agency).where(Agency.code == "pupr"))).one()
        citizen = Citizen(app, user_id=1001)
        await citizen.say("/start")  # registers the citizen
        from storage.models import Citizen as CitizenRow

        row = (await session.exec(select(CitizenRow).where(CitizenRow.telegram_id == 1001))).one()
        case = await add_complaint(
            session=session,
            data=NewComplaint(
                kind="complaint", category_id=1, description="d" * 40, privacy="public"
            ),
            citizen_id=row.id,
            prefix="TPI",
            year=2026,
            now=clock.now,
            verify_due_at=clock.now,
        )
        case.status = status.value
        if status is not Status.SUBMITTED:
            case.agency_id = pupr.id
        if status is Status.NEEDS_INFO:
            case.status_before_question = Status.ASSIGNED.value
        session.add(case)
        await uow.commit()
        return case


async def snapshot(app: App, case_id: int) -> tuple[object, ...]:
    async with UnitOfWork(app.sessions) as uow:
        case = await uow.session.get(Complaint, case_id)
        assert case is not None
        return (
            case.status,
            case.agency_id,
            case.category_id,
            case.kind,
            case.privacy,
            case.version,
        )


def expected(actor: int, action: Action, status: Status) -> bool:
    role = ACTORS[actor]
    if role is None or not may(action, role, status):
        return False
    own_case = status is not Status.SUBMITTED  # made cases belong to PUPR once assigned
    return role is not Role.AGENCY_ADMIN or (actor == OWN and own_case)


def was_denied(replies: list[object]) -> bool:
    return any(isinstance(r, Notice | Message) and ("tidak berwenang" in r.text) for r in replies)


async def test_every_button_for_every_role_and_status(app: App) -> None:
    clock = FakeClock()
    async with UnitOfWork(app.sessions) as uow:
        agency = (await uow.session.exec(select(Agency).where(Agency.code == "dlh"))).one().id
    failures = []
    outcomes: list[bool] = []
    for status, actor, verb in itertools.product(STATUSES, ACTORS, BUTTONS):
        action, extra = BUTTONS[verb]
        case = await make_case(app, status, clock)
        assert case.id is not None
        before = await snapshot(app, case.id)
        user = Citizen(app, user_id=actor)
        replies = await user.press(f"s:{verb}:{case.id}{extra.format(agency=agency)}")
        allowed = expected(actor, action, status)
        outcomes.append(allowed)
        if was_denied(replies) == allowed:
            failures.append((status.value, actor, verb, "allowed" if allowed else "denied"))
        if not allowed and await snapshot(app, case.id) != before:
            failures.append((status.value, actor, verb, "changed although denied"))
        await user.say("/cancel")  # leave any prompt that was opened
        if user.last and "Buang draf" in user.text:
            await user.press("x:yes")
    assert failures == []
    assert outcomes.count(True) >= 30 and outcomes.count(False) >= 400  # the matrix is real


async def test_every_one_line_command_for_every_role_and_status(app: App) -> None:
    clock = FakeClock()
    failures = []
    for status, actor, command in itertools.product(STATUSES, ACTORS, COMMANDS):
        case = await make_case(app, status, clock)
        assert case.id is not None
        before = await snapshot(app, case.id)
        replies = await Citizen(app, user_id=actor).say(
            f"/{command} {case.tracking_code} Teks yang cukup panjang."
        )
        allowed = expected(actor, COMMANDS[command], status)
        hidden = any(isinstance(r, Message) and "Tidak ada laporan" in r.text for r in replies)
        if (was_denied(replies) or hidden) == allowed:
            failures.append((status.value, actor, command))
        if not allowed and await snapshot(app, case.id) != before:
            failures.append((status.value, actor, command, "changed although denied"))
    assert failures == []


async def test_forged_callback_data_is_denied(app: App) -> None:
    case = await make_case(app, Status.SUBMITTED, FakeClock())
    admin = Citizen(app, user_id=ADMIN)
    for data in (
        f"s:fwdto:{case.id}:999999",
        f"s:catto:{case.id}:abc",
        f"s:privto:{case.id}:public",
        f"s:kindto:{case.id}:bogus",
        f"s:rejr:{case.id}:because",
        f"s:rejgo:{case.id}",
        f"s:resgo:{case.id}",
    ):
        replies = await admin.press(data)
        assert was_denied(replies), data
    # Data that is no button's shape at all is stale, whatever it names.
    for data in ("s:fwdto:abc:1", "s:fwdto", f"v:{case.id}:x:fixed", "zz:1", "s:case:-1"):
        replies = await admin.press(data)
        assert [type(r) for r in replies] == [Notice] and "tidak berlaku" in replies[0].text
    assert (await snapshot(app, case.id or 0))[0] == "submitted"
