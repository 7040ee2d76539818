"""Where an event goes: command, button prefix, or the step of the running flow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.core.callbacks import (
    AbortAnswer,
    AbortInput,
    AnswerQuestion,
    Callback,
    CaseAction,
    DeactivateStaff,
    DiscardDraft,
    InboxView,
    IntakeChoice,
    MediaOffer,
    MenuPress,
    OpenCase,
    PickLanguage,
    VerdictPress,
    parse,
)
from bot.core.events import INVALID_LOCATION, Event
from bot.core.replies import Message, Reply
from handlers import answers, api_keys, citizen, intake, staff, staff_actions, stats, verdict
from handlers.context import Context
from handlers.menus import stale_button

CommandHandler = Callable[[Event, Context, str], Awaitable[list[Reply]]]

COMMANDS: dict[str, CommandHandler] = {
    "start": citizen.on_start,
    "new": citizen.on_new,
    "lapor": citizen.on_new,
    "mine": citizen.on_mine,
    "status": citizen.on_status,
    "cancel": citizen.on_cancel,
    "batal": citizen.on_cancel,
    "help": citizen.on_help,
    "lang": citizen.on_lang,
    "intake": citizen.on_intake,
    "inbox": staff.on_inbox,
    "outbox": staff.on_outbox,
    "case": staff.on_case,
    "staff": staff.on_staff,
    "reply": staff_actions.on_one_line,
    "note": staff_actions.on_one_line,
    "progress": staff_actions.on_one_line,
    "resolve": staff_actions.on_one_line,
    "stats": stats.on_stats,
    "export": stats.on_export,
    "apikey": api_keys.on_apikey,
}

# Commands shown in Telegram's menu (setMyCommands), with their catalog descriptions.
MENU_COMMANDS = ("new", "mine", "status", "cancel", "help", "lang")


# Which handler takes which kind of button (bot/core/callbacks.py); data that parses to none
# of them is stale or forged and gets the same "no longer applies" pop-up.
BUTTONS: dict[type[Callback], Callable[[Event, Context, Any], Awaitable[list[Reply]]]] = {
    IntakeChoice: intake.on_callback,
    MenuPress: citizen.on_menu_button,
    DiscardDraft: citizen.on_cancel_button,
    MediaOffer: citizen.on_offer_button,
    PickLanguage: citizen.on_lang_button,
    AnswerQuestion: answers.on_button,
    AbortAnswer: answers.on_button,
    VerdictPress: verdict.on_button,
    OpenCase: staff.on_case_button,
    InboxView: staff.on_inbox_button,
    DeactivateStaff: staff.on_off_button,
    AbortInput: staff_actions.on_abort,
    CaseAction: staff_actions.on_button,
}


async def route(event: Event, ctx: Context) -> list[Reply]:
    """Run the handler that fits the event and return what to say."""
    if event.chat_type != "private":
        return [Message(ctx.t("common.private_only"))] if event.command and not event.edited else []
    replies: list[Reply] = []
    staff.sync_staff_name(ctx, event.user)
    if ctx.draft_expired:
        replies.append(Message(ctx.t("intake.expired", hours=f"{ctx.settings.draft_ttl_hours:g}")))
    refused = _refused_input(event)
    if refused is not None:
        return [*replies, *await _refuse(ctx, refused)]
    return [*replies, *await _dispatch(event, ctx)]


def _refused_input(event: Event) -> str | None:
    """The catalog key telling why this input is not taken, before any flow sees it.

    An edit of an earlier message (Telegram's ``edited_message``) is not taken: which answer it
    changed may no longer be the question asked, and a report already submitted cannot be
    changed by editing the chat. The user is told to send the corrected text as a new message.
    A location off the map (bot/updates.py drops its coordinates) is refused as unusable.
    """
    if event.edited:
        return "input.edited"
    if event.unsupported == INVALID_LOCATION:
        return "input.invalid_location"
    return None


async def _refuse(ctx: Context, key: str) -> list[Reply]:
    """Say why the input is not taken; while filing, ask the current question again.

    Nothing else changes: the draft and any other flow's state stay as they were.
    """
    note = Message(ctx.t(key))
    return [note, *await intake.ask(ctx)] if intake.in_intake(ctx) else [note]


async def _dispatch(event: Event, ctx: Context) -> list[Reply]:
    if event.is_callback:
        press = parse(event.callback_data)
        button = BUTTONS.get(type(press)) if press is not None else None
        return await button(event, ctx, press) if button else stale_button(ctx)
    command = event.command
    if command is not None:
        name, args = command
        handler = COMMANDS.get(name)
        if handler is not None:
            return await handler(event, ctx, args)
        return (
            [citizen.unknown_command(ctx), *await intake.ask(ctx)]
            if intake.in_intake(ctx)
            else [citizen.unknown_command(ctx)]
        )
    flow = FLOWS.get(ctx.state.flow) if ctx.state is not None else None
    if flow is not None:
        return await flow(event, ctx)
    ctx.state = None  # an unanswered offer: new input replaces it
    return await citizen.on_outside_flow(event, ctx)


# Flows that take the user's next message, by name.
FLOWS: dict[str, Callable[[Event, Context], Awaitable[list[Reply]]]] = {
    intake.FLOW: intake.on_message,
    staff_actions.INPUT_FLOW: staff_actions.on_input,
    answers.FLOW: answers.on_message,
    verdict.FLOW: verdict.on_message,
}
