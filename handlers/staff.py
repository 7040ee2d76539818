"""Staff commands: /inbox, /case, /staff (invite, role, off), joining by invitation, and the
one-line actions /reply /note /progress /resolve. The case buttons live in staff_actions.py.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlmodel import select

from bot.casework.cases import CaseRef, find
from bot.core.callbacks import DeactivateStaff, InboxView, OpenCase
from bot.core.events import Event, Sender
from bot.core.lifecycle import Role, Status, running_deadline
from bot.core.replies import Button, EditMessage, Message, Notice, Reply
from handlers.case_card import render_card
from handlers.context import Context
from storage.complaints import get_complaint, inbox
from storage.models import Agency, Complaint
from storage.outbox import count_by_status, dead_notifications
from storage.reference import get_category
from storage.staff import create_invite, get_staff, list_staff, redeem_invite

INVITE_TTL = timedelta(hours=72)
INBOX_PAGE_SIZE = 5

# What waits for whom: the statuses each role's inbox shows.
INBOX_STATUSES: dict[Role, tuple[Status, ...]] = {
    Role.SUPERADMIN: (Status.SUBMITTED,),
    Role.AGENCY_ADMIN: (Status.ASSIGNED, Status.IN_PROGRESS, Status.NEEDS_INFO),
    Role.VIEWER: (Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS, Status.NEEDS_INFO),
}


def denied(ctx: Context) -> list[Reply]:
    """The answer to anything a user may not do (the same whatever the reason)."""
    return [Message(ctx.t("staff.denied"))]


def denied_notice(ctx: Context) -> list[Reply]:
    """The same, as a button pop-up."""
    return [Notice(ctx.t("staff.denied"), alert=True)]


async def load_case(ctx: Context, ref: CaseRef) -> Complaint | None:
    """A report by id (buttons) or tracking code (commands) that this staff member may see.

    For showing it; a change goes through bot/casework, which locks the row itself.
    """
    if ctx.staff is None:
        return None
    return await find(ctx.as_staff(), ref)


# --- cases --------------------------------------------------------------------------------


async def on_case(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/case CODE``: the case card."""
    if ctx.staff is None:
        return denied(ctx)
    if not args.strip():
        return [Message(ctx.t("staff.case_usage"))]
    complaint = await load_case(ctx, args.strip())
    if complaint is None:
        return [Message(ctx.t("staff.case_not_found", code=args.strip()[:40]))]
    return await render_card(ctx, complaint)


