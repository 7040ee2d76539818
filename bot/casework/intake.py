"""How a report enters the system: filed by a citizen, registered offline, claimed later."""

from __future__ import annotations

import secrets
from dataclasses import replace

from bot.casework.history import channel_of, record
from bot.casework.work import CitizenActor, Denied, StaffActor, SystemActor, Work
from bot.core.lifecycle import Action, Actor, Channel, Deadline, Role, Status, may
from storage.complaints import NewComplaint, add_complaint, claimable_report
from storage.models import Complaint


async def _store(work: Work, data: NewComplaint, citizen_id: int | None) -> Complaint:
    complaint = await add_complaint(
        session=work.session,
        data=data,
        citizen_id=citizen_id,
        prefix=work.office.settings.tracking_prefix,
        year=work.office.calendar.local(work.now).year,
        now=work.now,
        verify_due_at=work.office.deadline(Deadline.VERIFY, work.now),
    )
    await record(
        work,
        complaint,
        Action.SUBMIT,
        None,
        detail=channel_of(complaint),
        media=data.attachments,
    )
    return complaint


async def submit(work: Work, data: NewComplaint) -> Complaint:
    """A citizen files a report over Telegram; the city's verification deadline starts."""
    if not isinstance(work.actor, CitizenActor) or data.channel != Channel.TELEGRAM:
        raise Denied(Action.SUBMIT)
    return await _store(work, data, work.actor.citizen.id)


async def register_offline(work: Work, data: NewComplaint) -> Complaint:
    """A city admin registers a walk-in, box, phone … report; it gets a one-time claim link."""
    actor = work.actor
    if (
        not isinstance(actor, StaffActor)
        or actor.staff.role != Role.SUPERADMIN
        or data.channel == Channel.TELEGRAM
    ):
        raise Denied(Action.SUBMIT)
    offline = replace(data, claim_token=data.claim_token or secrets.token_urlsafe(18))
    return await _store(work, offline, None)


async def receive_open311(work: Work, data: NewComplaint) -> Complaint:
    """Another civic system sends a report through the Open311 API (as the system actor).

    It enters the city's queue like an offline report, with a claim link for the reporter.
    """
    if not isinstance(work.actor, SystemActor) or data.channel != Channel.OPEN311:
        raise Denied(Action.SUBMIT)
    received = replace(data, claim_token=data.claim_token or secrets.token_urlsafe(18))
    return await _store(work, received, None)


async def claim(work: Work, token: str) -> Complaint | None:
    """The citizen who opened an offline report's claim link gets it (once); None otherwise."""
    actor = work.actor
    if not isinstance(actor, CitizenActor) or actor.citizen.id is None:
        raise Denied(Action.CLAIM)
    complaint = await claimable_report(session=work.session, token=token)
    if complaint is None:
        return None
    if not may(
        Action.CLAIM, Actor.CITIZEN, Status(complaint.status)
    ):  # pragma: no cover - any status
        raise Denied(Action.CLAIM)
    complaint.citizen_id, complaint.claim_token = actor.citizen.id, None
    await record(work, complaint, Action.CLAIM, None)
    return complaint
