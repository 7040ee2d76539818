"""Citizen commands outside the filing flow: start, help, language, my reports, status, cancel."""

from __future__ import annotations

from dataclasses import asdict

from bot.casework import intake as casework
from bot.casework.history import describe
from bot.core.callbacks import DiscardDraft, MediaOffer, MenuPress, PickLanguage
from bot.core.events import Event
from bot.core.lifecycle import Role, Status
from bot.core.replies import Button, ClearButtons, EditMessage, Message, Reply
from bot.core.tracking import normalise_code
from handlers import intake
from handlers.context import Context
from handlers.menus import cancel_confirmation, main_menu, stale_button, with_menu
from handlers.staff import join
from storage.complaints import (
    citizen_history,
    count_citizen_complaints,
    find_citizen_complaint,
    list_citizen_complaints,
)
from storage.conversations import FlowState
from storage.models import Complaint
from storage.reference import get_agency, get_category

MINE_PAGE_SIZE = 5
OFFER_FLOW = "offer"


async def _resume_hint(ctx: Context) -> list[Reply]:
    """After an aside (help, language), show where the draft stands."""
    return await intake.ask(ctx) if intake.in_intake(ctx) else []


async def on_start(event: Event, ctx: Context, args: str) -> list[Reply]:
    """Greet, or open a report from a ``status_<CODE>`` deep link."""
    if args.startswith("status_"):
        return await show_status(ctx, args.removeprefix("status_"))
    if args.startswith("join_"):
        return await join(event, ctx, args.removeprefix("join_"))
    if args.startswith("claim_"):
        return await claim(ctx, args.removeprefix("claim_"))
    name = event.user.first_name or ctx.t("common.citizen")
    greeting = ctx.t("start.greeting", name=name)
    if intake.in_intake(ctx):
        return [Message(greeting), *await intake.ask(ctx)]
    return with_menu(ctx, greeting)


async def claim(ctx: Context, token: str) -> list[Reply]:
    """``/start claim_<token>``: an offline report becomes this citizen's, with notifications."""
    complaint = await casework.claim(ctx.as_citizen(), token)
    if complaint is None:
        return with_menu(ctx, ctx.t("claim.invalid"))
    return [
        Message(ctx.t("claim.done", code=complaint.tracking_code)),
        Message(await render_status(ctx, complaint)),
    ]