async def on_inbox(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/inbox [overdue|<status>]``: what waits for me, oldest deadline first."""
    if ctx.staff is None:
        return denied(ctx)
    text, buttons, _ = await inbox_page(ctx, args.strip().lower() or "all", 0)
    return [Message(text, buttons=buttons)]


def staff_status(ctx: Context, status: str) -> str:
    """A status as staff read it (the citizen's wording says "from you")."""
    return ctx.t(f"staff.state.{status}")


async def inbox_page(
    ctx: Context, view: str, page: int
) -> tuple[str, tuple[tuple[Button, ...], ...], str]:
    """One page of the inbox with its filter and page buttons, and the page's fingerprint.

    Every inbox button carries a short fingerprint of the page it sits on, so pressing the
    view already shown, when nothing changed, is answered without editing the message
    (Telegram refuses an edit into the same content with "message is not modified").
    """
    assert ctx.staff is not None
    role = Role(ctx.staff.role)
    statuses: tuple[str, ...] = INBOX_STATUSES[role]
    if view in statuses:
        statuses = (view,)
    elif view not in ("all", "overdue"):
        view = "all"
    agency_id = ctx.staff.agency_id if role is Role.AGENCY_ADMIN else None
    total, items = await inbox(
        session=ctx.session,
        statuses=statuses,
        agency_id=agency_id,
        overdue_at=ctx.now if view == "overdue" else None,
        offset=page * INBOX_PAGE_SIZE,
        limit=INBOX_PAGE_SIZE,
    )
    pages = max(1, (total + INBOX_PAGE_SIZE - 1) // INBOX_PAGE_SIZE)
    title = ctx.t(f"staff.view.{view}") if view in ("all", "overdue") else staff_status(ctx, view)
    lines = [ctx.t("staff.inbox_header", view=title, total=total, page=page + 1, pages=pages)]
    cases: list[tuple[Button, ...]] = []
    for complaint in items:
        assert complaint.id is not None
        category = await get_category(session=ctx.session, category_id=complaint.category_id)
        deadline = running_deadline(complaint.status)
        due = getattr(complaint, deadline.field) if deadline else None
        marks = "".join(
            (
                "⚠️" if due is not None and due < ctx.now else "",
                "↩️" if complaint.handed_back_at and complaint.status == Status.SUBMITTED else "",
                "🔁" if complaint.reopen_count else "",
            )
        )
        lines.append(
            ctx.t(
                "staff.inbox_item",
                code=complaint.tracking_code,
                marks=marks,
                category=category.name(ctx.locale) if category else "",
                status=staff_status(ctx, complaint.status),
                due=ctx.local_time(due) if due else "—",
            )
        )
        cases.append((Button(complaint.tracking_code, OpenCase(complaint.id).pack()),))
    if not items:
        lines.append(ctx.t("staff.inbox_empty"))
    if role is Role.SUPERADMIN:
        dead = (await count_by_status(session=ctx.session)).get("dead", 0)
        if dead:
            lines.append(ctx.t("staff.inbox_dead", count=dead))
    targets = [[("staff.view.all", "all", 0), ("staff.view.overdue", "overdue", 0)]]
    nav = []
    if page > 0:
        nav.append(("button.previous_page", view, page - 1))
    if page < pages - 1:
        nav.append(("button.next_page", view, page + 1))
    if nav:
        targets.append(nav)
    text = "\n".join(lines)
    shown = _fingerprint(text, cases, targets)
    rows = [
        *cases,
        *(
            tuple(Button(ctx.t(key), InboxView(v, p, shown).pack()) for key, v, p in row)
            for row in targets
        ),
    ]
    return text, tuple(rows), shown


def _fingerprint(text: str, cases: list[tuple[Button, ...]], targets: object) -> str:
    digest = hashlib.blake2s(repr((text, cases, targets)).encode(), digest_size=5)
    return digest.hexdigest()


async def on_outbox(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/outbox``: delivery health, and the notifications given up on (superadmins)."""
    if ctx.staff is None or ctx.staff.role != Role.SUPERADMIN:
        return denied(ctx)
    counts = await count_by_status(session=ctx.session)
    lines = [
        ctx.t(
            "staff.outbox_header",
            pending=counts.get("pending", 0) + counts.get("sending", 0),
            sent=counts.get("sent", 0),
            dead=counts.get("dead", 0),
            unreachable=counts.get("unreachable", 0),
        )
    ]
    for row in await dead_notifications(session=ctx.session, limit=10):
        complaint = (
            await get_complaint(session=ctx.session, complaint_id=row.complaint_id)
            if row.complaint_id
            else None
        )
        lines.append(
            ctx.t(
                "staff.outbox_dead",
                chat=row.chat_id,
                when=ctx.local_time(row.created_at),
                code=complaint.tracking_code if complaint else "—",
                error=(row.last_error or "")[:120],
                attempts=row.attempts,
            )
        )
    return [Message("\n".join(lines))]


async def on_inbox_button(event: Event, ctx: Context, press: InboxView) -> list[Reply]:
    """A filter or page button of the inbox; the message is edited only when it changes."""
    if ctx.staff is None or event.message_id is None:
        return denied_notice(ctx)
    text, buttons, shown = await inbox_page(ctx, press.view, press.page)
    if press.shown == shown:
        return [Notice(ctx.t("staff.inbox_unchanged"))]
    return [EditMessage(event.message_id, text, buttons)]


async def on_case_button(event: Event, ctx: Context, press: OpenCase) -> list[Reply]:
    """Open a case card from a list or a notification."""
    complaint = await load_case(ctx, press.report_id)
    if complaint is None:
        return denied_notice(ctx)
    return await render_card(ctx, complaint)


# --- staff administration -----------------------------------------------------------------


async def on_staff(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/staff``, ``/staff invite <role> [agency]``, ``/staff role <id> <role> [agency]``,
    ``/staff off <id>`` — superadmins only."""
    if ctx.staff is None or ctx.staff.role != Role.SUPERADMIN:
        return denied(ctx)
    words = args.split()
    if not words:
        return await _staff_list(ctx)
    command, rest = words[0].lower(), words[1:]
    if command == "invite" and rest:
        return await _invite(ctx, rest)
    if command == "role" and len(rest) >= 2 and rest[0].lstrip("#").isdigit():
        return await _change_role(ctx, int(rest[0].lstrip("#")), rest[1:])
    if command == "off" and rest and rest[0].lstrip("#").isdigit():
        return await _deactivate(ctx, int(rest[0].lstrip("#")))
    return [Message(ctx.t("staff.admin_usage"))]


async def _role_and_agency(ctx: Context, words: list[str]) -> tuple[Role, Agency | None] | str:
    try:
        role = Role(words[0].lower())
    except ValueError:
        return ctx.t("staff.bad_role", role=words[0])
    agency = None
    if role is Role.AGENCY_ADMIN:
        if len(words) < 2:
            return ctx.t("staff.agency_needed")
        agency = (
            await ctx.session.exec(select(Agency).where(Agency.code == words[1].lower()))
        ).first()
        if agency is None or not agency.active:
            codes = (await ctx.session.exec(select(Agency.code).where(Agency.active))).all()
            return ctx.t("staff.bad_agency", agency=words[1], codes=", ".join(sorted(codes)))
    return role, agency


async def _invite(ctx: Context, words: list[str]) -> list[Reply]:
    assert ctx.staff is not None and ctx.staff.id is not None
    parsed = await _role_and_agency(ctx, words)
    if isinstance(parsed, str):
        return [Message(parsed)]
    role, agency = parsed
    invite = await create_invite(
        session=ctx.session,
        role=role,
        agency_id=agency.id if agency else None,
        created_by_id=ctx.staff.id,
        now=ctx.now,
        ttl=INVITE_TTL,
    )
    link = f"https://t.me/{ctx.bot_username}?start=join_{invite.token}"
    return [
        Message(
            ctx.t(
                "staff.invite_link",
                role=ctx.t(f"role.{role.value}"),
                agency=agency.name if agency else "—",
                link=link,
                expires=ctx.local_time(invite.expires_at),
            )
        )
    ]


async def _change_role(ctx: Context, staff_id: int, words: list[str]) -> list[Reply]:
    member = await get_staff(session=ctx.session, staff_id=staff_id)
    if member is None:
        return [Message(ctx.t("staff.member_not_found", id=staff_id))]
    parsed = await _role_and_agency(ctx, words)
    if isinstance(parsed, str):
        return [Message(parsed)]
    role, agency = parsed
    member.role, member.agency_id = role.value, agency.id if agency else None
    ctx.session.add(member)
    return [Message(ctx.t("staff.role_changed", id=staff_id, role=ctx.t(f"role.{role.value}")))]


async def _deactivate(ctx: Context, staff_id: int) -> list[Reply]:
    assert ctx.staff is not None
    member = await get_staff(session=ctx.session, staff_id=staff_id)
    if member is None:
        return [Message(ctx.t("staff.member_not_found", id=staff_id))]
    if member.id == ctx.staff.id:
        return [Message(ctx.t("staff.not_yourself"))]
    member.active = False
    ctx.session.add(member)
    note = ctx.t("staff.admin_ids_note") if member.telegram_id in ctx.settings.admin_ids else ""
    return [Message(ctx.t("staff.deactivated", id=staff_id, note=note))]


async def on_off_button(event: Event, ctx: Context, press: DeactivateStaff) -> list[Reply]:
    """The Deactivate button of the staff list."""
    if ctx.staff is None or ctx.staff.role != Role.SUPERADMIN:
        return denied_notice(ctx)
    return await _deactivate(ctx, press.staff_id)


async def _staff_list(ctx: Context) -> list[Reply]:
    assert ctx.staff is not None
    lines = [ctx.t("staff.list_header")]
    rows: list[tuple[Button, ...]] = []
    for member in await list_staff(session=ctx.session):
        agency = await ctx.session.get(Agency, member.agency_id) if member.agency_id else None
        lines.append(
            ctx.t(
                "staff.list_item",
                id=member.id,
                name=member.name or "—",
                username=f"@{member.username}" if member.username else "",
                role=ctx.t(f"role.{member.role}"),
                agency=agency.short_name if agency else "",
                inactive="" if member.active else ctx.t("staff.inactive"),
            )
        )
        if member.active and member.id is not None and member.id != ctx.staff.id:
            rows.append(
                (
                    Button(
                        ctx.t("staff.button.deactivate", id=member.id),
                        DeactivateStaff(member.id).pack(),
                    ),
                )
            )
    lines.append(ctx.t("staff.admin_usage"))
    return [Message("\n".join(lines), buttons=tuple(rows))]


async def join(event: Event, ctx: Context, token: str) -> list[Reply]:
    """``/start join_<token>``: become staff with the invitation's role."""
    staff = await redeem_invite(session=ctx.session, token=token, sender=event.user, now=ctx.now)
    if staff is None:
        return [Message(ctx.t("staff.invite_invalid"))]
    ctx.staff = staff
    agency = await ctx.session.get(Agency, staff.agency_id) if staff.agency_id else None
    return [
        Message(
            ctx.t(
                "staff.joined",
                role=ctx.t(f"role.{staff.role}"),
                agency=agency.name if agency else "—",
            )
        )
    ]


def sync_staff_name(ctx: Context, sender: Sender) -> None:
    """Keep the staff member's display name as Telegram has it."""
    if ctx.staff is None:
        return
    name = " ".join(p for p in (sender.first_name, sender.last_name) if p)[:200]
    if (ctx.staff.name, ctx.staff.username) != (name, sender.username):
        ctx.staff.name, ctx.staff.username = name, sender.username
        ctx.session.add(ctx.staff)
