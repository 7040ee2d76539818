"""What a citizen does to their own report: answer a question, judge a follow-up, rate it."""

from __future__ import annotations

from dataclasses import replace

from bot.casework.cases import CaseRef, move, take
from bot.casework.history import record
from bot.casework.notices import Localized
from bot.casework.work import CitizenActor, Denied, Work
from bot.core.events import Attachment, AttachmentKind
from bot.core.lifecycle import Action, Privacy, Status, Verdict, running_deadline
from storage.complaints import last_event
from storage.models import Complaint, Staff
from storage.staff import get_staff, staff_of_agency, superadmins


async def answer(
    work: Work, ref: CaseRef, text: str | None, media: tuple[Attachment, ...]
) -> Complaint:
    """The citizen answers a question: back to the previous status, its deadline moved on by
    the pause; the staff member who asked gets the answer with its media."""
    complaint, _ = await take(work, ref, Action.ANSWER)
    previous = Status(complaint.status_before_question or Status.SUBMITTED)
    before = move_back(work, complaint, previous)
    await record(work, complaint, Action.ANSWER, before, text=text, media=media)
    await work.notifier.tell_staff(
        await _asker_or_handlers(work, complaint),
        complaint,
        "staff.notify.answered" if text else "staff.notify.answered_media",
        text=text or "",
        count=len(media),
        media=_for_staff(work, complaint, media),
    )
    return complaint


def _for_staff(
    work: Work, complaint: Complaint, media: tuple[Attachment, ...]
) -> tuple[Attachment, ...]:
    """An anonymous reporter's documents go to staff under a neutral name (their file names
    often carry the reporter's name or NIK); the extension is kept by the sender."""
    if complaint.privacy != Privacy.ANONYMOUS:
        return media
    translator, locale = work.office.translator, work.office.translator.default
    return tuple(
        replace(item, file_name=translator(locale, "card.document_name", n=n))
        if item.kind is AttachmentKind.DOCUMENT
        else item
        for n, item in enumerate(media, start=1)
    )


def move_back(work: Work, complaint: Complaint, previous: Status) -> Status:
    """Leave needs_info for ``previous``; the deadline running there moves on by the pause."""
    paused = work.now - (complaint.paused_at or work.now)
    before = move(work, complaint, Action.ANSWER, before_question=previous)
    deadline = running_deadline(previous)
    current = getattr(complaint, deadline.field) if deadline else None
    if deadline is not None and current is not None:
        setattr(complaint, deadline.field, work.office.calendar.extend(current, paused))
    complaint.paused_at, complaint.status_before_question = None, None
    return before


async def _asker_or_handlers(work: Work, complaint: Complaint) -> list[Staff]:
    assert complaint.id is not None
    question = await last_event(
        session=work.session, complaint_id=complaint.id, action=Action.ASK.value
    )
    asker = (
        await get_staff(session=work.session, staff_id=question.actor_id)
        if question is not None and question.actor_id is not None
        else None
    )
    if asker is not None and asker.active:
        return [asker]
    if complaint.agency_id is not None:
        return await staff_of_agency(session=work.session, agency_id=complaint.agency_id)
    return await superadmins(session=work.session)


async def _judged(work: Work, ref: CaseRef, action: Action, round_: int) -> Complaint:
    """The resolution the citizen judges; ``Denied`` when it is not the current one any more
    (or when anyone but the report's citizen tries: the system closes through auto-close)."""
    if not isinstance(work.actor, CitizenActor):
        raise Denied(action)
    complaint, _ = await take(work, ref, action)
    if complaint.reopen_count != round_:
        raise Denied(action)
    return complaint


async def close(work: Work, ref: CaseRef, round_: int, verdict: Verdict) -> Complaint:
    """Fixed or partly fixed: the citizen closes the report; the agency hears the verdict."""
    if verdict is Verdict.NOT_FIXED:
        raise Denied(Action.CLOSE)
    complaint = await _judged(work, ref, Action.CLOSE, round_)
    before = move(work, complaint, Action.CLOSE)
    complaint.verdict, complaint.closed_at = verdict.value, work.now
    await record(work, complaint, Action.CLOSE, before, detail=verdict.value)
    if complaint.agency_id is not None:
        officers = await staff_of_agency(session=work.session, agency_id=complaint.agency_id)
        await work.notifier.tell_staff(
            officers, complaint, "staff.notify.closed", verdict=Localized(f"verdict.{verdict}")
        )
    return complaint


async def reopen(work: Work, ref: CaseRef, round_: int, reason: str) -> Complaint:
    """Not fixed: back to the same agency with a fresh deadline, and the agency is told why."""
    complaint = await _judged(work, ref, Action.REOPEN, round_)
    before = move(work, complaint, Action.REOPEN)
    complaint.verdict = Verdict.NOT_FIXED.value
    complaint.reopen_count += 1
    complaint.resolved_at = complaint.acknowledged_at = complaint.completion_due_at = None
    complaint.assigned_at = work.now
    await record(
        work, complaint, Action.REOPEN, before, text=reason, detail=Verdict.NOT_FIXED.value
    )
    if complaint.agency_id is not None:
        assert complaint.first_response_due_at is not None
        officers = await staff_of_agency(session=work.session, agency_id=complaint.agency_id)
        await work.notifier.tell_staff(
            officers,
            complaint,
            "staff.notify.reopened",
            reason=reason,
            deadline=work.office.local_time(complaint.first_response_due_at),
        )
    return complaint


async def rate(work: Work, ref: CaseRef, rating: int, comment: str | None) -> Complaint:
    """The citizen's 1–5 rating of the handling, with an optional comment."""
    if not 1 <= rating <= 5:
        raise Denied(Action.RATE)
    complaint, before = await take(work, ref, Action.RATE)
    complaint.rating = rating
    await record(work, complaint, Action.RATE, before, text=comment, detail=str(rating))
    return complaint