async def on_intake(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/intake``: a city admin registers a walk-in, box, phone, letter … report."""
    if ctx.staff is None or ctx.staff.role != Role.SUPERADMIN:
        return [Message(ctx.t("staff.denied"))]
    if ctx.state is not None and ctx.state.flow == OFFER_FLOW:
        ctx.state = None
    return await intake.start(ctx, offline=True)


async def on_help(event: Event, ctx: Context, args: str) -> list[Reply]:
    """What the bot does and its commands; works at any step."""
    text = ctx.t(
        "help.text", min=ctx.settings.description_min_chars, limit=ctx.settings.max_attachments
    )
    if intake.in_intake(ctx):
        return [Message(text), *await _resume_hint(ctx)]
    return with_menu(ctx, text)


async def on_lang(event: Event, ctx: Context, args: str) -> list[Reply]:
    """Offer the languages."""
    choice = args.strip().lower()
    if choice in ctx.translator.locales:
        return await _set_locale(ctx, choice)
    buttons = tuple(
        (Button(ctx.translator(code, "language.name"), PickLanguage(code).pack()),)
        for code in ctx.translator.locales
    )
    return [Message(ctx.t("language.question"), buttons=buttons)]


async def on_lang_button(event: Event, ctx: Context, press: PickLanguage) -> list[Reply]:
    """A language was picked."""
    value = press.locale
    if value not in ctx.translator.locales:
        return stale_button(ctx)
    assert event.message_id is not None
    return [ClearButtons(event.message_id), *await _set_locale(ctx, value)]


async def _set_locale(ctx: Context, locale: str) -> list[Reply]:
    ctx.citizen.locale = locale
    ctx.session.add(ctx.citizen)
    ctx.locale = locale
    return [Message(ctx.t("language.set")), *await _resume_hint(ctx)]


async def on_new(event: Event, ctx: Context, args: str) -> list[Reply]:
    """Start filing a report."""
    if ctx.state is not None and ctx.state.flow == OFFER_FLOW:
        ctx.state = None
    return await intake.start(ctx)


async def on_cancel(event: Event, ctx: Context, args: str) -> list[Reply]:
    """Ask before discarding the draft; say so when there is none."""
    if intake.in_intake(ctx):
        return cancel_confirmation(ctx)
    ctx.state = None
    return with_menu(ctx, ctx.t("cancel.nothing"))


async def on_cancel_button(event: Event, ctx: Context, press: DiscardDraft) -> list[Reply]:
    """The answer to "discard this draft?"."""
    value = press.answer
    assert event.message_id is not None
    cleared: list[Reply] = [ClearButtons(event.message_id)]
    if not intake.in_intake(ctx):
        return [*stale_button(ctx)]
    if value == "yes":
        replies = with_menu(ctx, ctx.t("cancel.done"))
        ctx.state = None
        return [*cleared, *replies]
    return [*cleared, *await intake.ask(ctx)]


async def on_mine(event: Event, ctx: Context, args: str) -> list[Reply]:
    """The citizen's reports, newest first."""
    text, buttons = await _mine_page(ctx, 0)
    return [Message(text, buttons=buttons)]


async def on_menu_button(event: Event, ctx: Context, press: MenuPress) -> list[Reply]:
    """Main-menu and list buttons: new, mine:<page>, help, st:<code>."""
    action, arg = press.action, press.arg
    if action == "new":
        return await on_new(event, ctx, "")
    if action == "help":
        return await on_help(event, ctx, "")
    if action == "st":
        return await show_status(ctx, arg)
    if action == "mine" and arg.isdigit() and event.message_id is not None:
        text, buttons = await _mine_page(ctx, int(arg))
        return [EditMessage(event.message_id, text, buttons)]
    return stale_button(ctx)


async def _mine_page(ctx: Context, page: int) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    assert ctx.citizen.id is not None
    total = await count_citizen_complaints(session=ctx.session, citizen_id=ctx.citizen.id)
    if total == 0:
        return ctx.t("mine.empty"), (
            (Button(ctx.t("button.new_report"), MenuPress("new").pack()),),
        )
    pages = (total + MINE_PAGE_SIZE - 1) // MINE_PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    items = await list_citizen_complaints(
        session=ctx.session,
        citizen_id=ctx.citizen.id,
        offset=page * MINE_PAGE_SIZE,
        limit=MINE_PAGE_SIZE,
    )
    lines = []
    for complaint in items:
        category = await get_category(session=ctx.session, category_id=complaint.category_id)
        lines.append(
            ctx.t(
                "mine.item",
                code=complaint.tracking_code,
                category=category.name(ctx.locale) if category else "",
                status=ctx.t(f"state.{complaint.status}"),
                updated=ctx.local_time(complaint.updated_at),
            )
        )
    text = ctx.t("mine.header", page=page + 1, pages=pages, total=total) + "\n\n" + "\n".join(lines)
    rows: list[tuple[Button, ...]] = [
        (Button(c.tracking_code, MenuPress("st", c.tracking_code).pack()),) for c in items
    ]
    nav = []
    if page > 0:
        nav.append(Button(ctx.t("button.previous"), MenuPress("mine", str(page - 1)).pack()))
    if page < pages - 1:
        nav.append(Button(ctx.t("button.next"), MenuPress("mine", str(page + 1)).pack()))
    if nav:
        rows.append(tuple(nav))
    return text, tuple(rows)


