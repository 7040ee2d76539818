"""A report's history: appending its events, and saying them in a reader's language.

An event keeps what a person wrote in ``text`` and any code in ``detail`` (a verdict, channel,
privacy, reject reason, rating, ``category:<code>`` or ``kind:<value>``); the code is only
ever shown through the catalog, in the language of whoever reads the history.
"""

from __future__ import annotations

import html

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.casework.work import Work
from bot.core.events import Attachment
from bot.core.i18n import Markup, Translator
from bot.core.lifecycle import Action, Actor, Channel, Status
from storage.complaints import add_event
from storage.models import Category, Complaint, ComplaintEvent
from storage.reference import category_by_code


async def record(
    work: Work,
    complaint: Complaint,
    action: Action,
    before: Status | None,
    *,
    text: str | None = None,
    detail: str | None = None,
    visible: bool = True,
    media: tuple[Attachment, ...] = (),
) -> ComplaintEvent:
    """Append the event for ``action`` by the work's actor (after the status changed)."""
    return await add_event(
        session=work.session,
        complaint=complaint,
        actor=work.actor_kind,
        actor_id=work.actor_id,
        action=action.value,
        from_status=before.value if before is not None else None,
        text=text,
        detail=detail,
        citizen_visible=visible,
        now=work.now,
        media=media,
    )


async def describe(
    session: AsyncSession, translator: Translator, locale: str, event: ComplaintEvent
) -> Markup:
    """What happened, in ``locale``: the action's label and its code's label (not the text)."""
    what = translator(locale, _label_key(event))
    detail = await _detail(session, translator, locale, event)
    return translator(locale, "event.with_detail", what=what, detail=detail) if detail else what


def _label_key(event: ComplaintEvent) -> str:
    if event.action == Action.CLOSE and event.actor == Actor.SYSTEM:
        return "event.auto_close"
    if event.action == Action.SUBMIT and event.actor == Actor.STAFF:
        return "event.registered"  # an offline report, registered by a city admin
    return f"event.{event.action}"


async def _detail(
    session: AsyncSession, translator: Translator, locale: str, event: ComplaintEvent
) -> Markup | None:
    code = event.detail
    if not code:
        return None
    prefix = {
        Action.CLOSE.value: "verdict",
        Action.REOPEN.value: "verdict",
        Action.SUBMIT.value: "channel",
        Action.PRIVACY.value: "privacy",
        Action.REJECT.value: "reject",
    }.get(event.action)
    if prefix is not None:
        return translator(locale, f"{prefix}.{code}")
    if event.action == Action.RATE and code.isdigit():
        return Markup("★" * int(code))
    if event.action == Action.RECLASSIFY:
        kind, _, value = code.partition(":")
        if kind == "kind":
            return translator(locale, f"kind.{value}")
        category: Category | None = await category_by_code(session=session, code=value)
        return Markup(html.escape(category.name(locale), quote=False)) if category else None
    return None


def channel_of(complaint: Complaint) -> str | None:
    """The detail of a submission: the channel, when it was not Telegram."""
    return None if complaint.channel == Channel.TELEGRAM else complaint.channel
