"""Where an event goes: command, button prefix, or the step of the running flow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.events import Event
from bot.core.replies import Message, Reply
from handlers import citizen, intake
from handlers.context import Context
from handlers.menus import stale_button

CommandHandler = Callable[[Event, Context, str], Awaitable[list[Reply]]]
ButtonHandler = Callable[[Event, Context, str], Awaitable[list[Reply]]]

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
}

# Commands shown in Telegram's menu (setMyCommands), with their catalog descriptions.
MENU_COMMANDS = ("new", "mine", "status", "cancel", "help", "lang")


async def _intake_button(event: Event, ctx: Context, value: str) -> list[Reply]:
    step, _, choice = value.partition(":")
    return await intake.on_callback(event, ctx, step, choice)


BUTTONS: dict[str, ButtonHandler] = {
    "i": _intake_button,
    "m": citizen.on_menu_button,
    "x": citizen.on_cancel_button,
    "o": citizen.on_offer_button,
    "l": citizen.on_lang_button,
}


async def route(event: Event, ctx: Context) -> list[Reply]:
    """Run the handler that fits the event and return what to say."""
    if event.chat_type != "private":
        return [Message(ctx.t("common.private_only"))] if event.command else []
    replies: list[Reply] = []
    if ctx.draft_expired:
        replies.append(Message(ctx.t("intake.expired", hours=f"{ctx.settings.draft_ttl_hours:g}")))
    return [*replies, *await _dispatch(event, ctx)]


async def _dispatch(event: Event, ctx: Context) -> list[Reply]:
    if event.is_callback:
        prefix, _, value = (event.callback_data or "").partition(":")
        button = BUTTONS.get(prefix)
        return await button(event, ctx, value) if button else stale_button(ctx)
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
    if intake.in_intake(ctx):
        return await intake.on_message(event, ctx)
    if ctx.state is not None:  # an unanswered offer: new input replaces it
        ctx.state = None
    return await citizen.on_outside_flow(event, ctx)
