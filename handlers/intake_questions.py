"""The questions of the filing flow, one per step, and the summary: what the citizen sees.

The order of the steps and the moves between them live in handlers/intake.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.callbacks import IntakeChoice
from bot.core.lifecycle import Channel, Privacy, ReportKind
from bot.core.replies import Button, KeyboardKey, Message, Reply
from handlers.context import Context
from handlers.menus import close_reply_keys
from storage.reference import active_categories, get_category

FLOW = "intake"
STEPS = ("kind", "category", "description", "location", "attachments", "privacy", "summary")
# A city admin registering a walk-in, letter, phone … report answers two questions more.
OFFLINE_STEPS = ("channel", "reporter", *STEPS)
# Open311 reports come through the API only, never by a city admin's choice.
OFFLINE_CHANNELS = tuple(c for c in Channel if c not in (Channel.TELEGRAM, Channel.OPEN311))
REPORTER_MAX_CHARS = 200


def cb(step: str, value: object) -> str:
    """Button data of the filing flow."""
    return IntakeChoice(step, str(value)).pack()


def draft(ctx: Context) -> dict[str, Any]:
    """The draft being filled in."""
    assert ctx.state is not None
    return ctx.state.data


def steps(ctx: Context) -> tuple[str, ...]:
    """The steps of this draft: the citizen's, or the offline registration's."""
    return OFFLINE_STEPS if draft(ctx).get("offline") else STEPS


def in_intake(ctx: Context) -> bool:
    """Whether the chat is filing a report."""
    return ctx.state is not None and ctx.state.flow == FLOW


async def ask(ctx: Context) -> list[Reply]:
    """The question of the current step (closing the location keyboard when leaving it)."""
    assert ctx.state is not None
    step = ctx.state.step
    replies: list[Reply] = []
    if step != "location" and draft(ctx).get("reply_keys"):
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


def nav(ctx: Context) -> tuple[Button, ...]:
    """Back (not on the first step) and Cancel."""
    assert ctx.state is not None
    step = ctx.state.step
    row = []
    if steps(ctx).index(step) > 0 or draft(ctx).get("editing"):
        row.append(Button(ctx.t("button.back"), cb(step, "back")))
    row.append(Button(ctx.t("button.cancel"), cb(step, "cancel")))
    return tuple(row)


async def _ask_channel(ctx: Context) -> list[Reply]:
    rows = tuple((Button(ctx.t(f"channel.{c}"), cb("channel", c)),) for c in OFFLINE_CHANNELS)
    return [Message(ctx.t("intake.channel.question"), buttons=(*rows, nav(ctx)))]


async def _ask_reporter(ctx: Context) -> list[Reply]:
    skip = (Button(ctx.t("button.skip"), cb("reporter", "skip")),)
    return [Message(ctx.t("intake.reporter.question"), buttons=(skip, nav(ctx)))]


async def _ask_kind(ctx: Context) -> list[Reply]:
    rows = tuple((Button(ctx.t(f"kind.{k}"), cb("kind", k)),) for k in ReportKind)
    return [Message(ctx.t("intake.kind.question"), buttons=(*rows, nav(ctx)))]


async def _ask_category(ctx: Context) -> list[Reply]:
    categories = await active_categories(session=ctx.session)
    buttons = [Button(c.name(ctx.locale), cb("category", str(c.id))) for c in categories]
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return [Message(ctx.t("intake.category.question"), buttons=(*rows, nav(ctx)))]


async def _ask_description(ctx: Context) -> list[Reply]:
    text = ctx.t(
        "intake.description.question",
        min=ctx.settings.description_min_chars,
        max=ctx.settings.description_max_chars,
    )
    current = draft(ctx).get("description")
    if current:
        text = ctx.t("intake.current_value", question=text, value=current)
    return [Message(text, buttons=(nav(ctx),))]


async def _ask_location(ctx: Context) -> list[Reply]:
    draft(ctx)["reply_keys"] = True
    keys = (
        (KeyboardKey(ctx.t("button.share_location"), request_location=True),),
        (KeyboardKey(ctx.t("button.skip")),),
        (KeyboardKey(ctx.t("button.back")), KeyboardKey(ctx.t("button.cancel"))),
    )
    return [Message(ctx.t("intake.location.question"), reply_keys=keys)]


async def _ask_attachments(ctx: Context) -> list[Reply]:
    count = len(draft(ctx)["attachments"])
    limit = ctx.settings.max_attachments
    finish = (
        Button(ctx.t("button.done_count", count=count), cb("attachments", "done"))
        if count
        else Button(ctx.t("button.skip"), cb("attachments", "done"))
    )
    text = ctx.t("intake.attachments.question", limit=limit, count=count)
    return [Message(text, buttons=((finish,), nav(ctx)))]


async def _ask_privacy(ctx: Context) -> list[Reply]:
    rows = tuple((Button(ctx.t(f"privacy.{p}"), cb("privacy", p)),) for p in Privacy)
    return [Message(ctx.t("intake.privacy.question"), buttons=(*rows, nav(ctx)))]


async def _ask_summary(ctx: Context) -> list[Reply]:
    buttons = (
        (Button(ctx.t("button.submit"), cb("summary", "submit")),),
        (Button(ctx.t("button.edit"), cb("summary", "edit")),),
        (Button(ctx.t("button.cancel"), cb("summary", "cancel")),),
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
    data = draft(ctx)
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
