"""The citizen's verdict on a follow-up: fixed / partly / not fixed, then a rating and comment.

Buttons carry the resolution's number (``v:<id>:<round>:<choice>``), so a press on an older
follow-up — or a second press — gets a clear "already answered" instead of a second verdict.
"""

from __future__ import annotations

from bot.core.events import Event
from bot.core.replies import Button, ClearButtons, Message, Notice, Reply
from handlers import casework
from handlers.context import Context
from handlers.flowstack import resume, suspend
from storage.complaints import get_complaint
from storage.conversations import FlowState
from storage.models import Complaint

FLOW = "verdict"
REASON_MIN = 5


def _stale(ctx: Context) -> list[Reply]:
    return [Notice(ctx.t("verdict.stale")), Message(ctx.t("verdict.stale"))]


def _rating_question(ctx: Context, complaint: Complaint, round_: int) -> Message:
    stars = tuple(Button("⭐" * n, f"v:{complaint.id}:{round_}:r{n}") for n in range(1, 6))
    skip = (Button(ctx.t("button.skip"), f"v:{complaint.id}:{round_}:r0"),)
    return Message(
        ctx.t("verdict.rating_question", code=complaint.tracking_code),
        buttons=(stars[:3], stars[3:], skip),
    )


async def on_button(event: Event, ctx: Context, value: str) -> list[Reply]:
    """Every verdict, rating and comment-skip button."""
    raw_id, _, rest = value.partition(":")
    raw_round, _, choice = rest.partition(":")
    complaint = (
        await get_complaint(session=ctx.session, complaint_id=int(raw_id), for_update=True)
        if raw_id.isdigit()
        else None
    )
    if complaint is None or not raw_round.isdigit() or complaint.citizen_id != ctx.citizen.id:
        return _stale(ctx)
    round_ = int(raw_round)
    cleared: list[Reply] = [ClearButtons(event.message_id)] if event.message_id else []
    if choice in ("fixed", "partly"):
        if not casework.awaits_verdict(ctx, complaint, round_):
            return _stale(ctx)
        await casework.close_with_verdict(ctx, complaint, choice)
        suspend(ctx, FlowState(FLOW, "rating", {"complaint_id": complaint.id, "round": round_}))
        return [
            *cleared,
            Message(ctx.t("verdict.closed", code=complaint.tracking_code)),
            _rating_question(ctx, complaint, round_),
        ]
    if choice == "not_fixed":
        if not casework.awaits_verdict(ctx, complaint, round_):
            return _stale(ctx)
        suspend(ctx, FlowState(FLOW, "reason", {"complaint_id": complaint.id, "round": round_}))
        return [*cleared, Message(ctx.t("verdict.reason_prompt", code=complaint.tracking_code))]
    state = ctx.state
    ours = (
        state is not None
        and state.flow == FLOW
        and state.data.get("complaint_id") == complaint.id
        and state.data.get("round") == round_
    )
    if (
        choice.startswith("r")
        and choice[1:].isdigit()
        and ours
        and state
        and state.step == "rating"
    ):
        rating = int(choice[1:])
        if rating == 0:
            return [*cleared, Message(ctx.t("verdict.thanks")), *await resume(ctx)]
        state.step, state.data["rating"] = "comment", rating
        skip = Button(ctx.t("button.skip"), f"v:{complaint.id}:{round_}:cskip")
        return [*cleared, Message(ctx.t("verdict.comment_prompt"), buttons=((skip,),))]
    if choice == "cskip" and ours and state and state.step == "comment":
        await casework.rate(ctx, complaint, int(state.data["rating"]), None)
        return [*cleared, Message(ctx.t("verdict.thanks")), *await resume(ctx)]
    return _stale(ctx)


async def on_message(event: Event, ctx: Context) -> list[Reply]:
    """The reason for "not fixed", or the comment after the rating."""
    assert ctx.state is not None
    data = ctx.state.data
    complaint = await get_complaint(
        session=ctx.session, complaint_id=int(data["complaint_id"]), for_update=True
    )
    text = (event.text or "").strip()
    if complaint is None:
        return [*_stale(ctx), *await resume(ctx)]
    if ctx.state.step == "reason":
        if len(text) < REASON_MIN:
            return [Message(ctx.t("verdict.reason_needed", min=REASON_MIN))]
        if not casework.awaits_verdict(ctx, complaint, int(data["round"])):
            return [*_stale(ctx), *await resume(ctx)]
        await casework.reopen(ctx, complaint, text)
        ctx.state.step = "rating"
        assert complaint.first_response_due_at is not None
        return [
            Message(
                ctx.t(
                    "verdict.reopened",
                    code=complaint.tracking_code,
                    deadline=ctx.local_time(complaint.first_response_due_at),
                )
            ),
            _rating_question(ctx, complaint, int(data["round"])),
        ]
    if ctx.state.step == "comment" and text:
        await casework.rate(ctx, complaint, int(data["rating"]), text[:1000])
        return [Message(ctx.t("verdict.thanks")), *await resume(ctx)]
    return [Message(ctx.t("verdict.use_buttons"))]
