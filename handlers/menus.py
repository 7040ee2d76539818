"""Small pieces several citizen handlers show: the main menu, confirmations, stale presses."""

from __future__ import annotations

from bot.core.callbacks import DiscardDraft, MenuPress
from bot.core.replies import Button, Keyboard, Message, Notice, Reply
from handlers.context import Context


def main_menu(ctx: Context) -> Keyboard:
    """New report / my reports / help."""
    return (
        (Button(ctx.t("button.new_report"), MenuPress("new").pack()),),
        (Button(ctx.t("button.my_reports"), MenuPress("mine", "0").pack()),),
        (Button(ctx.t("button.help"), MenuPress("help").pack()),),
    )


def with_menu(ctx: Context, text: str) -> list[Reply]:
    """A message with the main menu under it, closing a reply keyboard left open first."""
    return [*close_reply_keys(ctx), Message(text, buttons=main_menu(ctx))]


def close_reply_keys(ctx: Context) -> list[Reply]:
    """Take away the location keyboard if the flow showed one (a message can't do both)."""
    if ctx.state is None or not ctx.state.data.pop("reply_keys", False):
        return []
    return [Message(ctx.t("common.keyboard_closed"), remove_keys=True)]


def cancel_confirmation(ctx: Context) -> list[Reply]:
    """Ask before a draft is thrown away."""
    buttons = (
        (Button(ctx.t("button.discard"), DiscardDraft("yes").pack()),),
        (Button(ctx.t("button.keep_going"), DiscardDraft("no").pack()),),
    )
    return [*close_reply_keys(ctx), Message(ctx.t("cancel.confirm"), buttons=buttons)]


def stale_button(ctx: Context) -> list[Reply]:
    """The pop-up for a button that no longer applies."""
    return [Notice(ctx.t("notice.stale"))]
