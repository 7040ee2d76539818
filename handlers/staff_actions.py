"""Case actions from buttons and one-line commands, with short text-input steps.

Button data is a ``CaseAction`` (bot/core/callbacks.py). Nothing in it is trusted: every press
reloads the report and the staff member from the database and bot/casework decides whether the
action is allowed now, under the report's row lock; a denied press changes nothing. Free text
(a question, a reason, the follow-up) is collected by the ``staff_input`` flow, or given
inline: ``/reply CODE text``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from bot.casework import Denied, Work, allowed, handling
from bot.casework.cases import CaseRef, find
from bot.core.callbacks import AbortInput, CaseAction, InboxView, OpenCase
from bot.core.events import Event
from bot.core.lifecycle import Action, Privacy, RejectReason, ReportKind, is_stricter
from bot.core.replies import Button, ClearButtons, Message, Reply
from handlers.context import Context
from handlers.flowstack import resume, suspend
from handlers.intake import media_from_data
from handlers.staff import denied, denied_notice, load_case
from storage.conversations import FlowState
from storage.models import Complaint
from storage.reference import active_agencies, active_categories, get_category

INPUT_FLOW = "staff_input"
MIN_TEXT = 5
MAX_TEXT = 3000  # quoted in the citizen's notice, which Telegram caps at 4,096 characters
# Steps that take free text, the action each needs, and the prompt shown.
INPUTS: dict[str, tuple[Action, str]] = {
    "ask": (Action.ASK, "staff.prompt.ask"),
    "progress": (Action.PROGRESS, "staff.prompt.progress"),
    "note": (Action.NOTE, "staff.prompt.note"),
    "hand_back": (Action.HAND_BACK, "staff.prompt.hand_back"),
    "resolve": (Action.RESOLVE, "staff.prompt.resolve"),
    "resolve_media": (Action.RESOLVE, "staff.prompt.resolve_media"),
    "reject": (Action.REJECT, "staff.prompt.reject_details"),
    "duplicate": (Action.REJECT, "staff.prompt.duplicate"),
}


def _abort_button(ctx: Context) -> tuple[Button, ...]:
    return (Button(ctx.t("button.cancel"), AbortInput().pack()),)


def _press(complaint: Complaint, verb: str, choice: object = "") -> str:
    assert complaint.id is not None
    return CaseAction(verb, complaint.id, str(choice)).pack()


def _done(ctx: Context, complaint: Complaint, key: str) -> Message:
    assert complaint.id is not None
    buttons = (
        (
            Button(
                ctx.t("staff.button.open_case", code=complaint.tracking_code),
                OpenCase(complaint.id).pack(),
            ),
            Button(ctx.t("staff.button.inbox"), InboxView("all").pack()),
        ),
    )
    return Message(ctx.t(key, code=complaint.tracking_code), buttons=buttons)


async def _prompt(ctx: Context, complaint: Complaint, step: str, **data: object) -> list[Reply]:
    suspend(ctx, FlowState(INPUT_FLOW, step, {"complaint_id": complaint.id, **data}))
    text = ctx.t(INPUTS[step][1], code=complaint.tracking_code)
    if step == "resolve_media":
        finish = Button(ctx.t("staff.button.finish_resolve"), _press(complaint, "resgo"))
        return [Message(text, buttons=((finish,), _abort_button(ctx)))]
    if step == "reject":
        skip = Button(ctx.t("button.skip"), _press(complaint, "rejgo"))
        return [Message(text, buttons=((skip,), _abort_button(ctx)))]
    return [Message(text, buttons=(_abort_button(ctx),))]


# --- buttons ------------------------------------------------------------------------------


async def on_button(event: Event, ctx: Context, press: CaseAction) -> list[Reply]:
    """Any case-action button; unknown verbs and forged ids are denied alike."""
    handler = VERBS.get(press.verb)
    complaint = await load_case(ctx, press.report_id) if handler else None
    if handler is None or complaint is None:
        return denied_notice(ctx)
    try:
        replies = await handler(event, ctx, complaint, press.choice)
    except Denied:
        return denied_notice(ctx)
    if event.message_id is not None and press.verb in CLEARS:
        return [ClearButtons(event.message_id), *replies]
    return replies


Handler = Callable[[Event, Context, Complaint, str], Awaitable[list[Reply]]]


def _needs(action: Action) -> Callable[[Handler], Handler]:
    """Refuse before showing a picker or prompt for an action that is not allowed."""

    def wrap(handler: Handler) -> Handler:
        async def checked(
            event: Event, ctx: Context, complaint: Complaint, choice: str
        ) -> list[Reply]:
            if ctx.staff is None or not allowed(ctx.as_staff().actor, complaint, action):
                raise Denied(action)
            return await handler(event, ctx, complaint, choice)

        return checked

    return wrap


@_needs(Action.FORWARD)
async def _forward_pick(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    category = await get_category(session=ctx.session, category_id=complaint.category_id)
    default = category.agency_id if category else None
    ordered = sorted(await active_agencies(session=ctx.session), key=lambda a: a.id != default)
    rows = tuple(
        (
            Button(
                ("⭐ " if a.id == default else "") + a.short_name,
                _press(complaint, "fwdto", a.id),
            ),
        )
        for a in ordered
    )
    return [
        Message(
            ctx.t("staff.pick_agency", code=complaint.tracking_code),
            buttons=(*rows, _abort_button(ctx)),
        )
    ]


async def _forward_to(event: Event, ctx: Context, complaint: Complaint, choice: str) -> list[Reply]:
    if not choice.isdigit():
        raise Denied(Action.FORWARD)
    await handling.forward(ctx.as_staff(), _ref(complaint), int(choice))
    return [_done(ctx, complaint, "staff.done.forward")]


def _ref(complaint: Complaint) -> int:
    assert complaint.id is not None
    return complaint.id


@_needs(Action.REJECT)
async def _reject_pick(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    rows = tuple(
        (Button(ctx.t(f"reject.{r.value}"), _press(complaint, "rejr", r.value)),)
        for r in RejectReason
    )
    return [
        Message(
            ctx.t("staff.pick_reason", code=complaint.tracking_code),
            buttons=(*rows, _abort_button(ctx)),
        )
    ]


@_needs(Action.REJECT)
async def _reject_reason(
    event: Event, ctx: Context, complaint: Complaint, choice: str
) -> list[Reply]:
    if choice not in set(RejectReason):
        raise Denied(Action.REJECT)
    step = "duplicate" if choice == RejectReason.DUPLICATE else "reject"
    return await _prompt(ctx, complaint, step, reason=choice)


async def _reject_go(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    """Skip the optional details: reject with the chosen reason."""
    data = ctx.state.data if ctx.state and ctx.state.flow == INPUT_FLOW else {}
    if data.get("complaint_id") != complaint.id or "reason" not in data:
        raise Denied(Action.REJECT)
    await handling.reject(ctx.as_staff(), _ref(complaint), RejectReason(data["reason"]), None)
    return [_done(ctx, complaint, "staff.done.reject"), *await resume(ctx)]


def _prompt_for(step: str, action: Action) -> Handler:
    @_needs(action)
    async def ask_text(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
        return await _prompt(ctx, complaint, step)

    return ask_text


@_needs(Action.ACKNOWLEDGE)
async def _ack_pick(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    rows = (
        (Button(ctx.t("staff.button.ack_plain"), _press(complaint, "ackf", 0)),),
        (Button(ctx.t("staff.button.ack_inspection"), _press(complaint, "ackf", 1)),),
        _abort_button(ctx),
    )
    return [Message(ctx.t("staff.pick_ack", code=complaint.tracking_code), buttons=rows)]


async def _ack(event: Event, ctx: Context, complaint: Complaint, choice: str) -> list[Reply]:
    await handling.acknowledge(ctx.as_staff(), _ref(complaint), field_inspection=choice == "1")
    return [_done(ctx, complaint, "staff.done.acknowledge")]


@_needs(Action.RECLASSIFY)
async def _category_pick(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    rows = tuple(
        (Button(c.name(ctx.locale), _press(complaint, "catto", c.id)),)
        for c in await active_categories(session=ctx.session)
        if c.id != complaint.category_id
    )
    return [Message(ctx.t("staff.pick_category"), buttons=(*rows, _abort_button(ctx)))]


async def _category_to(
    event: Event, ctx: Context, complaint: Complaint, choice: str
) -> list[Reply]:
    if not choice.isdigit():
        raise Denied(Action.RECLASSIFY)
    await handling.change_category(ctx.as_staff(), _ref(complaint), int(choice))
    return [_done(ctx, complaint, "staff.done.reclassify")]


@_needs(Action.RECLASSIFY)
async def _kind_pick(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    rows = tuple(
        (Button(ctx.t(f"kind.{k.value}"), _press(complaint, "kindto", k.value)),)
        for k in ReportKind
        if k.value != complaint.kind
    )
    return [Message(ctx.t("staff.pick_kind"), buttons=(*rows, _abort_button(ctx)))]


async def _kind_to(event: Event, ctx: Context, complaint: Complaint, choice: str) -> list[Reply]:
    if choice not in set(ReportKind):
        raise Denied(Action.RECLASSIFY)
    await handling.change_kind(ctx.as_staff(), _ref(complaint), ReportKind(choice))
    return [_done(ctx, complaint, "staff.done.reclassify")]


@_needs(Action.PRIVACY)
async def _privacy_pick(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    rows = tuple(
        (Button(ctx.t(f"privacy.{p.value}"), _press(complaint, "privto", p.value)),)
        for p in Privacy
        if is_stricter(p, Privacy(complaint.privacy))
    )
    return [Message(ctx.t("staff.pick_privacy"), buttons=(*rows, _abort_button(ctx)))]


async def _privacy_to(event: Event, ctx: Context, complaint: Complaint, choice: str) -> list[Reply]:
    if choice not in set(Privacy):
        raise Denied(Action.PRIVACY)
    await handling.tighten_privacy(ctx.as_staff(), _ref(complaint), Privacy(choice))
    return [_done(ctx, complaint, "staff.done.privacy")]


async def _resolve_go(event: Event, ctx: Context, complaint: Complaint, _: str) -> list[Reply]:
    data = ctx.state.data if ctx.state and ctx.state.flow == INPUT_FLOW else {}
    if data.get("complaint_id") != complaint.id or not data.get("text"):
        raise Denied(Action.RESOLVE)
    media = media_from_data(data.get("media", []))
    await handling.resolve(ctx.as_staff(), _ref(complaint), data["text"], media)
    return [_done(ctx, complaint, "staff.done.resolve"), *await resume(ctx)]


VERBS: dict[str, Handler] = {
    "fwd": _forward_pick,
    "fwdto": _forward_to,
    "rej": _reject_pick,
    "rejr": _reject_reason,
    "rejgo": _reject_go,
    "ask": _prompt_for("ask", Action.ASK),
    "prog": _prompt_for("progress", Action.PROGRESS),
    "note": _prompt_for("note", Action.NOTE),
    "res": _prompt_for("resolve", Action.RESOLVE),
    "resgo": _resolve_go,
    "back": _prompt_for("hand_back", Action.HAND_BACK),
    "ack": _ack_pick,
    "ackf": _ack,
    "cat": _category_pick,
    "catto": _category_to,
    "kind": _kind_pick,
    "kindto": _kind_to,
    "priv": _privacy_pick,
    "privto": _privacy_to,
}
# Presses that settle a choice: their message loses its buttons so it cannot be pressed twice.
CLEARS = frozenset({"fwdto", "rejr", "rejgo", "ackf", "catto", "kindto", "privto", "resgo"})


async def on_abort(event: Event, ctx: Context, press: AbortInput) -> list[Reply]:
    """Cancel a staff input step."""
    if ctx.state is None or ctx.state.flow != INPUT_FLOW:
        return [*([ClearButtons(event.message_id)] if event.message_id else [])]
    cleared: list[Reply] = [ClearButtons(event.message_id)] if event.message_id else []
    return [*cleared, Message(ctx.t("staff.aborted")), *await resume(ctx)]


# --- typed input --------------------------------------------------------------------------


async def on_input(event: Event, ctx: Context) -> list[Reply]:
    """The staff member's text (or photos, for a follow-up) for the pending action."""
    assert ctx.state is not None
    step, data = ctx.state.step, ctx.state.data
    complaint = await load_case(ctx, str(data.get("complaint_id", "")))
    if complaint is None:
        ctx.state = None
        return denied(ctx)
    text = (
        event.text or (event.attachments[0].caption if event.attachments else None) or ""
    ).strip()
    if step == "resolve_media":
        if not event.attachments:
            return await _prompt(
                ctx, complaint, "resolve_media", text=data["text"], media=data.get("media", [])
            )
        media = [*data.get("media", []), *(asdict(a) for a in event.attachments)][:10]
        return await _prompt(ctx, complaint, "resolve_media", text=data["text"], media=media)
    minimum = 1 if step == "note" else MIN_TEXT
    if len(text) > MAX_TEXT:
        return [
            Message(ctx.t("staff.text_too_long", count=len(text), max=MAX_TEXT)),
            *await _prompt(
                ctx,
                complaint,
                step,
                **{k: v for k, v in data.items() if k not in ("complaint_id", "resume")},
            ),
        ]
    if len(text) < minimum:
        return [
            Message(ctx.t("staff.text_needed", min=minimum)),
            *await _prompt(
                ctx,
                complaint,
                step,
                **{k: v for k, v in data.items() if k not in ("complaint_id", "resume")},
            ),
        ]
    try:
        if step == "resolve":
            media = [asdict(a) for a in event.attachments]
            return await _prompt(ctx, complaint, "resolve_media", text=text, media=media)
        return await _apply_text(ctx, complaint, step, text, data)
    except Denied:
        await resume(ctx)
        return denied(ctx)


