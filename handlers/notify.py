"""Telling someone other than the acting user: rendered in their language, sent via the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.core.events import Attachment
from bot.core.i18n import Translator
from bot.core.replies import Button, Keyboard, Message
from handlers.context import Context
from storage.models import Citizen, Complaint, Staff
from storage.outbox import Audience, enqueue
from storage.staff import locale_of

ButtonsFor = Callable[[Translator, str], Keyboard]


async def tell_citizen(
    ctx: Context,
    complaint: Complaint,
    key: str,
    *,
    buttons: ButtonsFor | None = None,
    media: tuple[Attachment, ...] = (),
    dedupe_key: str | None = None,
    **values: object,
) -> bool:
    """Queue a message to the report's citizen; False when nobody can be reached on Telegram."""
    if complaint.citizen_id is None:
        return False
    citizen = await ctx.session.get(Citizen, complaint.citizen_id)
    if citizen is None or citizen.telegram_id is None:
        return False
    locale = ctx.translator.pick(citizen.locale)
    text = ctx.translator(locale, key, code=complaint.tracking_code, **values)
    await enqueue(
        session=ctx.session,
        chat_id=citizen.telegram_id,
        message=Message(
            text, buttons=buttons(ctx.translator, locale) if buttons else (), media=media
        ),
        audience=Audience.CITIZEN,
        now=ctx.now,
        complaint_id=complaint.id,
        citizen_id=citizen.id,
        dedupe_key=dedupe_key,
    )
    return True


def open_case_button(complaint: Complaint) -> ButtonsFor:
    """A button under a staff notification that opens the case card."""

    def build(translator: Translator, locale: str) -> Keyboard:
        label = translator(locale, "staff.button.open_case", code=complaint.tracking_code)
        return ((Button(label, f"s:case:{complaint.id}"),),)

    return build


async def tell_staff(
    ctx: Context,
    recipients: Iterable[Staff],
    complaint: Complaint,
    key: str,
    **values: object,
) -> None:
    """Queue a message to each staff member (except the one acting), with an Open button."""
    for staff in recipients:
        if ctx.staff is not None and staff.id == ctx.staff.id:
            continue
        locale = ctx.translator.pick(
            await locale_of(session=ctx.session, telegram_id=staff.telegram_id)
        )
        text = ctx.translator(locale, key, code=complaint.tracking_code, **values)
        await enqueue(
            session=ctx.session,
            chat_id=staff.telegram_id,
            message=Message(text, buttons=open_case_button(complaint)(ctx.translator, locale)),
            audience=Audience.STAFF,
            now=ctx.now,
            complaint_id=complaint.id,
            staff_id=staff.id,
        )
