"""The citizen's verdict on a follow-up: fixed / partly / not fixed, then a rating and comment.

Buttons carry the resolution's number (``VerdictPress``), so a press on an older
follow-up — or a second press — gets a clear "already answered" instead of a second verdict.
"""

from __future__ import annotations

import contextlib

from bot.casework import Denied, allowed
from bot.casework import citizen as casework
from bot.casework.cases import find
from bot.core.callbacks import VerdictPress
from bot.core.events import Event
from bot.core.lifecycle import Action, Verdict
from bot.core.replies import Button, ClearButtons, Message, Notice, Reply
from handlers.context import Context
from handlers.flowstack import resume, suspend
from storage.conversations import FlowState
from storage.models import Complaint

FLOW = "verdict"
REASON_MIN = 5


def _stale(ctx: Context) -> list[Reply]:
    return [Notice(ctx.t("verdict.stale")), Message(ctx.t("verdict.stale"))]


def _rating_question(ctx: Context, complaint: Complaint, round_: int) -> Message:
    assert complaint.id is not None
    report = complaint.id
    stars = tuple(
        Button("⭐" * n, VerdictPress(report, round_, f"r{n}").pack()) for n in range(1, 6)
    )
    skip = (Button(ctx.t("button.skip"), VerdictPress(report, round_, "r0").pack()),)
    return Message(
        ctx.t("verdict.rating_question", code=complaint.tracking_code),
        buttons=(stars[:3], stars[3:], skip),
    )


async def on_button(event: Event, ctx: Context, press: VerdictPress) -> list[Reply]:
    """Every verdict, rating and comment-skip button."""
    work = ctx.as_citizen()
    complaint = await find(work, press.report_id)
    if complaint is None:
        return _stale(ctx)
    round_, choice = press.round, press.choice
    cleared: list[Reply] = [ClearButtons(event.message_id)] if event.message_id else []
    if choice in (Verdict.FIXED, Verdict.PARTLY):
        try:
            await casework.close(work, press.report_id, round_, Verdict(choice))
        except Denied:
            return _stale(ctx)
        suspend(ctx, FlowState(FLOW, "rating", {"complaint_id": complaint.id, "round": round_}))
        return [
            *cleared,
            Message(ctx.t("verdict.closed", code=complaint.tracking_code)),
            _rating_question(ctx, complaint, round_),
        ]
    if choice == Verdict.NOT_FIXED:
        if not allowed(work.actor, complaint, Action.REOPEN) or complaint.reopen_count != round_:
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
        skip = Button(ctx.t("button.skip"), VerdictPress(press.report_id, round_, "cskip").pack())
        return [*cleared, Message(ctx.t("verdict.comment_prompt"), buttons=((skip,),))]
    if choice == "cskip" and ours and state and state.step == "comment":
        await _rate(ctx, press.report_id, int(state.data["rating"]), None)
        return [*cleared, Message(ctx.t("verdict.thanks")), *await resume(ctx)]
    return _stale(ctx)


async def _rate(ctx: Context, report_id: int, rating: int, comment: str | None) -> None:
    # A report no longer the citizen's to rate (e.g. rejected meanwhile) keeps no rating.
    with contextlib.suppress(Denied):
        await casework.rate(ctx.as_citizen(), report_id, rating, comment)


async def on_message(event: Event, ctx: Context) -> list[Reply]:
    """The reason for "not fixed", or the comment after the rating."""
    assert ctx.state is not None
    data = ctx.state.data
    report_id = int(data["complaint_id"])
    work = ctx.as_citizen()
    text = (event.text or "").strip()
    complaint = await find(work, report_id)
    if complaint is None:
        return [*_stale(ctx), *await resume(ctx)]
    if ctx.state.step == "reason":
        if len(text) < REASON_MIN:
            return [Message(ctx.t("verdict.reason_needed", min=REASON_MIN))]
        try:
            complaint = await casework.reopen(work, report_id, int(data["round"]), text)
        except Denied:
            return [*_stale(ctx), *await resume(ctx)]
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
        await _rate(ctx, report_id, int(data["rating"]), text[:1000])
        return [Message(ctx.t("verdict.thanks")), *await resume(ctx)]
    return [Message(ctx.t("verdict.use_buttons"))]
