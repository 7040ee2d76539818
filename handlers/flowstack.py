"""Short side flows (a staff input, a citizen's answer) that keep a draft in progress intact."""

from __future__ import annotations

from bot.core.replies import Message, Reply
from handlers import intake
from handlers.context import Context
from storage.conversations import FlowState


def suspend(ctx: Context, side: FlowState) -> None:
    """Enter a side flow, keeping the current flow (e.g. a half-written report) to resume."""
    current = ctx.state
    if current is not None and current.flow != side.flow:
        side.data["resume"] = {"flow": current.flow, "step": current.step, "data": current.data}
    elif current is not None and "resume" in current.data:
        side.data["resume"] = current.data["resume"]
    ctx.state = side


async def resume(ctx: Context) -> list[Reply]:
    """Leave the side flow and continue what was suspended, if anything."""
    saved = ctx.state.data.get("resume") if ctx.state is not None else None
    ctx.state = FlowState(**saved) if saved else None
    if intake.in_intake(ctx):
        return [Message(ctx.t("intake.resumed")), *await intake.ask(ctx)]
    return []
