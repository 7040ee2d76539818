"""What staff (and the citizen, answering) can do to a report: each operation authorises from
the database, changes the report, appends its history event and queues the notifications —
all in the update's one transaction. The buttons and commands in handlers/staff.py call these.
"""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import Attachment
from bot.core.i18n import Translator
from bot.core.lifecycle import (
    Action,
    Actor,
    Privacy,
    RejectReason,
    ReportKind,
    Role,
    Status,
    is_stricter,
    may,
    next_status,
)
from bot.core.replies import Button, Keyboard
from handlers.context import Context
from handlers.notify import ButtonsFor
from storage.complaints import add_event, last_event
from storage.models import Agency, Category, Citizen, Complaint, Staff
from storage.staff import get_staff, staff_of_agency, superadmins


class Denied(Exception):
    """The acting user may not do this to this report now; nothing was changed."""


def role_of(ctx: Context) -> Role | None:
    """The acting staff member's role, or None for a citizen."""
    return Role(ctx.staff.role) if ctx.staff is not None else None


def can_view(ctx: Context, complaint: Complaint) -> bool:
    """Superadmins see all; an agency its own reports; viewers all but confidential ones."""
    role = role_of(ctx)
    if role is Role.SUPERADMIN:
        return True
    if role is Role.AGENCY_ADMIN:
        assert ctx.staff is not None
        return complaint.agency_id is not None and complaint.agency_id == ctx.staff.agency_id
    return role is Role.VIEWER and complaint.privacy != Privacy.CONFIDENTIAL


def allowed(ctx: Context, complaint: Complaint, action: Action) -> bool:
    """Whether the acting staff member may take ``action`` on this report now."""
    role = role_of(ctx)
    if role is None or not can_view(ctx, complaint):
        return False
    return may(action, role, Status(complaint.status))


def _check(ctx: Context, complaint: Complaint, action: Action) -> Status:
    if not allowed(ctx, complaint, action):
        raise Denied(action)
    return Status(complaint.status)


async def _record(
    ctx: Context,
    complaint: Complaint,
    action: Action,
    before: Status,
    *,
    text: str | None = None,
    visible: bool = True,
    media: tuple[Attachment, ...] = (),
    actor: Actor = Actor.STAFF,
) -> None:
    actor_id = ctx.staff.id if actor is Actor.STAFF and ctx.staff else ctx.citizen.id
    await add_event(
        session=ctx.session,
        complaint=complaint,
        actor=actor,
        actor_id=actor_id,
        action=action.value,
        from_status=before.value,
        text=text,
        citizen_visible=visible,
        now=ctx.now,
        media=media,
    )


async def forward(ctx: Context, complaint: Complaint, agency: Agency) -> None:
    """Verify and forward to one agency, which gets its first-response deadline."""
    before = _check(ctx, complaint, Action.FORWARD)
    if not agency.active:
        raise Denied(Action.FORWARD)
    complaint.status = next_status(Action.FORWARD, before, None)
    complaint.agency_id = agency.id
    complaint.assigned_at = ctx.now
    complaint.handed_back_at = None
    complaint.first_response_due_at = ctx.calendar.add_working_days(
        ctx.now, ctx.settings.first_response_working_days
    )
    await _record(ctx, complaint, Action.FORWARD, before, text=agency.name)
    deadline = ctx.local_time(complaint.first_response_due_at)
    await ctx.notifier.tell_citizen(
        complaint, "notify.forwarded", agency=agency.name, deadline=deadline
    )
    assert agency.id is not None
    officers = await staff_of_agency(session=ctx.session, agency_id=agency.id)
    await ctx.notifier.tell_staff(officers, complaint, "staff.notify.assigned", deadline=deadline)


