"""The lifecycle as one table: every casework action × every status × every kind of actor,
allowed or refused, and the deadline an allowed action starts.

The expectations below are written out by hand from shared/DOMAIN.md, not read from
``bot/core/lifecycle.py``, so a change to the lifecycle table shows up here as a difference.
Each cell runs the real casework function on a real database and is rolled back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.casework import (
    SYSTEM,
    Acting,
    CitizenActor,
    Denied,
    Office,
    StaffActor,
    Work,
    handling,
    system,
)
from bot.casework import citizen as by_citizen
from bot.core.lifecycle import Privacy, RejectReason, ReportKind, Role, Status, Verdict
from storage.models import Agency, Citizen, Complaint, ComplaintEvent, Staff
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import FakeClock, running_app

S, N, A, P, R, C, X = (
    Status.SUBMITTED,
    Status.NEEDS_INFO,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.RESOLVED,
    Status.CLOSED,
    Status.REJECTED,
)
ACTORS = ("admin", "officer", "other_officer", "viewer", "citizen", "stranger", "system")
DEADLINES = ("verify_due_at", "first_response_due_at", "completion_due_at")

Call = Callable[[Work, int, int], Awaitable[Complaint]]
# action name → (call, {actor: statuses allowed from}, the deadline an allowed call starts)
TABLE: dict[str, tuple[Call, dict[str, set[Status]], str | None]] = {
    "forward": (
        lambda w, ref, pupr: handling.forward(w, ref, pupr),
        {"admin": {S}},
        "first_response_due_at",
    ),
    "reject": (
        lambda w, ref, _: handling.reject(w, ref, RejectReason.ABUSIVE, "spam"),
        {"admin": {S}},
        None,
    ),
    "ask": (
        lambda w, ref, _: handling.ask(w, ref, "Di mana tepatnya?"),
        {"admin": {S}, "officer": {A, P}},
        None,
    ),
    "answer": (
        lambda w, ref, _: by_citizen.answer(w, ref, "Di depan SDN 005", ()),
        {"citizen": {N}},
        "first_response_due_at",  # moved on by the pause (the report was assigned)
    ),
    "acknowledge": (
        lambda w, ref, _: handling.acknowledge(w, ref, field_inspection=False),
        {"officer": {A}},
        "completion_due_at",
    ),
    "progress": (
        lambda w, ref, _: handling.progress(w, ref, "Material dipesan"),
        {"officer": {P}},
        None,
    ),
    "note": (
        lambda w, ref, _: handling.note(w, ref, "catatan"),
        {"admin": {S, N, A, P, R}, "officer": {N, A, P, R}},
        None,
    ),
    "resolve": (
        lambda w, ref, _: handling.resolve(w, ref, "Sudah diperbaiki"),
        {"officer": {A, P}},
        None,
    ),
    "hand_back": (
        lambda w, ref, _: handling.hand_back(w, ref, "Bukan kewenangan kami"),
        {"officer": {A, P}},
        "verify_due_at",
    ),
    "change_category": (
        lambda w, ref, _: handling.change_category(w, ref, 2),
        {"admin": {S}},
        None,
    ),
    "change_kind": (
        lambda w, ref, _: handling.change_kind(w, ref, ReportKind.ASPIRATION),
        {"admin": {S}},
        None,
    ),
    "tighten_privacy": (
        lambda w, ref, _: handling.tighten_privacy(w, ref, Privacy.CONFIDENTIAL),
        {"admin": {S, N, A, P}},
        None,
    ),
    "close": (
        lambda w, ref, _: by_citizen.close(w, ref, 0, Verdict.FIXED),
        {"citizen": {R}},
        None,
    ),
    "reopen": (
        lambda w, ref, _: by_citizen.reopen(w, ref, 0, "Masih bocor"),
        {"citizen": {R}},
        "first_response_due_at",
    ),
    "rate": (
        lambda w, ref, _: by_citizen.rate(w, ref, 4, None),
        {"citizen": {S, N, A, P, R, C}},
        None,
    ),
    "auto_close": (
        lambda w, ref, _: system.auto_close(w, ref, days=5),
        {"system": {R}},
        None,
    ),
}
# Where an allowed action leads (None: the status stays).
LEADS_TO: dict[str, Status | None] = {
    "forward": A,
    "reject": X,
    "ask": N,
    "answer": A,
    "acknowledge": P,
    "progress": None,
    "note": None,
    "resolve": R,
    "hand_back": S,
    "change_category": None,
    "change_kind": None,
    "tighten_privacy": None,
    "close": C,
    "reopen": A,
    "rate": None,
    "auto_close": C,
}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with running_app(make_settings(tmp_path), FakeClock()) as app:
        yield app


async def _actor(session: object, who: str, agencies: dict[str, int]) -> Acting:
    from sqlmodel.ext.asyncio.session import AsyncSession

    assert isinstance(session, AsyncSession)
    if who == "system":
        return SYSTEM
    if who in ("citizen", "stranger"):
        telegram_id = 1001 if who == "citizen" else 1002
        row = Citizen(telegram_id=telegram_id, first_name=who, locale="id")
        session.add(row)
        await session.flush()
        return CitizenActor(row)
    role, agency = {
        "admin": (Role.SUPERADMIN, None),
        "officer": (Role.AGENCY_ADMIN, agencies["pupr"]),
        "other_officer": (Role.AGENCY_ADMIN, agencies["dinkes"]),
        "viewer": (Role.VIEWER, None),
    }[who]
    staff = Staff(telegram_id=5000 + ACTORS.index(who), role=role, agency_id=agency, name=who)
    session.add(staff)
    await session.flush()
    return StaffActor(staff)


async def test_every_action_in_every_status_for_every_actor(app: App) -> None:
    now = FakeClock().now
    office = Office.of(app.settings, app.translator, app.calendar)
    mismatches: list[tuple[str, str, str, str]] = []
    allowed_count = 0
    for name, (call, allowed_from, deadline) in TABLE.items():
        for status in Status:
            for who in ACTORS:
                async with UnitOfWork(app.sessions) as uow:
                    session = uow.session
                    agencies = {
                        a.code: a.id or 0 for a in (await session.exec(select(Agency))).all()
                    }
                    owner = await _actor(session, "citizen", agencies)
                    actor = owner if who == "citizen" else await _actor(session, who, agencies)
                    assert isinstance(owner, CitizenActor)
                    before = now - timedelta(days=2)
                    case = Complaint(
                        tracking_code=f"TPI-2026-{len(mismatches) + allowed_count + 1:06d}",
                        year=2026,
                        sequence=1,
                        kind="complaint",
                        category_id=1,
                        description="d" * 40,
                        privacy="public",
                        channel="telegram",
                        citizen_id=owner.citizen.id,
                        agency_id=None if status is S else agencies["pupr"],
                        status=status.value,
                        submitted_at=before,
                        verify_due_at=before,
                        first_response_due_at=before,
                        completion_due_at=before,
                        status_before_question=A.value if status is N else None,
                        paused_at=now - timedelta(days=1) if status is N else None,
                    )
                    session.add(case)
                    await session.flush()
                    assert case.id is not None
                    expected = status in allowed_from.get(who, set())
                    try:
                        await call(Work(office, actor, session, now), case.id, agencies["pupr"])
                        happened = True
                    except Denied:
                        happened = False
                    events = (
                        await session.exec(
                            select(ComplaintEvent).where(ComplaintEvent.complaint_id == case.id)
                        )
                    ).all()
                    if happened != expected:
                        mismatches.append((name, status.value, who, f"allowed={happened}"))
                        continue
                    if not happened:
                        if events or case.status != status.value:
                            mismatches.append((name, status.value, who, "changed when refused"))
                        continue
                    allowed_count += 1
                    moved = {f for f in DEADLINES if getattr(case, f) not in (None, before)}
                    if moved != ({deadline} if deadline else set()):
                        mismatches.append((name, status.value, who, f"deadlines {moved}"))
                    target = LEADS_TO[name] or status
                    if case.status != target.value or len(events) != 1:
                        mismatches.append((name, status.value, who, f"to {case.status}"))
                # leaving the block rolls the cell back
    assert mismatches == []
    assert allowed_count == sum(len(s) for _, table, _ in TABLE.values() for s in table.values())
