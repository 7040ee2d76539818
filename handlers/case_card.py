"""The case card staff see: every detail escaped, privacy applied by role, actions that fit.

Privacy is decided here, from the report's flag and the viewer's role, never by the viewer:
an anonymous reporter's name, username, contact and Telegram id are shown to city admins only;
viewers (evaluators) never see any identity.
"""

from __future__ import annotations

from bot.casework import allowed
from bot.casework.history import describe
from bot.core.callbacks import CaseAction
from bot.core.events import Attachment as Media
from bot.core.events import AttachmentKind
from bot.core.lifecycle import Action, Actor, Channel, Privacy, Role, Status, running_deadline
from bot.core.replies import Button, Keyboard, Message, Reply
from handlers.context import Context
from storage.complaints import complaint_attachments, full_history, possible_duplicates
from storage.models import Agency, Category, Citizen, Complaint, ComplaintEvent, Staff

HISTORY_ITEMS = 15
HISTORY_TEXT_CHARS = 200

# The buttons of the card, in display order: (action, callback verb, catalog key).
ACTIONS: tuple[tuple[Action, str, str], ...] = (
    (Action.FORWARD, "fwd", "staff.button.forward"),
    (Action.ACKNOWLEDGE, "ack", "staff.button.acknowledge"),
    (Action.PROGRESS, "prog", "staff.button.progress"),
    (Action.RESOLVE, "res", "staff.button.resolve"),
    (Action.ASK, "ask", "staff.button.ask"),
    (Action.REJECT, "rej", "staff.button.reject"),
    (Action.HAND_BACK, "back", "staff.button.hand_back"),
    (Action.RECLASSIFY, "cat", "staff.button.category"),
    (Action.RECLASSIFY, "kind", "staff.button.kind"),
    (Action.PRIVACY, "priv", "staff.button.privacy"),
    (Action.NOTE, "note", "staff.button.note"),
)


def role_of(ctx: Context) -> Role | None:
    """The viewer's staff role (None: not staff)."""
    return Role(ctx.staff.role) if ctx.staff is not None else None


def shows_identity(ctx: Context, complaint: Complaint) -> bool:
    """Whether this viewer may see who reported."""
    role = role_of(ctx)
    if role is Role.SUPERADMIN:
        return True
    return role is Role.AGENCY_ADMIN and complaint.privacy != Privacy.ANONYMOUS


async def reporter_line(ctx: Context, complaint: Complaint) -> str:
    """Who reported, as far as this viewer may know."""
    if not shows_identity(ctx, complaint):
        return ctx.t("card.reporter_hidden")
    parts: list[str] = []
    citizen = await ctx.session.get(Citizen, complaint.citizen_id) if complaint.citizen_id else None
    if citizen is not None:
        name = " ".join(p for p in (citizen.first_name, citizen.last_name) if p)
        parts.append(name or "?")
        if citizen.username:
            parts.append(f"@{citizen.username}")
        if citizen.telegram_id is not None:
            parts.append(f"id {citizen.telegram_id}")
    if complaint.reporter_name:
        parts.append(complaint.reporter_name)
    if complaint.reporter_contact:
        parts.append(complaint.reporter_contact)
    line = ctx.t("card.reporter", who=", ".join(parts) or "—")
    if complaint.privacy == Privacy.ANONYMOUS:
        line = ctx.t("card.reporter_anonymous_note", line=line)
    if citizen is not None and not citizen.reachable:
        line = ctx.t("card.unreachable", line=line)
    return line


async def render_card(ctx: Context, complaint: Complaint) -> list[Reply]:
    """Attachments (re-sent by file id), then the card with its action buttons, then history."""
    assert complaint.id is not None
    session = ctx.session
    category = await session.get(Category, complaint.category_id)
    agency = await session.get(Agency, complaint.agency_id) if complaint.agency_id else None
    lines = [
        ctx.t(
            "card.header",
            code=complaint.tracking_code,
            status=ctx.t(f"staff.state.{complaint.status}"),
        ),
        ctx.t(
            "card.kind_line",
            kind=ctx.t(f"kind.{complaint.kind}"),
            category=category.name(ctx.locale) if category else "",
            privacy=ctx.t(f"privacy.{complaint.privacy}"),
            channel=ctx.t(f"channel.{complaint.channel}"),
        ),
        await reporter_line(ctx, complaint),
        ctx.t("card.submitted", when=ctx.local_time(complaint.submitted_at)),
    ]
    if agency is not None:
        lines.append(ctx.t("card.agency", agency=agency.name))
    if complaint.handed_back_at is not None and complaint.status == Status.SUBMITTED:
        lines.append(ctx.t("card.handed_back", when=ctx.local_time(complaint.handed_back_at)))
    if complaint.reopen_count:
        lines.append(ctx.t("card.reopened", count=complaint.reopen_count))
    lines.extend(_deadline_lines(ctx, complaint))
    if complaint.latitude is not None and complaint.longitude is not None:
        lines.append(
            ctx.t("card.point", lat=f"{complaint.latitude:.5f}", lon=f"{complaint.longitude:.5f}")
        )
    if complaint.address:
        lines.append(ctx.t("card.address", address=complaint.address))
    duplicates = await possible_duplicates(session=session, complaint=complaint)
    if duplicates:
        lines.append(
            ctx.t("card.duplicates", codes=", ".join(d.tracking_code for d in duplicates[:5]))
        )
    lines.append(ctx.t("card.description", text=complaint.description))

    media = await _card_media(ctx, complaint)
    replies: list[Reply] = []
    if media:
        replies.append(Message(ctx.t("card.attachments", count=len(media)), media=media))
    replies.append(Message("\n".join(lines), buttons=action_buttons(ctx, complaint)))
    replies.append(Message(await render_history(ctx, complaint)))
    return replies


