"""Guided filing of a new report: the steps, in order, in one place.

kind → category → description → location → attachments → privacy → summary (Submit / Edit /
Cancel). Every question has Back and Cancel; Edit jumps to a step and returns to the summary.
Button data is ``i:<step>:<value>``: a press whose step is not the current one is stale and
only re-asks the current question. Media or a location sent at another step is kept for the
report, so nothing a citizen entered is lost.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from bot.core.events import Attachment, AttachmentKind, Event
from bot.core.lifecycle import Channel, Privacy, ReportKind, Role
from bot.core.replies import Button, ClearButtons, KeyboardKey, Message, Reply
from handlers.context import Context
from handlers.menus import cancel_confirmation, close_reply_keys, main_menu, stale_button
from storage.complaints import NewComplaint, add_complaint, submitted_since
from storage.conversations import FlowState
from storage.reference import active_categories, get_category

FLOW = "intake"
STEPS = ("kind", "category", "description", "location", "attachments", "privacy", "summary")
# A city admin registering a walk-in, letter, phone … report answers two questions more.
OFFLINE_STEPS = ("channel", "reporter", *STEPS)
OFFLINE_CHANNELS = tuple(c for c in Channel if c is not Channel.TELEGRAM)
REPORTER_MAX_CHARS = 200
ADDRESS_MIN_CHARS = 5
ADDRESS_MAX_CHARS = 500


def _cb(step: str, value: str) -> str:
    return f"i:{step}:{value}"


def _data(ctx: Context) -> dict[str, Any]:
    assert ctx.state is not None
    return ctx.state.data


def steps(ctx: Context) -> tuple[str, ...]:
    """The steps of this draft: the citizen's, or the offline registration's."""
    return OFFLINE_STEPS if _data(ctx).get("offline") else STEPS


def in_intake(ctx: Context) -> bool:
    """Whether the chat is filing a report."""
    return ctx.state is not None and ctx.state.flow == FLOW


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


async def ask(ctx: Context) -> list[Reply]:
    """The question of the current step (closing the location keyboard when leaving it)."""
    assert ctx.state is not None
    step = ctx.state.step
    replies: list[Reply] = []
    if step != "location" and _data(ctx).get("reply_keys"):
        replies.extend(close_reply_keys(ctx))
    questions = await QUESTIONS[step](ctx)
    order = steps(ctx)
    if step != "summary" and questions and isinstance(questions[-1], Message):
        header = ctx.t(
            "intake.step_header",
            n=order.index(step) + 1,
            total=len(order) - 1,
            name=ctx.t(f"step.{step}"),
        )
        last = questions[-1]
        questions[-1] = replace(last, text=f"{header} {last.text}")
    return [*replies, *questions]


def _nav(ctx: Context) -> tuple[Button, ...]:
    assert ctx.state is not None
    step = ctx.state.step
    row = []
    if steps(ctx).index(step) > 0 or _data(ctx).get("editing"):
        row.append(Button(ctx.t("button.back"), _cb(step, "back")))
    row.append(Button(ctx.t("button.cancel"), _cb(step, "cancel")))
    return tuple(row)


async def _ask_channel(ctx: Context) -> list[Reply]:
    rows = tuple((Button(ctx.t(f"channel.{c}"), _cb("channel", c)),) for c in OFFLINE_CHANNELS)
    return [Message(ctx.t("intake.channel.question"), buttons=(*rows, _nav(ctx)))]


async def _ask_reporter(ctx: Context) -> list[Reply]:
    skip = (Button(ctx.t("button.skip"), _cb("reporter", "skip")),)
    return [Message(ctx.t("intake.reporter.question"), buttons=(skip, _nav(ctx)))]


async def _ask_kind(ctx: Context) -> list[Reply]:
    rows = tuple((Button(ctx.t(f"kind.{k}"), _cb("kind", k)),) for k in ReportKind)
    return [Message(ctx.t("intake.kind.question"), buttons=(*rows, _nav(ctx)))]


async def _ask_category(ctx: Context) -> list[Reply]:
    categories = await active_categories(session=ctx.session)
    buttons = [Button(c.name(ctx.locale), _cb("category", str(c.id))) for c in categories]
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return [Message(ctx.t("intake.category.question"), buttons=(*rows, _nav(ctx)))]


async def _ask_description(ctx: Context) -> list[Reply]:
    text = ctx.t(
        "intake.description.question",
        min=ctx.settings.description_min_chars,
        max=ctx.settings.description_max_chars,
    )
    current = _data(ctx).get("description")
    if current:
        text = ctx.t("intake.current_value", question=text, value=current)
    return [Message(text, buttons=(_nav(ctx),))]


async def _ask_location(ctx: Context) -> list[Reply]:
    _data(ctx)["reply_keys"] = True
    keys = (
        (KeyboardKey(ctx.t("button.share_location"), request_location=True),),
        (KeyboardKey(ctx.t("button.skip")),),
        (KeyboardKey(ctx.t("button.back")), KeyboardKey(ctx.t("button.cancel"))),
    )
    return [Message(ctx.t("intake.location.question"), reply_keys=keys)]


async def _ask_attachments(ctx: Context) -> list[Reply]:
    count = len(_data(ctx)["attachments"])
    limit = ctx.settings.max_attachments
    finish = (
        Button(ctx.t("button.done_count", count=count), _cb("attachments", "done"))
        if count
        else Button(ctx.t("button.skip"), _cb("attachments", "done"))
    )
    text = ctx.t("intake.attachments.question", limit=limit, count=count)
    return [Message(text, buttons=((finish,), _nav(ctx)))]


async def _ask_privacy(ctx: Context) -> list[Reply]:
    rows = tuple((Button(ctx.t(f"privacy.{p}"), _cb("privacy", p)),) for p in Privacy)
    return [Message(ctx.t("intake.privacy.question"), buttons=(*rows, _nav(ctx)))]


async def _ask_summary(ctx: Context) -> list[Reply]:
    buttons = (
        (Button(ctx.t("button.submit"), _cb("summary", "submit")),),
        (Button(ctx.t("button.edit"), _cb("summary", "edit")),),
        (Button(ctx.t("button.cancel"), _cb("summary", "cancel")),),
    )
    return [Message(await render_summary(ctx), buttons=buttons)]


QUESTIONS = {
    "channel": _ask_channel,
    "reporter": _ask_reporter,
    "kind": _ask_kind,
    "category": _ask_category,
    "description": _ask_description,
    "location": _ask_location,
    "attachments": _ask_attachments,
    "privacy": _ask_privacy,
    "summary": _ask_summary,
}


async def render_summary(ctx: Context) -> str:
    """Everything entered so far, for the citizen to check before submitting."""
    data = _data(ctx)
    category = await get_category(session=ctx.session, category_id=int(data.get("category", 0)))
    none = ctx.t("summary.none")
    if data.get("latitude") is not None:
        location = ctx.t(
            "summary.point", lat=f"{data['latitude']:.5f}", lon=f"{data['longitude']:.5f}"
        )
        if data.get("address"):
            location = ctx.t("summary.point_and_address", point=location, address=data["address"])
    else:
        location = (
            ctx.t("summary.address", address=data["address"]) if data.get("address") else none
        )
    attachments = data["attachments"]
    offline = ""
    if data.get("offline"):
        offline = ctx.t(
            "summary.offline",
            channel=ctx.t(f"channel.{data['channel']}") if data.get("channel") else none,
            reporter=data.get("reporter") or none,
        )
    return offline + ctx.t(
        "summary.text",
        kind=ctx.t(f"kind.{data['kind']}") if data.get("kind") else none,
        category=category.name(ctx.locale) if category else none,
        description=data.get("description") or none,
        location=location,
        attachments=ctx.t("summary.attachments", count=len(attachments)) if attachments else none,
        privacy=ctx.t(f"privacy.{data['privacy']}") if data.get("privacy") else none,
    )


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


async def on_callback(event: Event, ctx: Context, step: str, value: str) -> list[Reply]:
    """A button of the filing flow was pressed."""
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
    if step == "summary":
        return [*cleared, *await _on_summary(ctx, value)]
    return [*stale_button(ctx), *await ask(ctx)]


async def _on_summary(ctx: Context, value: str) -> list[Reply]:
    assert ctx.state is not None
    if value == "submit":
        return await submit(ctx)
    if value == "edit":
        rows = tuple(
            (Button(ctx.t(f"step.{step}"), _cb("summary", f"goto_{step}")),)
            for step in steps(ctx)[:-1]
        )
        back = (Button(ctx.t("button.back_to_summary"), _cb("summary", "show")),)
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
            if event.unsupported in CONTENT
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
        _data(ctx)["reporter"] = text
        return await _advance(ctx)
    if event.attachments or event.location:
        return await _keep_for_later(event, ctx)
    hint = (
        "intake.use_buttons"
        if step in ("kind", "category", "privacy", "summary")
        else ("intake.attachments.hint" if step == "attachments" else "intake.text_needed")
    )
    return [Message(ctx.t(hint)), *await ask(ctx)]


CONTENT = (
    "sticker",
    "poll",
    "contact",
    "dice",
    "game",
    "animation",
    "video_note",
    "audio",
    "venue",
)


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
    _data(ctx)["description"] = text
    return await _advance(ctx)


async def _on_location(event: Event, ctx: Context, text: str) -> list[Reply]:
    data = _data(ctx)
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
    return ctx.settings.max_attachments - len(_data(ctx)["attachments"])


def _stash(ctx: Context, items: tuple[Attachment, ...]) -> None:
    _data(ctx)["attachments"].extend(asdict(item) for item in items)


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
        total=len(_data(ctx)["attachments"]),
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

    verify_due = ctx.calendar.add_working_days(ctx.now, ctx.settings.verify_working_days)
    complaint = await add_complaint(
        session=ctx.session,
        data=NewComplaint(
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
            claim_token=secrets.token_urlsafe(18) if offline else None,
        ),
        citizen_id=None if offline else ctx.citizen.id,
        prefix=ctx.settings.tracking_prefix,
        year=ctx.calendar.local(ctx.now).year,
        now=ctx.now,
        verify_due_at=verify_due,
    )
    ctx.state = None
    code = complaint.tracking_code
    if offline:
        link = f"https://t.me/{ctx.bot_username}?start=claim_{complaint.claim_token}"
        return [
            Message(
                ctx.t(
                    "intake.offline_submitted",
                    code=code,
                    link=link,
                    deadline=ctx.local_time(verify_due),
                )
            )
        ]
    text = ctx.t(
        "intake.submitted",
        code=code,
        deadline=ctx.local_time(verify_due),
        days=ctx.settings.verify_working_days,
    )
    buttons = (
        (Button(ctx.t("button.view_status"), f"m:st:{code}"),),
        *main_menu(ctx),
    )
    return [Message(text, buttons=buttons)]


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
