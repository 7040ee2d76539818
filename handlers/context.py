"""What a handler gets besides the event: the session, the citizen, the conversation, tools."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.casework import CitizenActor, Office, StaffActor, Work
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Markup, Translator
from bot.settings import Settings
from storage.conversations import FlowState
from storage.models import Citizen, Staff


@dataclass
class Context:
    """Per-update context; handlers change ``state`` and the processor saves it with the rest."""

    session: AsyncSession
    office: Office  # the city's rules casework applies (settings, catalogs, calendar), built once
    now: datetime
    citizen: Citizen
    locale: str
    state: FlowState | None
    draft_expired: bool = False
    bot_username: str = ""
    staff: Staff | None = None

    @property
    def settings(self) -> Settings:
        """The bot's settings."""
        return self.office.settings

    @property
    def translator(self) -> Translator:
        """The catalogs."""
        return self.office.translator

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar in the city's timezone."""
        return self.office.calendar

    def as_citizen(self) -> Work:
        """Casework done by the acting user as a citizen (their own reports)."""
        return Work(self.office, CitizenActor(self.citizen), self.session, self.now)

    def as_staff(self) -> Work:
        """Casework done by the acting user as the staff member they are now."""
        assert self.staff is not None, "as_staff() needs an active staff member"
        return Work(self.office, StaffActor(self.staff), self.session, self.now)

    def t(self, key: str, /, **values: object) -> Markup:
        """Catalog text in the citizen's locale, user values escaped."""
        return self.translator(self.locale, key, **values)

    def local_time(self, moment: datetime) -> str:
        """A moment as the citizen reads it: local date and time with the zone's abbreviation."""
        return self.office.local_time(moment)
