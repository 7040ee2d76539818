"""Telling someone other than the acting user: rendered in their language, sent via the outbox.

Written by casework (and the duties' reminders) in the caller's transaction. Citizen notices
respect quiet hours (they wait until the window ends); staff ones do not. Every value that is a
catalog label is passed as ``Localized`` so each reader gets it in their own language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.callbacks import OpenCase
from bot.core.events import Attachment
from bot.core.i18n import Markup, Translator
from bot.core.quiet_hours import QuietHours
from bot.core.replies import Button, Keyboard, Message
from bot.core.text import truncate
from storage.models import Citizen, Complaint, Staff
from storage.outbox import Audience, enqueue
from storage.staff import locale_of

ButtonsFor = Callable[[Translator, str], Keyboard]


@dataclass(frozen=True)
class Localized:
    """A catalog entry used as a value: rendered in each recipient's own language."""

    key: str


# The most of a person's words a notice quotes: with the template around them the notice stays
# within Telegram's 4,096 characters (a longer quote would be refused and never arrive).
QUOTE_MAX = 3000


def _values(translator: Translator, locale: str, values: dict[str, object]) -> dict[str, object]:
    return {
        name: translator(locale, value.key)
        if isinstance(value, Localized)
        else truncate(value, QUOTE_MAX)
        if isinstance(value, str) and not isinstance(value, Markup)
        else value
        for name, value in values.items()
    }


@dataclass
class Notifier:
    """Queues notifications inside the caller's transaction."""

    session: AsyncSession
    translator: Translator
    now: datetime
    quiet_hours: QuietHours | None = None
    acting_staff_id: int | None = None
    # Staff languages read in this transaction (a duty run tells the same people many times).
    _staff_locales: dict[int, str] = field(default_factory=dict, init=False)

    async def staff_locale(self, staff: Staff) -> str:
        """The language a staff member reads."""
        if staff.telegram_id not in self._staff_locales:
            self._staff_locales[staff.telegram_id] = self.translator.pick(
                await locale_of(session=self.session, telegram_id=staff.telegram_id)
            )
        return self._staff_locales[staff.telegram_id]

    async def citizen_locale(self, complaint: Complaint) -> str:
        """The language the report's citizen reads."""
        citizen = (
            await self.session.get(Citizen, complaint.citizen_id) if complaint.citizen_id else None
        )
        return self.translator.pick(citizen.locale if citizen else None)

    async def tell_citizen(
        self,
        complaint: Complaint,
        key: str,
        *,
        buttons: ButtonsFor | None = None,
        media: tuple[Attachment, ...] = (),
        dedupe_key: str | None = None,
        **values: object,
    ) -> bool:
        """Queue a message to the report's citizen; False when nobody is reachable on Telegram."""
        if complaint.citizen_id is None:
            return False
        citizen = await self.session.get(Citizen, complaint.citizen_id)
        if citizen is None or citizen.telegram_id is None:
            return False
        locale = self.translator.pick(citizen.locale)
        text = self.translator(
            locale, key, code=complaint.tracking_code, **_values(self.translator, locale, values)
        )
        keyboard = buttons(self.translator, locale) if buttons else ()
        not_before = self.quiet_hours.next_allowed(self.now) if self.quiet_hours else self.now
        await enqueue(
            session=self.session,
            chat_id=citizen.telegram_id,
            message=Message(text, buttons=keyboard, media=media),
            audience=Audience.CITIZEN,
            now=self.now,
            not_before=not_before,
            complaint_id=complaint.id,
            citizen_id=citizen.id,
            dedupe_key=dedupe_key,
        )
        return True

    async def tell_staff(
        self,
        recipients: Iterable[Staff],
        complaint: Complaint | None,
        key: str,
        *,
        dedupe_key: str | None = None,
        media: tuple[Attachment, ...] = (),
        **values: object,
    ) -> None:
        """Queue a message to each staff member but the acting one (with an Open button).

        ``media`` (a citizen's answer, say) goes with it: one item with the text as its
        caption, several as an album followed by the text.
        """
        for staff in recipients:
            if self.acting_staff_id is not None and staff.id == self.acting_staff_id:
                continue
            locale = await self.staff_locale(staff)
            code = complaint.tracking_code if complaint else ""
            text = self.translator(
                locale, key, code=code, **_values(self.translator, locale, values)
            )
            keyboard = open_case_button(complaint)(self.translator, locale) if complaint else ()
            await enqueue(
                session=self.session,
                chat_id=staff.telegram_id,
                message=Message(text, buttons=keyboard, media=media),
                audience=Audience.STAFF,
                now=self.now,
                complaint_id=complaint.id if complaint else None,
                staff_id=staff.id,
                dedupe_key=f"{dedupe_key}:{staff.id}" if dedupe_key else None,
            )


def open_case_button(complaint: Complaint) -> ButtonsFor:
    """A button under a staff notification that opens the case card."""

    def build(translator: Translator, locale: str) -> Keyboard:
        label = translator(locale, "staff.button.open_case", code=complaint.tracking_code)
        assert complaint.id is not None
        return ((Button(label, OpenCase(complaint.id).pack()),),)

    return build