async def _apply_text(
    ctx: Context, complaint: Complaint, step: str, text: str, data: dict[str, object]
) -> list[Reply]:
    work, ref = ctx.as_staff(), _ref(complaint)
    if step == "duplicate":
        original = await find(work, text)
        if original is None or original.id == complaint.id:
            return [
                Message(ctx.t("staff.duplicate_unknown", code=text[:40])),
                *await _prompt(ctx, complaint, "duplicate", reason=data["reason"]),
            ]
        await handling.reject(work, ref, RejectReason.DUPLICATE, None, duplicate_of=text)
        done = "staff.done.reject"
    elif step == "reject":
        await handling.reject(work, ref, RejectReason(str(data["reason"])), text)
        done = "staff.done.reject"
    else:
        operation, done = TEXT_ACTIONS[step]
        await operation(work, ref, text)
    return [_done(ctx, complaint, done), *await resume(ctx)]


TextAction = Callable[[Work, CaseRef, str], Awaitable[Complaint]]
# Free-text steps and one-line commands: the casework action and the "done" message.
TEXT_ACTIONS: dict[str, tuple[TextAction, str]] = {
    "ask": (handling.ask, "staff.done.ask"),
    "progress": (handling.progress, "staff.done.progress"),
    "note": (handling.note, "staff.done.note"),
    "hand_back": (handling.hand_back, "staff.done.hand_back"),
}


