"""Finding a report for an actor, and the one step every change starts with.

A report is named by id (buttons, duties) or by tracking code (commands); either way a change
locks its row first (``take``), so two people acting at once are served one after the other
and the second is judged on the first one's result.
"""

from __future__ import annotations

from datetime import datetime

from bot.casework.work import Denied, Work, allowed, can_view
from bot.core.lifecycle import STARTS_DEADLINE, Action, Status, next_status
from bot.core.tracking import normalise_code
from storage.complaints import get_by_code, get_complaint, lock_complaint
from storage.models import Complaint

# How a report is named: its id, or its tracking code as someone typed it.
CaseRef = int | str


async def find(work: Work, ref: CaseRef, *, lock: bool = False) -> Complaint | None:
    """The report the actor may see, by id or code; None when unknown or not theirs to see."""
    session = work.session
    complaint: Complaint | None
    if isinstance(ref, int) or ref.isdigit():
        number = int(ref)
        complaint = (
            await lock_complaint(session=session, complaint_id=number)
            if lock
            else await get_complaint(session=session, complaint_id=number)
        )
    elif (code := normalise_code(ref)) is not None:
        complaint = (
            await lock_complaint(session=session, tracking_code=code)
            if lock
            else await get_by_code(session=session, tracking_code=code)
        )
    else:
        complaint = None
    if complaint is None or not can_view(work.actor, complaint):
        return None
    return complaint


async def take(work: Work, ref: CaseRef, action: Action) -> tuple[Complaint, Status]:
    """Lock the report and check that the actor may take ``action`` now; its status before."""
    complaint = await find(work, ref, lock=True)
    if complaint is None or not allowed(work.actor, complaint, action):
        raise Denied(action)
    return complaint, Status(complaint.status)


def move(
    work: Work,
    complaint: Complaint,
    action: Action,
    *,
    before_question: Status | None = None,
    field_inspection: bool = False,
) -> Status:
    """Set the status ``action`` leads to and start the deadline it starts; the old status."""
    before = Status(complaint.status)
    complaint.status = next_status(action, before, before_question).value
    deadline = STARTS_DEADLINE.get(action)
    if deadline is not None:
        due: datetime = work.office.deadline(deadline, work.now, field_inspection=field_inspection)
        setattr(complaint, deadline.field, due)
    return before
