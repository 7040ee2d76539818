"""POST /open311/v2/requests: another civic system files a report with its API key.

Decisions:
- The report enters like an offline one (bot/casework/intake.receive_open311, the system as
  actor, channel ``open311``): the same verification deadline, the superadmins' /inbox.
- The spec's ``first_name``/``last_name`` become the reporter's name and ``phone``/``email``
  the contact, seen only by staff who may see the reporter; never published.
- Privacy: the extension ``privacy`` (public, anonymous, confidential) says what the reporter
  chose; without it the report is anonymous, the strictest choice that still publishes the
  content, because nobody asked the reporter.
- ``media_url`` and ``device_id``/``account_id`` are not taken: Aduan keeps media as Telegram
  files, and has no accounts besides Telegram. ``account_id`` is answered null.
- ``token`` is the report's claim token: the reporter opens
  ``https://t.me/<bot>?start=claim_<token>`` to follow the report on Telegram.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.casework.intake import receive_open311
from bot.casework.work import SYSTEM, Work
from bot.opendata.open311_params import ApiProblem, parse_submission
from storage.api_keys import mark_api_key_used
from storage.reference import category_by_code
from storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.opendata.open311 import Open311Site

log = logging.getLogger(__name__)


async def receive(
    site: Open311Site, form: dict[str, Any], *, secret: str | None, locale: str
) -> dict[str, Any]:
    """Store the report the form describes; the spec's answer (or ``ApiProblem``)."""
    async with UnitOfWork(site.sessions) as uow:
        key = await site.authorise(uow.session, secret)
        submission = parse_submission(form, settings=site.settings)
        category = await category_by_code(session=uow.session, code=submission.service_code)
        if category is None or not category.active or category.id is None:
            raise ApiProblem(400, "open311.error.service_unknown", code=submission.service_code)
        now = site.clock()
        work = Work(site.office, SYSTEM, uow.session, now)
        report = replace(submission.report, category_id=category.id)
        complaint = await receive_open311(work, report)
        await mark_api_key_used(session=uow.session, key=key, now=now)
        await uow.commit()
    log.info("open311: report received through API key #%s", key.id)
    notice = site.say(
        locale,
        "open311.received",
        code=complaint.tracking_code,
        deadline=site.office.local_time(complaint.verify_due_at or now),
    )
    return {
        "service_request_id": complaint.tracking_code,
        "token": complaint.claim_token,
        "service_notice": notice,
        "account_id": None,
    }