# --- one-line commands --------------------------------------------------------------------

ONE_LINE: dict[str, tuple[TextAction, str]] = {
    "reply": TEXT_ACTIONS["ask"],
    "note": TEXT_ACTIONS["note"],
    "progress": TEXT_ACTIONS["progress"],
    "resolve": (handling.resolve, "staff.done.resolve"),
}


async def on_one_line(event: Event, ctx: Context, args: str) -> list[Reply]:
    """`/reply`, `/note`, `/progress` or `/resolve` followed by CODE and the text.

    The report is named by its code and locked by casework exactly as a button press locks
    it by id, so two officers resolving at once get one resolution and one refusal.
    """
    command = event.command
    assert command is not None
    if ctx.staff is None:
        return denied(ctx)
    code, _, text = args.strip().partition(" ")
    if not code or len(text.strip()) < MIN_TEXT:
        return [Message(ctx.t("staff.one_line_usage", command=command[0]))]
    if len(text.strip()) > MAX_TEXT:
        return [Message(ctx.t("staff.text_too_long", count=len(text.strip()), max=MAX_TEXT))]
    operation, done = ONE_LINE[command[0]]
    work = ctx.as_staff()
    if await find(work, code) is None:
        return [Message(ctx.t("staff.case_not_found", code=code[:40]))]
    try:
        complaint = await operation(work, code, text.strip())
    except Denied:
        return denied(ctx)
    return [_done(ctx, complaint, done)]