async def reject(
    ctx: Context,
    complaint: Complaint,
    reason: RejectReason,
    details: str | None,
    duplicate_of: Complaint | None = None,
) -> None:
    """Reject with one of the fixed reasons; a duplicate is linked to its original."""
    before = _check(ctx, complaint, Action.REJECT)
    if reason is RejectReason.DUPLICATE and (
        duplicate_of is None or duplicate_of.id == complaint.id
    ):
        raise Denied(Action.REJECT)
    complaint.status = next_status(Action.REJECT, before, None)
    complaint.reject_reason = reason.value
    complaint.duplicate_of_id = duplicate_of.id if duplicate_of else None
    complaint.closed_at = ctx.now
    await _record(ctx, complaint, Action.REJECT, before, text=details)
    await ctx.notifier.tell_citizen(
        complaint,
        "notify.rejected",
        reason=await _citizen_reason(ctx, complaint, reason),
        details=details or "",
        original=duplicate_of.tracking_code if duplicate_of else "",
    )


async def _citizen_reason(ctx: Context, complaint: Complaint, reason: RejectReason) -> str:
    """The reason in the citizen's language (the message is rendered in it)."""
    citizen = await ctx.session.get(Citizen, complaint.citizen_id) if complaint.citizen_id else None
    locale = ctx.translator.pick(citizen.locale if citizen else None)
    return ctx.translator(locale, f"reject.{reason.value}")


def reply_button(complaint: Complaint) -> ButtonsFor:
    """The Reply button under an officer's question to the citizen."""

    def build(translator: Translator, locale: str) -> Keyboard:
        return ((Button(translator(locale, "button.reply"), f"c:ans:{complaint.id}"),),)

    return build


async def ask(ctx: Context, complaint: Complaint, question: str) -> None:
    """Ask the citizen for details; the deadline clock pauses until they answer."""
    before = _check(ctx, complaint, Action.ASK)
    complaint.status_before_question = before.value
    complaint.paused_at = ctx.now
    complaint.status = next_status(Action.ASK, before, None)
    await _record(ctx, complaint, Action.ASK, before, text=question)
    reached = await ctx.notifier.tell_citizen(
        complaint,
        "notify.question",
        question=question,
        buttons=reply_button(complaint),
    )
    if not reached:
        raise Denied(Action.ASK)  # an offline report nobody claimed: nobody can answer


async def answer(
    ctx: Context, complaint: Complaint, text: str | None, media: tuple[Attachment, ...]
) -> None:
    """The citizen answers a question: back to the previous status, deadlines moved on."""
    if complaint.citizen_id != ctx.citizen.id or not may(
        Action.ANSWER, Actor.CITIZEN, Status(complaint.status)
    ):
        raise Denied(Action.ANSWER)
    before = Status(complaint.status)
    previous = Status(complaint.status_before_question or Status.SUBMITTED)
    complaint.status = next_status(Action.ANSWER, before, previous)
    paused = ctx.now - (complaint.paused_at or ctx.now)
    _extend_deadline(ctx, complaint, previous, paused)
    complaint.paused_at, complaint.status_before_question = None, None
    await _record(
        ctx, complaint, Action.ANSWER, before, text=text, media=media, actor=Actor.CITIZEN
    )
    question = await last_event(
        session=ctx.session, complaint_id=complaint.id or 0, action=Action.ASK.value
    )
    asker = (
        await get_staff(session=ctx.session, staff_id=question.actor_id)
        if (question and question.actor_id)
        else None
    )
    recipients = (
        [asker] if asker is not None and asker.active else await _handlers_of(ctx, complaint)
    )
    summary = text or ctx.t("staff.media_only", count=len(media))
    await ctx.notifier.tell_staff(recipients, complaint, "staff.notify.answered", text=summary)


def _extend_deadline(ctx: Context, complaint: Complaint, status: Status, paused: timedelta) -> None:
    """needs_info paused the clock: the deadline of the status returned to moves by the pause."""
    field = {
        Status.SUBMITTED: "verify_due_at",
        Status.ASSIGNED: "first_response_due_at",
        Status.IN_PROGRESS: "completion_due_at",
    }.get(status)
    current = getattr(complaint, field) if field else None
    if field and current is not None:
        setattr(complaint, field, ctx.calendar.extend(current, paused))


async def _handlers_of(ctx: Context, complaint: Complaint) -> list[Staff]:
    if complaint.agency_id is not None:
        return await staff_of_agency(session=ctx.session, agency_id=complaint.agency_id)
    return await superadmins(session=ctx.session)


