"""What city admins and agency liaison officers do to a report, one function per action.

Each locks the report (by id or code), checks the action against the lifecycle table for the
actor's role and agency, changes the report and its deadlines, appends the history event and
queues the notices — all in the caller's transaction; ``Denied`` means nothing changed.
"""

from __future__ import annotations

from bot.casework.cases import CaseRef, find, move, take
from bot.casework.history import record
from bot.casework.notices import ButtonsFor, Localized
from bot.casework.work import Denied, Work
from bot.core.callbacks import AnswerQuestion, VerdictPress
from bot.core.events import Attachment
from bot.core.i18n import Translator
from bot.core.lifecycle import Action, Privacy, RejectReason, ReportKind, Verdict, is_stricter
from bot.core.replies import Button, Keyboard
from storage.models import Agency, Category, Complaint
from storage.reference import get_agency, get_category
from storage.staff import staff_of_agency, superadmins


async def forward(work: Work, ref: CaseRef, agency_id: int) -> Complaint:
    """Verify and forward to one agency, which gets its first-response deadline."""
    complaint, _ = await take(work, ref, Action.FORWARD)
    agency = await get_agency(session=work.session, agency_id=agency_id)
    if agency is None or not agency.active:
        raise Denied(Action.FORWARD)
    before = move(work, complaint, Action.FORWARD)
    complaint.agency_id = agency.id
    complaint.assigned_at = work.now
    complaint.handed_back_at = None
    await record(work, complaint, Action.FORWARD, before, text=agency.name)
    assert complaint.first_response_due_at is not None
    deadline = work.office.local_time(complaint.first_response_due_at)
    notifier = work.notifier
    await notifier.tell_citizen(
        complaint, "notify.forwarded", agency=agency.name, deadline=deadline
    )
    officers = await staff_of_agency(session=work.session, agency_id=agency_id)
    await notifier.tell_staff(officers, complaint, "staff.notify.assigned", deadline=deadline)
    return complaint


async def reject(
    work: Work,
    ref: CaseRef,
    reason: RejectReason,
    details: str | None,
    *,
    duplicate_of: CaseRef | None = None,
) -> Complaint:
    """Reject with one of the fixed reasons; a duplicate is linked to its original."""
    complaint, _ = await take(work, ref, Action.REJECT)
    original = await find(work, duplicate_of) if duplicate_of is not None else None
    if reason is RejectReason.DUPLICATE and (original is None or original.id == complaint.id):
        raise Denied(Action.REJECT)
    before = move(work, complaint, Action.REJECT)
    complaint.reject_reason = reason.value
    complaint.duplicate_of_id = original.id if original else None
    complaint.closed_at = work.now
    await record(work, complaint, Action.REJECT, before, text=details, detail=reason.value)
    await work.notifier.tell_citizen(
        complaint,
        "notify.rejected",
        reason=Localized(f"reject.{reason.value}"),
        details=details or "",
        original=original.tracking_code if original else "",
    )
    return complaint


def reply_button(complaint: Complaint) -> ButtonsFor:
    """The Reply button under an officer's question to the citizen."""
    assert complaint.id is not None
    data = AnswerQuestion(complaint.id).pack()

    def build(translator: Translator, locale: str) -> Keyboard:
        return ((Button(translator(locale, "button.reply"), data),),)

    return build


async def ask(work: Work, ref: CaseRef, question: str) -> Complaint:
    """Ask the citizen for details; the deadline clock pauses until they answer."""
    complaint, status = await take(work, ref, Action.ASK)
    complaint.status_before_question = status.value
    complaint.paused_at = work.now
    before = move(work, complaint, Action.ASK)
    await record(work, complaint, Action.ASK, before, text=question)
    reached = await work.notifier.tell_citizen(
        complaint, "notify.question", question=question, buttons=reply_button(complaint)
    )
    if not reached:
        raise Denied(Action.ASK)  # an offline report nobody claimed: nobody can answer
    return complaint


async def acknowledge(work: Work, ref: CaseRef, *, field_inspection: bool) -> Complaint:
    """The agency takes the report on, with a 14- or 60-day completion target."""
    complaint, _ = await take(work, ref, Action.ACKNOWLEDGE)
    before = move(work, complaint, Action.ACKNOWLEDGE, field_inspection=field_inspection)
    complaint.acknowledged_at = work.now
    complaint.field_inspection = field_inspection
    await record(work, complaint, Action.ACKNOWLEDGE, before)
    agency = await _agency(work, complaint)
    assert complaint.completion_due_at is not None
    await work.notifier.tell_citizen(
        complaint,
        "notify.acknowledged",
        agency=agency.name if agency else "",
        deadline=work.office.local_time(complaint.completion_due_at),
    )
    return complaint


