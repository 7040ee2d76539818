"""Guided filing of a new report: the steps, in order, in one place.

kind → category → description → location → attachments → privacy → summary (Submit / Edit /
Cancel). Every question has Back and Cancel; Edit jumps to a step and returns to the summary.
Button data is an ``IntakeChoice`` (step and value): a press whose step is not the current one
is stale and only re-asks the current question. Media or a location sent at another step is
kept for the report, so nothing a citizen entered is lost.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from bot.casework import intake as casework
from bot.casework.cases import find
from bot.core.callbacks import IntakeChoice, MenuPress
from bot.core.events import UNSUPPORTED_CONTENT, Attachment, AttachmentKind, Event
from bot.core.lifecycle import Channel, Privacy, ReportKind, Role
from bot.core.replies import Button, ClearButtons, Message, Reply
from handlers.context import Context
from handlers.intake_questions import (
    FLOW,
    OFFLINE_CHANNELS,
    OFFLINE_STEPS,
    REPORTER_MAX_CHARS,
    STEPS,
    ask,
    cb,
    draft,
    in_intake,
    render_summary,
    steps,
)
from handlers.menus import cancel_confirmation, main_menu, stale_button
from storage.complaints import NewComplaint, submitted_since
from storage.conversations import FlowState
from storage.models import Complaint
from storage.reference import get_category

__all__ = ["FLOW", "OFFLINE_STEPS", "STEPS", "ask", "in_intake", "render_summary", "steps"]

RECEIPT_FLOW = "receipt"
ADDRESS_MIN_CHARS = 5
ADDRESS_MAX_CHARS = 500


# --- starting and asking -------------------------------------------------------------------


async def start(
    ctx: Context, attachments: list[dict[str, Any]] | None = None, *, offline: bool = False
) -> list[Reply]:
    """Begin a new draft (`offline`: registered by a city admin), or resume the current one."""
    if in_intake(ctx):
        return [Message(ctx.t("intake.resumed")), *await ask(ctx)]
    data: dict[str, Any] = {"attachments": attachments or []}
    if offline:
        data["offline"] = True
    ctx.state = FlowState(flow=FLOW, step=(OFFLINE_STEPS if offline else STEPS)[0], data=data)
    started = "intake.offline_started" if offline else "intake.started"
    return [Message(ctx.t(started)), *await ask(ctx)]


# --- moving between steps ------------------------------------------------------------------


async def _advance(ctx: Context) -> list[Reply]:
    assert ctx.state is not None
    data = ctx.state.data
    if data.pop("editing", False):
        ctx.state.step = "summary"
    else:
        order = steps(ctx)
        ctx.state.step = order[order.index(ctx.state.step) + 1]
    return await ask(ctx)


async def _back(ctx: Context) -> list[Reply]:
    assert ctx.state is not None
    if ctx.state.data.pop("editing", False):
        ctx.state.step = "summary"
    else:
        order = steps(ctx)
        ctx.state.step = order[max(0, order.index(ctx.state.step) - 1)]
    return await ask(ctx)


async def on_callback(event: Event, ctx: Context, press: IntakeChoice) -> list[Reply]:
    """A button of the filing flow was pressed."""
    step, value = press.step, press.value
    if (step, value) == ("summary", "submit") and (again := await _receipt_again(ctx)):
        return [*again, *([ClearButtons(event.message_id)] if event.message_id else [])]
    if not in_intake(ctx):
        return stale_button(ctx)
    assert ctx.state is not None and event.message_id is not None
    if step != ctx.state.step:
        return [*stale_button(ctx), *await ask(ctx)]
    cleared: list[Reply] = [ClearButtons(event.message_id)]
    if value == "cancel":
        return [*cleared, *cancel_confirmation(ctx)]
    if value == "back":
        return [*cleared, *await _back(ctx)]
    data = ctx.state.data
    if step == "channel" and value in set(OFFLINE_CHANNELS):
        data["channel"] = value
        return [*cleared, *await _advance(ctx)]
    if step == "reporter" and value == "skip":
        data.pop("reporter", None)
        return [*cleared, *await _advance(ctx)]
    if step == "kind" and value in set(ReportKind):
        data["kind"] = value
        return [*cleared, *await _advance(ctx)]
    if step == "category" and value.isdigit():
        category = await get_category(session=ctx.session, category_id=int(value))
        if category is not None and category.active:
            data["category"] = category.id
            return [*cleared, *await _advance(ctx)]
    if step == "attachments" and value == "done":
        return [*cleared, *await _advance(ctx)]
    if step == "privacy" and value in set(Privacy):
        data["privacy"] = value
        return [*cleared, *await _advance(ctx)]
    if step == "summary" and value == "submit":
        # The receipt goes first: if the process dies between the two, the Submit button
        # is still there to press again (and shows the same receipt).
        return [*await _on_summary(ctx, value), *cleared]
    if step == "summary":
        return [*cleared, *await _on_summary(ctx, value)]
    return [*stale_button(ctx), *await ask(ctx)]


async def _on_summary(ctx: Context, value: str) -> list[Reply]:
    assert ctx.state is not None
    if value == "submit":
        return await submit(ctx)
    if value == "edit":
        rows = tuple(
            (Button(ctx.t(f"step.{step}"), cb("summary", f"goto_{step}")),)
            for step in steps(ctx)[:-1]
        )
        back = (Button(ctx.t("button.back_to_summary"), cb("summary", "show")),)
        return [Message(ctx.t("intake.edit.question"), buttons=(*rows, back))]
    target = value.removeprefix("goto_")
    if value.startswith("goto_") and target in steps(ctx)[:-1]:
        ctx.state.step = target
        ctx.state.data["editing"] = True
    return await ask(ctx)


# --- typed and sent input ------------------------------------------------------------------


async def on_message(event: Event, ctx: Context) -> list[Reply]:
    """Text, media or a location arrived while filing."""
    assert ctx.state is not None
    step = ctx.state.step
    text = (event.text or "").strip()
    if text in ctx.translator.all_variants("button.cancel"):
        return cancel_confirmation(ctx)
    if text in ctx.translator.all_variants("button.back"):
        return await _back(ctx)
    if event.unsupported:
        what = (
            ctx.t(f"content.{event.unsupported}")
            if event.unsupported in UNSUPPORTED_CONTENT
            else ctx.t("content.other")
        )
        return [Message(ctx.t("intake.unsupported", what=what)), *await ask(ctx)]
    if step == "attachments" and event.attachments:
        return await _add_attachments(event, ctx)
    if step == "location" and (event.location or text):
        return await _on_location(event, ctx, text)
    if step == "description" and text:
        return await _on_description(ctx, text)
    if step == "reporter" and text:
        if len(text) > REPORTER_MAX_CHARS:
            return [
                Message(ctx.t("intake.reporter.too_long", max=REPORTER_MAX_CHARS)),
                *await ask(ctx),
            ]
        draft(ctx)["reporter"] = text
        return await _advance(ctx)
    if event.attachments or event.location:
        return await _keep_for_later(event, ctx)
    hint = (
        "intake.use_buttons"
        if step in ("kind", "category", "privacy", "summary")
        else ("intake.attachments.hint" if step == "attachments" else "intake.text_needed")
    )
    return [Message(ctx.t(hint)), *await ask(ctx)]


async def _on_description(ctx: Context, text: str) -> list[Reply]:
    low, high = ctx.settings.description_min_chars, ctx.settings.description_max_chars
    if len(text) < low:
        return [
            Message(ctx.t("intake.description.too_short", min=low, count=len(text))),
            *await ask(ctx),
        ]
    if len(text) > high:
        return [
            Message(ctx.t("intake.description.too_long", max=high, count=len(text))),
            *await ask(ctx),
        ]
    draft(ctx)["description"] = text
    return await _advance(ctx)


async def _on_location(event: Event, ctx: Context, text: str) -> list[Reply]:
    data = draft(ctx)
    if event.location:
        data["latitude"], data["longitude"] = event.location.latitude, event.location.longitude
        saved = "intake.location.saved"
    elif text in ctx.translator.all_variants("button.skip"):
        saved = "intake.location.skipped"
    elif len(text) < ADDRESS_MIN_CHARS or len(text) > ADDRESS_MAX_CHARS:
        error = ctx.t("intake.location.bad_address", min=ADDRESS_MIN_CHARS, max=ADDRESS_MAX_CHARS)
        return [Message(error), *await ask(ctx)]
    else:
        data["address"] = text
        saved = "intake.location.address_saved"
    data.pop("reply_keys", None)
    return [Message(ctx.t(saved), remove_keys=True), *await _advance(ctx)]


def _room(ctx: Context) -> int:
    return ctx.settings.max_attachments - len(draft(ctx)["attachments"])


def _stash(ctx: Context, items: tuple[Attachment, ...]) -> None:
    draft(ctx)["attachments"].extend(asdict(item) for item in items)


async def _add_attachments(event: Event, ctx: Context) -> list[Reply]:
    """An album is taken whole or not at all, so it is never split."""
    room, count = _room(ctx), len(event.attachments)
    if count > room:
        return [
            Message(
                ctx.t(
                    "intake.attachments.too_many",
                    count=count,
                    room=room,
                    limit=ctx.settings.max_attachments,
                )
            ),
            *await ask(ctx),
        ]
    _stash(ctx, event.attachments)
    added = ctx.t(
        "intake.attachments.added",
        count=count,
        total=len(draft(ctx)["attachments"]),
        limit=ctx.settings.max_attachments,
    )
    if _room(ctx) == 0:
        return [Message(added), *await _advance(ctx)]
    return [Message(added), *await ask(ctx)]


async def _keep_for_later(event: Event, ctx: Context) -> list[Reply]:
    """Media or a location sent at another step is kept, not dropped."""
    assert ctx.state is not None
    data = ctx.state.data
    notes: list[Reply] = []
    if event.location:
        data["latitude"], data["longitude"] = event.location.latitude, event.location.longitude
        notes.append(Message(ctx.t("intake.kept.location")))
    if event.attachments:
        if len(event.attachments) <= _room(ctx):
            _stash(ctx, event.attachments)
            notes.append(Message(ctx.t("intake.kept.media", count=len(event.attachments))))
        else:
            notes.append(
                Message(
                    ctx.t(
                        "intake.attachments.too_many",
                        count=len(event.attachments),
                        room=_room(ctx),
                        limit=ctx.settings.max_attachments,
                    )
                )
            )
        caption = (event.attachments[0].caption or "").strip()
        low, high = ctx.settings.description_min_chars, ctx.settings.description_max_chars
        if ctx.state.step == "description" and low <= len(caption) <= high:
            data["description"] = caption
            return [*notes, *await _advance(ctx)]
    return [*notes, *await ask(ctx)]


def media_from_data(items: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    """Attachments stored in the draft, back as domain objects."""
    return tuple(Attachment(**{**item, "kind": AttachmentKind(item["kind"])}) for item in items)


# --- submitting ----------------------------------------------------------------------------


async def submit(ctx: Context) -> list[Reply]:
    """Store the report, or say what stops it; the draft is kept whenever it is not stored."""
    assert ctx.state is not None
    data = ctx.state.data
    for step in ("channel", "kind", "category", "description", "privacy"):
        if step in steps(ctx) and not data.get(step):
            ctx.state.step = step
            return [Message(ctx.t("intake.missing", step=ctx.t(f"step.{step}"))), *await ask(ctx)]
    category = await get_category(session=ctx.session, category_id=int(data["category"]))
    if category is None or not category.active:
        ctx.state.step = "category"
        return [Message(ctx.t("intake.missing", step=ctx.t("step.category"))), *await ask(ctx)]

    offline = bool(data.get("offline"))
    if offline and (ctx.staff is None or ctx.staff.role != Role.SUPERADMIN):
        ctx.state = None  # the admin lost the role meanwhile: the draft cannot be filed
        return [Message(ctx.t("staff.denied"))]
    if not offline:
        limited = await _rate_limited(ctx)
        if limited:
            return [limited, *await ask(ctx)]

    report = NewComplaint(
        kind=data["kind"],
        category_id=category.id or 0,
        description=data["description"],
        privacy=data["privacy"],
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
        address=data.get("address"),
        attachments=media_from_data(data["attachments"]),
        channel=Channel(data["channel"]) if offline else Channel.TELEGRAM,
        reporter_contact=data.get("reporter") if offline else None,
    )
    if offline:
        complaint = await casework.register_offline(ctx.as_staff(), report)
    else:
        complaint = await casework.submit(ctx.as_citizen(), report)
    # The receipt is remembered: if this reply is lost (a crash before it reached Telegram),
    # pressing Submit again shows the same tracking code instead of "no longer applies".
    ctx.state = FlowState(RECEIPT_FLOW, "summary", {"complaint_id": complaint.id})
    return receipt(ctx, complaint)


def receipt(ctx: Context, complaint: Complaint) -> list[Reply]:
    """The answer to Submit: the tracking code and the verification deadline."""
    assert complaint.verify_due_at is not None
    verify_due, code = complaint.verify_due_at, complaint.tracking_code
    if complaint.channel != Channel.TELEGRAM:
        link = f"https://t.me/{ctx.bot_username}?start=claim_{complaint.claim_token}"
        key = "intake.offline_submitted" if complaint.claim_token else "intake.offline_claimed"
        return [Message(ctx.t(key, code=code, link=link, deadline=ctx.local_time(verify_due)))]
    text = ctx.t(
        "intake.submitted",
        code=code,
        deadline=ctx.local_time(verify_due),
        days=ctx.settings.verify_working_days,
    )
    buttons = (
        (Button(ctx.t("button.view_status"), MenuPress("st", code).pack()),),
        *main_menu(ctx),
    )
    return [Message(text, buttons=buttons)]


async def _receipt_again(ctx: Context) -> list[Reply] | None:
    """Submit pressed again after the report was stored: the same receipt, nothing new."""
    state = ctx.state
    if state is None or state.flow != RECEIPT_FLOW:
        return None
    report_id = state.data.get("complaint_id")
    work = ctx.as_staff() if ctx.staff is not None else ctx.as_citizen()
    complaint = await find(work, report_id) if isinstance(report_id, int) else None
    if complaint is None and ctx.staff is not None and isinstance(report_id, int):
        complaint = await find(ctx.as_citizen(), report_id)
    return receipt(ctx, complaint) if complaint is not None else None


async def _rate_limited(ctx: Context) -> Message | None:
    """The per-citizen limit on submissions (prank floods); None when within it."""
    limit, window = ctx.settings.reports_per_day, timedelta(hours=24)
    assert ctx.citizen.id is not None
    recent = await submitted_since(
        session=ctx.session, citizen_id=ctx.citizen.id, since=ctx.now - window
    )
    if len(recent) < limit:
        return None
    again = ctx.local_time(recent[len(recent) - limit] + window)
    return Message(ctx.t("intake.rate_limited", limit=limit, again=again))