async def acknowledge(ctx: Context, complaint: Complaint, field_inspection: bool) -> None:
    """The agency takes the report on, with a 14- or 60-day completion target."""
    before = _check(ctx, complaint, Action.ACKNOWLEDGE)
    complaint.status = next_status(Action.ACKNOWLEDGE, before, None)
    complaint.acknowledged_at = ctx.now
    complaint.field_inspection = field_inspection
    settings = ctx.settings
    days = (
        settings.completion_days_with_inspection if field_inspection else settings.completion_days
    )
    complaint.completion_due_at = ctx.calendar.add_calendar_days(ctx.now, days)
    await _record(ctx, complaint, Action.ACKNOWLEDGE, before)
    agency = await ctx.session.get(Agency, complaint.agency_id) if complaint.agency_id else None
    await ctx.notifier.tell_citizen(
        complaint,
        "notify.acknowledged",
        agency=agency.name if agency else "",
        deadline=ctx.local_time(complaint.completion_due_at),
    )


async def progress(ctx: Context, complaint: Complaint, text: str) -> None:
    """A progress update the citizen sees."""
    before = _check(ctx, complaint, Action.PROGRESS)
    await _record(ctx, complaint, Action.PROGRESS, before, text=text)
    await ctx.notifier.tell_citizen(complaint, "notify.progress", text=text)


async def note(ctx: Context, complaint: Complaint, text: str) -> None:
    """An internal note: staff only, never shown to the citizen."""
    before = _check(ctx, complaint, Action.NOTE)
    await _record(ctx, complaint, Action.NOTE, before, text=text, visible=False)


async def resolve(
    ctx: Context, complaint: Complaint, text: str, media: tuple[Attachment, ...] = ()
) -> None:
    """The agency's follow-up (tindak lanjut); the citizen gets it with any photos."""
    before = _check(ctx, complaint, Action.RESOLVE)
    complaint.status = next_status(Action.RESOLVE, before, None)
    complaint.resolved_at = ctx.now
    if complaint.acknowledged_at is None:
        complaint.acknowledged_at = ctx.now
    await _record(ctx, complaint, Action.RESOLVE, before, text=text, media=media)
    await ctx.notifier.tell_citizen(
        complaint, "notify.resolved", text=text, media=media, buttons=verdict_buttons(complaint)
    )


async def hand_back(ctx: Context, complaint: Complaint, reason: str) -> None:
    """ "Not our authority": back to the city admins for re-routing (not a rejection)."""
    before = _check(ctx, complaint, Action.HAND_BACK)
    agency = await ctx.session.get(Agency, complaint.agency_id) if complaint.agency_id else None
    complaint.status = next_status(Action.HAND_BACK, before, None)
    complaint.agency_id = None
    complaint.handed_back_at = ctx.now
    complaint.assigned_at = complaint.first_response_due_at = None
    complaint.acknowledged_at = complaint.completion_due_at = None
    # The city gets a fresh verification deadline for the re-routing.
    complaint.verify_due_at = ctx.calendar.add_working_days(
        ctx.now, ctx.settings.verify_working_days
    )
    await _record(ctx, complaint, Action.HAND_BACK, before, text=reason, visible=False)
    await ctx.notifier.tell_staff(
        await superadmins(session=ctx.session),
        complaint,
        "staff.notify.handed_back",
        agency=agency.name if agency else "",
        reason=reason,
    )


async def reclassify(
    ctx: Context,
    complaint: Complaint,
    *,
    category: Category | None = None,
    kind: ReportKind | None = None,
) -> None:
    """Correct the category or the kind before forwarding."""
    before = _check(ctx, complaint, Action.RECLASSIFY)
    if category is not None:
        if not category.active:
            raise Denied(Action.RECLASSIFY)
        complaint.category_id = category.id or complaint.category_id
    if kind is not None:
        complaint.kind = kind.value
    change = category.name_id if category else (kind.value if kind else "")
    await _record(ctx, complaint, Action.RECLASSIFY, before, text=change, visible=False)


