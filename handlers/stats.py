"""``/stats [period]`` and ``/export [csv|xlsx] [period]``: evaluation for supervisors and admins.

Who sees what: superadmins and viewers get the whole city; an agency admin gets their own
agency beside the city's figures, and exports only their agency's reports. Citizens are
denied. The work itself runs in the background (bot/reports/runner.py): the handler checks the
role and the period, queues a job, and answers at once, so a long export never holds the
update's transaction (on SQLite: the process-wide write lock). The period grammar is in
bot/core/periods.py.
"""

from __future__ import annotations

from bot.core.events import Event
from bot.core.periods import Period, PeriodError, parse_period
from bot.core.replies import Message, Reply
from handlers.context import Context
from handlers.staff import denied
from storage.report_jobs import add_job

FORMATS = ("xlsx", "csv")


def _period(ctx: Context, text: str) -> Period | None:
    try:
        return parse_period(text, now=ctx.now, timezone=ctx.calendar.timezone)
    except PeriodError:
        return None


async def _queue(ctx: Context, event: Event, kind: str, period: Period) -> None:
    assert ctx.staff is not None and ctx.staff.id is not None
    await add_job(
        session=ctx.session,
        kind=kind,
        chat_id=event.chat_id,
        staff_id=ctx.staff.id,
        locale=ctx.locale,
        first_day=period.first_day,
        last_day=period.last_day,
        label=period.label,
        now=ctx.now,
    )


async def on_stats(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/stats [period]``: the figures, the per-agency lines, the overdue list and a chart."""
    if ctx.staff is None:
        return denied(ctx)
    period = _period(ctx, args)
    if period is None:
        return [Message(ctx.t("stats.bad_period", period=args.strip()[:40]))]
    await _queue(ctx, event, "stats", period)
    return [Message(ctx.t("stats.queued", period=period.label))]


async def on_export(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/export [csv|xlsx] [period]``: the period's reports as a file (XLSX by default)."""
    if ctx.staff is None:
        return denied(ctx)
    words = args.split()
    kind = "xlsx"
    if words and words[0].lower() in FORMATS:
        kind = words.pop(0).lower()
    elif words and words[-1].lower() in FORMATS:
        kind = words.pop().lower()
    rest = " ".join(words)
    period = _period(ctx, rest)
    if period is None:
        return [Message(ctx.t("stats.bad_period", period=rest[:40]))]
    await _queue(ctx, event, kind, period)
    return [Message(ctx.t("stats.export_queued", format=kind.upper(), period=period.label))]