async def progress(work: Work, ref: CaseRef, text: str) -> Complaint:
    """A progress update the citizen sees."""
    complaint, before = await take(work, ref, Action.PROGRESS)
    await record(work, complaint, Action.PROGRESS, before, text=text)
    await work.notifier.tell_citizen(complaint, "notify.progress", text=text)
    return complaint


async def note(work: Work, ref: CaseRef, text: str) -> Complaint:
    """An internal note: staff only, never shown to the citizen."""
    complaint, before = await take(work, ref, Action.NOTE)
    await record(work, complaint, Action.NOTE, before, text=text, visible=False)
    return complaint


def verdict_buttons(complaint: Complaint) -> ButtonsFor:
    """Fixed / partly / not fixed under the follow-up; stamped with the resolution's number."""
    assert complaint.id is not None
    presses = [
        (verdict, VerdictPress(complaint.id, complaint.reopen_count, verdict.value).pack())
        for verdict in Verdict
    ]

    def build(translator: Translator, locale: str) -> Keyboard:
        return tuple(
            (Button(translator(locale, f"verdict.{verdict.value}"), data),)
            for verdict, data in presses
        )

    return build


async def resolve(
    work: Work, ref: CaseRef, text: str, media: tuple[Attachment, ...] = ()
) -> Complaint:
    """The agency's follow-up (tindak lanjut); the citizen gets it with any photos."""
    complaint, _ = await take(work, ref, Action.RESOLVE)
    before = move(work, complaint, Action.RESOLVE)
    complaint.resolved_at = work.now
    if complaint.acknowledged_at is None:
        complaint.acknowledged_at = work.now
    await record(work, complaint, Action.RESOLVE, before, text=text, media=media)
    await work.notifier.tell_citizen(
        complaint, "notify.resolved", text=text, media=media, buttons=verdict_buttons(complaint)
    )
    return complaint


async def hand_back(work: Work, ref: CaseRef, reason: str) -> Complaint:
    """ "Not our authority": back to the city admins for re-routing (not a rejection)."""
    complaint, _ = await take(work, ref, Action.HAND_BACK)
    agency = await _agency(work, complaint)
    # The city gets a fresh verification deadline for the re-routing.
    before = move(work, complaint, Action.HAND_BACK)
    complaint.agency_id = None
    complaint.handed_back_at = work.now
    complaint.assigned_at = complaint.first_response_due_at = None
    complaint.acknowledged_at = complaint.completion_due_at = None
    await record(work, complaint, Action.HAND_BACK, before, text=reason, visible=False)
    await work.notifier.tell_staff(
        await superadmins(session=work.session),
        complaint,
        "staff.notify.handed_back",
        agency=agency.name if agency else "",
        reason=reason,
    )
    return complaint


async def change_category(work: Work, ref: CaseRef, category_id: int) -> Complaint:
    """Correct the category before forwarding."""
    complaint, before = await take(work, ref, Action.RECLASSIFY)
    category: Category | None = await get_category(session=work.session, category_id=category_id)
    if category is None or not category.active or category.id is None:
        raise Denied(Action.RECLASSIFY)
    complaint.category_id = category.id
    await record(
        work,
        complaint,
        Action.RECLASSIFY,
        before,
        detail=f"category:{category.code}",
        visible=False,
    )
    return complaint


async def change_kind(work: Work, ref: CaseRef, kind: ReportKind) -> Complaint:
    """Correct the kind (complaint, aspiration, information request) before forwarding."""
    complaint, before = await take(work, ref, Action.RECLASSIFY)
    complaint.kind = kind.value
    await record(
        work, complaint, Action.RECLASSIFY, before, detail=f"kind:{kind.value}", visible=False
    )
    return complaint


async def tighten_privacy(work: Work, ref: CaseRef, privacy: Privacy) -> Complaint:
    """Make the report's privacy stricter (never looser than the citizen chose)."""
    complaint, before = await take(work, ref, Action.PRIVACY)
    if not is_stricter(privacy, Privacy(complaint.privacy)):
        raise Denied(Action.PRIVACY)
    complaint.privacy = privacy.value
    await record(work, complaint, Action.PRIVACY, before, detail=privacy.value, visible=False)
    return complaint


async def _agency(work: Work, complaint: Complaint) -> Agency | None:
    if complaint.agency_id is None:
        return None
    return await get_agency(session=work.session, agency_id=complaint.agency_id)