async def tighten_privacy(ctx: Context, complaint: Complaint, privacy: Privacy) -> None:
    """Make the report's privacy stricter (never looser than the citizen chose)."""
    before = _check(ctx, complaint, Action.PRIVACY)
    if not is_stricter(privacy, Privacy(complaint.privacy)):
        raise Denied(Action.PRIVACY)
    complaint.privacy = privacy.value
    await _record(ctx, complaint, Action.PRIVACY, before, text=privacy.value, visible=False)


def verdict_buttons(complaint: Complaint) -> ButtonsFor:
    """Fixed / partly / not fixed under the follow-up; stamped with the resolution's number."""
    round_ = complaint.reopen_count

    def build(translator: Translator, locale: str) -> Keyboard:
        return tuple(
            (
                Button(
                    translator(locale, f"verdict.{choice}"), f"v:{complaint.id}:{round_}:{choice}"
                ),
            )
            for choice in ("fixed", "partly", "not_fixed")
        )

    return build


def awaits_verdict(ctx: Context, complaint: Complaint, round_: int) -> bool:
    """Whether this citizen may still judge this resolution (once per resolution)."""
    return (
        complaint.citizen_id == ctx.citizen.id
        and complaint.status == Status.RESOLVED
        and complaint.reopen_count == round_
    )


async def close_with_verdict(ctx: Context, complaint: Complaint, verdict: str) -> None:
    """Fixed or partly fixed: the citizen closes the report."""
    before = Status(complaint.status)
    if complaint.citizen_id != ctx.citizen.id or not may(Action.CLOSE, Actor.CITIZEN, before):
        raise Denied(Action.CLOSE)
    complaint.status = next_status(Action.CLOSE, before, None)
    complaint.verdict, complaint.closed_at = verdict, ctx.now
    await _record(ctx, complaint, Action.CLOSE, before, text=verdict, actor=Actor.CITIZEN)
    agency = complaint.agency_id
    if agency is not None:
        officers = await staff_of_agency(session=ctx.session, agency_id=agency)
        await ctx.notifier.tell_staff(
            officers, complaint, "staff.notify.closed", verdict=ctx.t(f"verdict.{verdict}")
        )


async def reopen(ctx: Context, complaint: Complaint, reason: str) -> None:
    """Not fixed: back to the same agency with a fresh deadline, and the agency is told why."""
    before = Status(complaint.status)
    if complaint.citizen_id != ctx.citizen.id or not may(Action.REOPEN, Actor.CITIZEN, before):
        raise Denied(Action.REOPEN)
    complaint.status = next_status(Action.REOPEN, before, None)
    complaint.verdict = "not_fixed"
    complaint.reopen_count += 1
    complaint.resolved_at = complaint.acknowledged_at = complaint.completion_due_at = None
    complaint.assigned_at = ctx.now
    complaint.first_response_due_at = ctx.calendar.add_working_days(
        ctx.now, ctx.settings.first_response_working_days
    )
    await _record(ctx, complaint, Action.REOPEN, before, text=reason, actor=Actor.CITIZEN)
    if complaint.agency_id is not None:
        officers = await staff_of_agency(session=ctx.session, agency_id=complaint.agency_id)
        await ctx.notifier.tell_staff(
            officers,
            complaint,
            "staff.notify.reopened",
            reason=reason,
            deadline=ctx.local_time(complaint.first_response_due_at),
        )


async def rate(ctx: Context, complaint: Complaint, rating: int, comment: str | None) -> None:
    """The citizen's 1–5 rating of the handling, with an optional comment."""
    if complaint.citizen_id != ctx.citizen.id or not 1 <= rating <= 5:
        raise Denied(Action.CLOSE)
    complaint.rating = rating
    await add_event(
        session=ctx.session,
        complaint=complaint,
        actor=Actor.CITIZEN,
        actor_id=ctx.citizen.id,
        action="rate",
        from_status=complaint.status,
        text=f"{'★' * rating}" + (f" {comment}" if comment else ""),
        citizen_visible=True,
        now=ctx.now,
    )