async def _card_media(ctx: Context, complaint: Complaint) -> tuple[Media, ...]:
    """The report's attachments, re-sent by file id.

    A document keeps its original file name with its file id, and that name often names the
    reporter (``Surat_Pengantar_<name>_NIK….pdf``). So whoever may not see an anonymous
    reporter's identity gets each document under a neutral name in their language
    (``lampiran-1.pdf``): the sender downloads it and uploads it again, extension kept.
    """
    assert complaint.id is not None
    neutral = complaint.privacy == Privacy.ANONYMOUS and not shows_identity(ctx, complaint)
    rows = await complaint_attachments(session=ctx.session, complaint_id=complaint.id)
    documents = 0
    media: list[Media] = []
    for row in rows:
        kind = AttachmentKind(row.kind)
        name = None
        if neutral and kind is AttachmentKind.DOCUMENT:
            documents += 1
            name = str(ctx.t("card.document_name", n=documents))
        media.append(
            Media(kind, row.file_id, row.file_unique_id, row.caption, row.size, file_name=name)
        )
    return tuple(media)


def _deadline_lines(ctx: Context, complaint: Complaint) -> list[str]:
    deadline = running_deadline(complaint.status)
    due = getattr(complaint, deadline.field) if deadline else None
    lines: list[str] = []
    if deadline is not None and due is not None:
        late = ctx.t("card.overdue") if due < ctx.now else ""
        lines.append(ctx.t(f"card.due_{deadline.value}", when=ctx.local_time(due), late=late))
    if complaint.status == Status.NEEDS_INFO:
        lines.append(ctx.t("card.paused"))
    return lines


def action_buttons(ctx: Context, complaint: Complaint) -> Keyboard:
    """The actions this viewer may take now, two per row."""
    assert complaint.id is not None
    if ctx.staff is None:
        return ()
    actor = ctx.as_staff().actor
    buttons = [
        Button(ctx.t(key), CaseAction(verb, complaint.id).pack())
        for action, verb, key in ACTIONS
        if allowed(actor, complaint, action)
    ]
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


async def render_history(ctx: Context, complaint: Complaint) -> str:
    """The audit trail, newest last; internal entries marked; every label in the viewer's
    language."""
    assert complaint.id is not None
    events = await full_history(session=ctx.session, complaint_id=complaint.id)
    lines = [ctx.t("card.history", count=len(events))]
    for event in events[-HISTORY_ITEMS:]:
        entry = ctx.t(
            "card.history_item",
            when=ctx.local_time(event.created_at),
            who=await _actor_name(ctx, complaint, event),
            what=await describe(ctx.session, ctx.translator, ctx.locale, event),
        )
        if event.text:
            text = (
                event.text
                if len(event.text) <= HISTORY_TEXT_CHARS
                else (event.text[: HISTORY_TEXT_CHARS - 1] + "…")
            )
            entry = ctx.t("status.history_text", entry=entry, text=text)
        if not event.citizen_visible:
            entry = ctx.t("card.internal", entry=entry)
        lines.append(entry)
    return "\n".join(lines)


async def _actor_name(ctx: Context, complaint: Complaint, event: ComplaintEvent) -> str:
    if event.actor == Actor.STAFF and event.actor_id is not None:
        staff = await ctx.session.get(Staff, event.actor_id)
        return staff.name or ctx.t(f"role.{staff.role}") if staff else "?"
    if event.actor == Actor.CITIZEN:
        if complaint.channel != Channel.TELEGRAM and event.action == Action.SUBMIT:
            return ctx.t("card.actor_offline")  # registered before the records kept the admin
        return ctx.t("card.actor_citizen")
    return ctx.t("card.actor_system")
