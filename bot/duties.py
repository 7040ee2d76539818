"""Scheduled duties that keep citizens informed and agencies on time, without anyone asking.

Each duty is a plain async method taking ``now``, so tests drive time; bot/jobs.py runs them
on APScheduler. Every message is deduplicated by a key per deadline / day, so a duty that runs
twice (or in two processes) tells nobody twice; on PostgreSQL an advisory lock also keeps a
duty to one process at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.casework import SYSTEM, Denied, Office, Work
from bot.casework.notices import Localized, Notifier
from bot.casework.system import auto_close
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Markup, Translator
from bot.core.lifecycle import NOT_TERMINAL, OPEN, Role, Status, running_deadline
from bot.core.replies import Message
from bot.settings import Settings
from handlers.intake import FLOW as INTAKE_FLOW
from storage.complaints import active_deadline
from storage.database import SessionFactory
from storage.locks import try_singleton
from storage.models import Agency, Complaint, ComplaintEvent, Conversation, Notification, Staff
from storage.outbox import Audience, enqueue, prune_finished
from storage.staff import locale_of, staff_of_agency, superadmins
from storage.unit_of_work import UnitOfWork
from storage.updates import prune_processed

log = logging.getLogger(__name__)

DRAFT_REMINDER_LEAD = timedelta(hours=24)


@dataclass
class Duties:
    """The scheduled duties, with what they need."""

    sessions: SessionFactory
    translator: Translator
    calendar: WorkingCalendar
    settings: Settings

    @cached_property
    def office(self) -> Office:
        """The rules the duties work under (quiet hours parsed once)."""
        return Office.of(self.settings, self.translator, self.calendar)

    def _notifier(self, session: AsyncSession, now: datetime) -> Notifier:
        return Work(self.office, SYSTEM, session, now).notifier

    def _when(self, moment: datetime) -> str:
        return self.office.local_time(moment)

    async def _run(self, name: str, work: Callable[[AsyncSession], Awaitable[int]]) -> int:
        """One duty in one transaction, skipped when another process holds it."""
        async with UnitOfWork(self.sessions) as uow:
            if not await try_singleton(session=uow.session, name=name):
                log.info("duty %s is running elsewhere; skipped", name)
                return 0
            count = await work(uow.session)
            await uow.commit()
        return count

    # --- deadlines --------------------------------------------------------------------

    async def scan_deadlines(self, now: datetime) -> int:
        """Remind one working day ahead; when overdue, alert agency and admins, tell the citizen."""

        async def work(session: AsyncSession) -> int:
            notifier = self._notifier(session, now)
            recipients = _Recipients(session)
            horizon = now + timedelta(days=7)
            query = select(Complaint).where(
                col(Complaint.status).in_([s.value for s in OPEN]), active_deadline() < horizon
            )
            sent = 0
            for complaint in (await session.exec(query)).all():
                deadline = running_deadline(complaint.status)
                due: datetime | None = getattr(complaint, deadline.field) if deadline else None
                if deadline is None or due is None:
                    continue
                sent += await self._deadline_notices(
                    session, notifier, recipients, complaint, deadline.value, due, now
                )
            return sent

        return await self._run("scan_deadlines", work)

    async def _deadline_notices(
        self,
        session: AsyncSession,
        notifier: Notifier,
        recipients: _Recipients,
        complaint: Complaint,
        stage: str,
        due: datetime,
        now: datetime,
    ) -> int:
        agency = await session.get(Agency, complaint.agency_id) if complaint.agency_id else None
        handlers = await recipients.handling(agency.id if agency else None)
        key = f"{complaint.id}:{stage}:{due.isoformat()}"
        deadline = self._when(due)
        if now > due:
            admins = await recipients.handling(None)
            agency_name = agency.name if agency else "—"
            for group in (handlers, admins):
                await notifier.tell_staff(
                    group,
                    complaint,
                    "duty.overdue_staff",
                    dedupe_key=f"overdue:{key}",
                    stage=Localized(f"duty.stage.{stage}"),
                    agency=agency_name,
                    deadline=deadline,
                )
            await notifier.tell_citizen(
                complaint,
                "duty.overdue_citizen",
                dedupe_key=f"late:{key}",
                stage=Localized(f"duty.stage.{stage}"),
                deadline=deadline,
            )
            return 1
        if self.calendar.working_days_between(now, due) <= 1:
            await notifier.tell_staff(
                handlers,
                complaint,
                "duty.remind",
                dedupe_key=f"remind:{key}",
                stage=Localized(f"duty.stage.{stage}"),
                deadline=deadline,
            )
            return 1
        return 0

    # --- citizens kept informed ---------------------------------------------------------

    async def send_citizen_updates(self, now: datetime) -> int:
        """A short "still in progress" note after N working days without news."""

        async def work(session: AsyncSession) -> int:
            notifier = self._notifier(session, now)
            every = self.settings.citizen_update_working_days
            open_statuses = [Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS]
            last_event = dict(
                (
                    await session.exec(
                        select(ComplaintEvent.complaint_id, func.max(ComplaintEvent.created_at))
                        .where(col(ComplaintEvent.citizen_visible))
                        .group_by(col(ComplaintEvent.complaint_id))
                    )
                ).all()
            )
            last_notice = dict(
                (
                    await session.exec(
                        select(Notification.complaint_id, func.max(Notification.created_at))
                        .where(Notification.audience == Audience.CITIZEN)
                        .group_by(col(Notification.complaint_id))
                    )
                ).all()
            )
            query = select(Complaint).where(
                col(Complaint.status).in_(open_statuses), col(Complaint.citizen_id).is_not(None)
            )
            sent = 0
            for complaint in (await session.exec(query)).all():
                moments = [
                    m
                    for m in (
                        last_event.get(complaint.id or 0),
                        last_notice.get(complaint.id),
                        complaint.submitted_at,
                    )
                    if m is not None
                ]
                latest = max(_aware(m) for m in moments)
                if self.calendar.working_days_between(latest, now) < every:
                    continue
                locale = await notifier.citizen_locale(complaint)
                running = running_deadline(complaint.status)
                due = getattr(complaint, running.field) if running else None
                deadline = (
                    self.translator(locale, "duty.periodic_deadline", deadline=self._when(due))
                    if due is not None
                    else Markup("")
                )
                day = self.calendar.local(now).date().isoformat()
                await notifier.tell_citizen(
                    complaint,
                    "duty.periodic",
                    dedupe_key=f"periodic:{complaint.id}:{day}",
                    status=self.translator(locale, f"state.{complaint.status}"),
                    deadline=deadline,
                )
                sent += 1
            return sent

        return await self._run("citizen_updates", work)

    async def auto_close(self, now: datetime) -> int:
        """Close resolved reports the citizen did not answer within N working days."""

        async def work(session: AsyncSession) -> int:
            days = self.settings.auto_close_working_days
            office = self.office
            query = select(Complaint.id, Complaint.resolved_at, Complaint.updated_at).where(
                Complaint.status == Status.RESOLVED
            )
            closed = 0
            for report_id, resolved_at, updated_at in (await session.exec(query)).all():
                resolved = _aware(resolved_at or updated_at)
                if report_id is None or self.calendar.working_days_between(resolved, now) < days:
                    continue
                try:
                    await auto_close(Work(office, SYSTEM, session, now), report_id, days=days)
                except Denied:
                    continue  # judged by the citizen in the meantime
                closed += 1
            return closed

        return await self._run("auto_close", work)

    # --- drafts -------------------------------------------------------------------------

    async def expire_drafts(self, now: datetime) -> int:
        """Remind a day before a draft expires; delete expired drafts and say so."""

        async def work(session: AsyncSession) -> int:
            quiet = self.office.quiet_hours
            count = 0
            drafts = (
                await session.exec(
                    select(Conversation).where(
                        Conversation.flow == INTAKE_FLOW,
                        col(Conversation.expires_at) <= now + DRAFT_REMINDER_LEAD,
                    )
                )
            ).all()
            for draft in drafts:
                locale = self.translator.pick(
                    await locale_of(session=session, telegram_id=draft.user_id)
                )
                if draft.expires_at <= now:
                    key, text = (
                        f"draft-gone:{draft.id}:{draft.expires_at.isoformat()}",
                        self.translator(
                            locale, "duty.draft_expired", hours=f"{self.settings.draft_ttl_hours:g}"
                        ),
                    )
                else:
                    key, text = (
                        f"draft:{draft.id}:{draft.expires_at.isoformat()}",
                        self.translator(
                            locale, "duty.draft_reminder", when=self._when(draft.expires_at)
                        ),
                    )
                await enqueue(
                    session=session,
                    chat_id=draft.chat_id,
                    message=Message(text),
                    audience=Audience.CITIZEN,
                    now=now,
                    not_before=quiet.next_allowed(now) if quiet else now,
                    dedupe_key=key,
                )
                count += 1
            await session.exec(delete(Conversation).where(col(Conversation.expires_at) <= now))
            # Any other side flow that expired goes quietly.
            return count

        return await self._run("expire_drafts", work)

    # --- staff digest -------------------------------------------------------------------

    async def send_digests(self, now: datetime) -> int:
        """The morning digest to each active staff member: new, due today, overdue, dead."""

        async def work(session: AsyncSession) -> int:
            local_day = self.calendar.local(now).date()
            day_end = datetime.combine(local_day, time(23, 59, 59), tzinfo=self.calendar.timezone)
            dead = int(
                (
                    await session.exec(
                        select(func.count())
                        .select_from(Notification)
                        .where(Notification.status == "dead")
                    )
                ).one()
            )
            staff_rows = (await session.exec(select(Staff).where(col(Staff.active)))).all()
            for member in staff_rows:
                agency = member.agency_id if member.role == Role.AGENCY_ADMIN else None

                async def count(*conditions: object, agency: int | None = agency) -> int:
                    query = select(func.count()).select_from(Complaint).where(*conditions)  # type: ignore[arg-type]
                    if agency is not None:
                        query = query.where(Complaint.agency_id == agency)
                    return int((await session.exec(query)).one())

                new = await count(col(Complaint.submitted_at) >= now - timedelta(days=1))
                due_today = await count(active_deadline() >= now, active_deadline() <= day_end)
                overdue = await count(active_deadline() < now)
                locale = self.translator.pick(
                    await locale_of(session=session, telegram_id=member.telegram_id)
                )
                dead_line = (
                    self.translator(locale, "duty.digest_dead", count=dead)
                    if member.role == Role.SUPERADMIN and dead
                    else Markup("")
                )
                text = self.translator(
                    locale,
                    "duty.digest",
                    date=local_day.strftime("%d-%m-%Y"),
                    new=new,
                    due_today=due_today,
                    overdue=overdue,
                    dead=dead_line,
                )
                await enqueue(
                    session=session,
                    chat_id=member.telegram_id,
                    message=Message(text),
                    audience=Audience.STAFF,
                    now=now,
                    staff_id=member.id,
                    dedupe_key=f"digest:{local_day.isoformat()}:{member.id}",
                )
            return len(staff_rows)

        return await self._run("digest", work)

    # --- retention ----------------------------------------------------------------------

    async def prune(self, now: datetime) -> int:
        """Delete handled update ids and finished notifications past their retention.

        ``PROCESSED_UPDATE_RETENTION_DAYS`` (Telegram redelivers an update for at most a day)
        and ``NOTIFICATION_RETENTION_DAYS`` (sent, dead or unreachable; never those of a
        report still open, whose dedupe keys keep a duty from repeating a notice).
        """

        async def work(session: AsyncSession) -> int:
            updates = await prune_processed(
                session=session,
                before=now - timedelta(days=self.settings.processed_update_retention_days),
            )
            notices = await prune_finished(
                session=session,
                before=now - timedelta(days=self.settings.notification_retention_days),
                open_statuses=[s.value for s in NOT_TERMINAL],
            )
            if updates or notices:
                log.info("pruned %s handled update ids and %s old notifications", updates, notices)
            return updates + notices

        return await self._run("prune", work)


class _Recipients:
    """Who handles an agency's reports (its staff; the superadmins for unrouted ones), looked
    up once per duty run: a scan over many overdue reports asked again for each."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._known: dict[int | None, list[Staff]] = {}

    async def handling(self, agency_id: int | None) -> list[Staff]:
        """The agency's active staff, or the superadmins for ``None``."""
        if agency_id not in self._known:
            self._known[agency_id] = (
                await staff_of_agency(session=self.session, agency_id=agency_id)
                if agency_id is not None
                else await superadmins(session=self.session)
            )
        return self._known[agency_id]


def _aware(moment: datetime) -> datetime:
    """Aggregates come back naive from SQLite; the stored values are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
