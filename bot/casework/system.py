"""What the system itself does to a report: the scheduled duties' changes."""

from __future__ import annotations

from bot.casework.cases import move, take
from bot.casework.history import record
from bot.casework.work import Denied, SystemActor, Work
from bot.core.lifecycle import Action
from storage.models import Complaint


async def auto_close(work: Work, report_id: int, *, days: int) -> Complaint:
    """Close a resolved report the citizen did not judge within ``days`` working days."""
    if not isinstance(work.actor, SystemActor):
        raise Denied(Action.CLOSE)
    complaint, _ = await take(work, report_id, Action.CLOSE)
    before = move(work, complaint, Action.CLOSE)
    complaint.closed_at = work.now
    await record(work, complaint, Action.CLOSE, before)
    assert complaint.id is not None
    await work.notifier.tell_citizen(
        complaint, "duty.auto_closed", days=days, dedupe_key=f"autoclose:{complaint.id}"
    )
    return complaint
