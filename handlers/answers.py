"""A citizen answers an officer's question: the Reply button, then text and/or media."""

from __future__ import annotations

from dataclasses import asdict

from bot.casework import Denied, allowed
from bot.casework import citizen as casework
from bot.casework.cases import find
from bot.core.callbacks import AbortAnswer, AnswerQuestion, Callback
from bot.core.events import Event
from bot.core.lifecycle import Action
from bot.core.replies import Button, ClearButtons, Message, Reply
from handlers.context import Context
from handlers.flowstack import resume, suspend
from handlers.intake import media_from_data
from handlers.menus import stale_button
from storage.conversations import FlowState
from storage.models import Complaint

FLOW = "answer"
MAX_ANSWER = 3000  # quoted to the officer; Telegram caps a message at 4,096 characters


async def _own_question(ctx: Context, report_id: object) -> Complaint | None:
    """The citizen's own report, if it waits for their answer."""
    if not isinstance(report_id, int):
        return None
    work = ctx.as_citizen()
    complaint = await find(work, report_id)
    if complaint is None or not allowed(work.actor, complaint, Action.ANSWER):
        return None
    return complaint


async def on_button(event: Event, ctx: Context, press: Callback) -> list[Reply]:
    """``AnswerQuestion`` starts an answer; ``AbortAnswer`` gives it up."""
    cleared: list[Reply] = [ClearButtons(event.message_id)] if event.message_id else []
    if isinstance(press, AbortAnswer) and ctx.state is not None and ctx.state.flow == FLOW:
        return [*cleared, Message(ctx.t("answer.aborted")), *await resume(ctx)]
    complaint = (
        await _own_question(ctx, press.report_id) if isinstance(press, AnswerQuestion) else None
    )
    if complaint is None:
        return [*stale_button(ctx), Message(ctx.t("answer.not_waiting"))]
    suspend(ctx, FlowState(FLOW, "text", {"complaint_id": complaint.id}))
    cancel = Button(ctx.t("button.cancel"), AbortAnswer().pack())
    return [Message(ctx.t("answer.prompt", code=complaint.tracking_code), buttons=((cancel,),))]


async def on_message(event: Event, ctx: Context) -> list[Reply]:
    """The answer itself: text, a photo with a caption, an album or a document."""
    assert ctx.state is not None
    complaint = await _own_question(ctx, ctx.state.data.get("complaint_id"))
    if complaint is None:
        return [Message(ctx.t("answer.not_waiting")), *await resume(ctx)]
    text = (event.text or "").strip() or next(
        (a.caption for a in event.attachments if a.caption), None
    )
    if not text and not event.attachments:
        return [Message(ctx.t("answer.text_needed"))]
    if text and len(text) > MAX_ANSWER:
        return [Message(ctx.t("answer.too_long", count=len(text), max=MAX_ANSWER))]
    media = media_from_data([asdict(a) for a in event.attachments])
    assert complaint.id is not None
    try:
        await casework.answer(ctx.as_citizen(), complaint.id, text, media)
    except Denied:  # answered meanwhile (another device, a double tap)
        return [Message(ctx.t("answer.not_waiting")), *await resume(ctx)]
    return [Message(ctx.t("answer.sent", code=complaint.tracking_code)), *await resume(ctx)]
