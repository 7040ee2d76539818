"""What a handler gets besides the event: the session, the citizen, the conversation, tools."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Markup, Translator
from bot.core.quiet_hours import QuietHours
from bot.settings import Settings
from handlers.notify import Notifier
from storage.conversations import FlowState
from storage.models import Citizen, Staff


@dataclass
class Context:
    """Per-update context; handlers change ``state`` and the processor saves it with the rest."""

    session: AsyncSession
    settings: Settings
    translator: Translator
    calendar: WorkingCalendar
    now: datetime
    citizen: Citizen
    locale: str
    state: FlowState | None
    draft_expired: bool = False
    bot_username: str = ""
    staff: Staff | None = None

    @property
    def notifier(self) -> Notifier:
        """Queues messages to others in this update's transaction."""
        return Notifier(
            session=self.session,
            translator=self.translator,
            now=self.now,
            quiet_hours=QuietHours.parse(self.settings.quiet_hours, self.calendar.timezone),
            acting_staff_id=self.staff.id if self.staff else None,
        )

    def t(self, key: str, /, **values: object) -> Markup:
        """Catalog text in the citizen's locale, user values escaped."""
        return self.translator(self.locale, key, **values)

    def local_time(self, moment: datetime) -> str:
        """A moment as the citizen reads it: local date and time with the zone's abbreviation."""
        local = self.calendar.local(moment)
        return f"{local:%d-%m-%Y %H:%M} {local.tzname()}"
