"""Who changes a report, in which transaction, when — and the city's rules they work under.

Every casework action takes one ``Work``: the explicit actor (a citizen, a staff member or the
system), the session of the caller's transaction and ``now``, plus the ``Office`` (settings,
working calendar, catalogs). Authorisation is decided here from the database rows the actor
stands for, never from anything a button carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.casework.notices import Notifier
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.lifecycle import Action, Actor, Deadline, Party, Privacy, Role, Status, may
from bot.core.quiet_hours import QuietHours
from bot.settings import Settings
from storage.models import Citizen, Complaint, Staff


class Denied(Exception):
    """The actor may not do this to this report now (or it no longer applies); nothing changed."""


@dataclass(frozen=True)
class CitizenActor:
    """A citizen acting on their own reports."""

    citizen: Citizen

    @property
    def party(self) -> Party:
        """Who this is in the lifecycle table."""
        return Actor.CITIZEN


@dataclass(frozen=True)
class StaffActor:
    """A staff member, with the role and agency the database gives them now."""

    staff: Staff

    @property
    def party(self) -> Party:
        """Who this is in the lifecycle table."""
        return Role(self.staff.role)


@dataclass(frozen=True)
class SystemActor:
    """The scheduled duties."""

    @property
    def party(self) -> Party:
        """Who this is in the lifecycle table."""
        return Actor.SYSTEM


SYSTEM = SystemActor()
Acting = CitizenActor | StaffActor | SystemActor


@dataclass(frozen=True)
class Office:
    """The city's rules a change is made under: deadlines, calendar, catalogs, quiet hours."""

    settings: Settings
    translator: Translator
    calendar: WorkingCalendar
    quiet_hours: QuietHours | None = field(default=None)

    @classmethod
    def of(cls, settings: Settings, translator: Translator, calendar: WorkingCalendar) -> Office:
        """The office for these settings (quiet hours parsed once)."""
        quiet = QuietHours.parse(settings.quiet_hours, calendar.timezone)
        return cls(settings, translator, calendar, quiet)

    def deadline(
        self, deadline: Deadline, start: datetime, *, field_inspection: bool = False
    ) -> datetime:
        """When ``deadline`` falls for a step starting at ``start`` (shared/DOMAIN.md)."""
        settings = self.settings
        if deadline is Deadline.VERIFY:
            return self.calendar.add_working_days(start, settings.verify_working_days)
        if deadline is Deadline.FIRST_RESPONSE:
            return self.calendar.add_working_days(start, settings.first_response_working_days)
        days = (
            settings.completion_days_with_inspection
            if field_inspection
            else settings.completion_days
        )
        return self.calendar.add_calendar_days(start, days)

    def local_time(self, moment: datetime) -> str:
        """A moment as people read it: local date and time with the zone's abbreviation."""
        local = self.calendar.local(moment)
        return f"{local:%d-%m-%Y %H:%M} {local.tzname()}"


@dataclass
class Work:
    """One change: the office's rules, the actor, the transaction and the moment."""

    office: Office
    actor: Acting
    session: AsyncSession
    now: datetime

    @property
    def notifier(self) -> Notifier:
        """Queues notices to others in this transaction (never to the acting staff member)."""
        acting = self.actor.staff.id if isinstance(self.actor, StaffActor) else None
        return Notifier(
            session=self.session,
            translator=self.office.translator,
            now=self.now,
            quiet_hours=self.office.quiet_hours,
            acting_staff_id=acting,
        )

    @property
    def actor_kind(self) -> Actor:
        """How the history names the actor."""
        if isinstance(self.actor, StaffActor):
            return Actor.STAFF
        return Actor.CITIZEN if isinstance(self.actor, CitizenActor) else Actor.SYSTEM

    @property
    def actor_id(self) -> int | None:
        """The staff or citizen row id the history points to (None for the system)."""
        if isinstance(self.actor, StaffActor):
            return self.actor.staff.id
        return self.actor.citizen.id if isinstance(self.actor, CitizenActor) else None


def can_view(actor: Acting, complaint: Complaint) -> bool:
    """Superadmins see all; an agency its own reports; viewers all but confidential ones;
    a citizen their own; the system everything."""
    if isinstance(actor, SystemActor):
        return True
    if isinstance(actor, CitizenActor):
        return complaint.citizen_id is not None and complaint.citizen_id == actor.citizen.id
    role = Role(actor.staff.role)
    if role is Role.SUPERADMIN:
        return True
    if role is Role.AGENCY_ADMIN:
        return complaint.agency_id is not None and complaint.agency_id == actor.staff.agency_id
    return role is Role.VIEWER and complaint.privacy != Privacy.CONFIDENTIAL


def allowed(actor: Acting, complaint: Complaint, action: Action) -> bool:
    """Whether ``actor`` may take ``action`` on this report now (the lifecycle table)."""
    return can_view(actor, complaint) and may(action, actor.party, Status(complaint.status))
