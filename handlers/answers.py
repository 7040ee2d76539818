"""A citizen answers an officer's question: the Reply button, then text and/or media."""

from __future__ import annotations

from dataclasses import asdict

from bot.core.events import Event
from bot.core.lifecycle import Action, Actor, Status, may
from bot.core.replies import Button, ClearButtons, Message, Reply
from handlers import casework
from handlers.context import Context
from handlers.flowstack import resume, suspend
from handlers.intake import media_from_data
from handlers.menus import stale_button
from storage.complaints import get_complaint
from storage.conversations import FlowState
from storage.models import Complaint

FLOW = "answer"


async def _own_question(ctx: Context, raw_id: str) -> Complaint | None:
    complaint = (
        await get_complaint(session=ctx.session, complaint_id=int(raw_id), for_update=True)
        if raw_id.isdigit()
        else None
    )
    if complaint is None or complaint.citizen_id != ctx.citizen.id:
        return None
    return complaint if may(Action.ANSWER, Actor.CITIZEN, Status(complaint.status)) else None


async def on_button(event: Event, ctx: Context, value: str) -> list[Reply]:
    """``c:ans:<id>`` starts an answer; ``c:abort`` gives it up."""
    verb, _, rest = value.partition(":")
    cleared: list[Reply] = [ClearButtons(event.message_id)] if event.message_id else []
    if verb == "abort" and ctx.state is not None and ctx.state.flow == FLOW:
        return [*cleared, Message(ctx.t("answer.aborted")), *await resume(ctx)]
    complaint = await _own_question(ctx, rest) if verb == "ans" else None
    if complaint is None:
        return [*stale_button(ctx), Message(ctx.t("answer.not_waiting"))]
    suspend(ctx, FlowState(FLOW, "text", {"complaint_id": complaint.id}))
    cancel = Button(ctx.t("button.cancel"), "c:abort")
    return [Message(ctx.t("answer.prompt", code=complaint.tracking_code), buttons=((cancel,),))]


async def on_message(event: Event, ctx: Context) -> list[Reply]:
    """The answer itself: text, a photo with a caption, an album or a document."""
    assert ctx.state is not None
    complaint = await _own_question(ctx, str(ctx.state.data.get("complaint_id", "")))
    if complaint is None:
        return [Message(ctx.t("answer.not_waiting")), *await resume(ctx)]
    text = (event.text or "").strip() or next(
        (a.caption for a in event.attachments if a.caption), None
    )
    if not text and not event.attachments:
        return [Message(ctx.t("answer.text_needed"))]
    media = media_from_data([asdict(a) for a in event.attachments])
    await casework.answer(ctx, complaint, text, media)
    return [Message(ctx.t("answer.sent", code=complaint.tracking_code)), *await resume(ctx)]