async def on_status(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/status CODE``: one of the citizen's own reports."""
    if not args.strip():
        return [Message(ctx.t("status.usage")), *await _resume_hint(ctx)]
    return [*await show_status(ctx, args), *await _resume_hint(ctx)]


async def show_status(ctx: Context, raw_code: str) -> list[Reply]:
    """A report card; another citizen's code and an unknown one get the same answer."""
    code = normalise_code(raw_code)
    complaint = None
    if code is not None and ctx.citizen.id is not None:
        complaint = await find_citizen_complaint(
            session=ctx.session, citizen_id=ctx.citizen.id, tracking_code=code
        )
    if complaint is None:
        return [Message(ctx.t("status.not_found", code=raw_code.strip()[:40]))]
    return [Message(await render_status(ctx, complaint))]


async def render_status(ctx: Context, complaint: Complaint) -> str:
    """Status, agency, deadlines and the citizen-visible history of one report."""
    assert complaint.id is not None
    category = await get_category(session=ctx.session, category_id=complaint.category_id)
    lines = [
        ctx.t(
            "status.card",
            code=complaint.tracking_code,
            kind=ctx.t(f"kind.{complaint.kind}"),
            category=category.name(ctx.locale) if category else "",
            status=ctx.t(f"state.{complaint.status}"),
            submitted=ctx.local_time(complaint.submitted_at),
            description=_excerpt(complaint.description),
        )
    ]
    if complaint.agency_id is not None:
        agency = await get_agency(session=ctx.session, agency_id=complaint.agency_id)
        if agency is not None:
            lines.append(ctx.t("status.agency", agency=agency.name))
    if complaint.status == Status.SUBMITTED and complaint.verify_due_at is not None:
        lines.append(ctx.t("status.verify_due", deadline=ctx.local_time(complaint.verify_due_at)))
    lines.append(ctx.t("status.history"))
    for item in await citizen_history(session=ctx.session, complaint_id=complaint.id):
        entry = ctx.t(
            "status.history_item",
            when=ctx.local_time(item.created_at),
            what=await describe(ctx.session, ctx.translator, ctx.locale, item),
        )
        if item.text:
            entry = ctx.t("status.history_text", entry=entry, text=item.text)
        lines.append(entry)
    return "\n".join(lines)


def _excerpt(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def on_outside_flow(event: Event, ctx: Context) -> list[Reply]:
    """Anything sent with no flow running: never silence; media offers to start a report."""
    if event.attachments:
        ctx.state = FlowState(
            flow=OFFER_FLOW,
            step="offer",
            data={"attachments": [asdict(item) for item in event.attachments]},
        )
        buttons = (
            (Button(ctx.t("button.start_with_media"), MediaOffer("yes").pack()),),
            (Button(ctx.t("button.no_thanks"), MediaOffer("no").pack()),),
        )
        return [Message(ctx.t("offer.media", count=len(event.attachments)), buttons=buttons)]
    key = "fallback.unsupported" if event.unsupported else "fallback.text"
    return with_menu(ctx, ctx.t(key))


async def on_offer_button(event: Event, ctx: Context, press: MediaOffer) -> list[Reply]:
    """Yes / no to "start a report with this photo?"."""
    value = press.answer
    if ctx.state is None or ctx.state.flow != OFFER_FLOW:
        return stale_button(ctx)
    assert event.message_id is not None
    media = list(ctx.state.data.get("attachments", []))[: ctx.settings.max_attachments]
    ctx.state = None
    cleared: list[Reply] = [ClearButtons(event.message_id)]
    if value == "yes":
        return [*cleared, *await intake.start(ctx, media)]
    return [*cleared, *with_menu(ctx, ctx.t("offer.declined"))]


def unknown_command(ctx: Context) -> Message:
    """The answer to a command the bot does not have."""
    return Message(
        ctx.t("common.unknown_command"), buttons=() if intake.in_intake(ctx) else main_menu(ctx)
    )
