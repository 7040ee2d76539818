"""Every label a person reads comes from the catalog in that person's language: statuses, kinds,
channels, verdicts, privacy and reasons, in histories, cards, inboxes and notices. No raw code
(``walk_in``, ``fixed``, ``needs_info`` …) reaches anybody."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.casework import CitizenActor, Office, StaffActor, Work, handling, intake
from bot.casework import citizen as by_citizen
from bot.core.callbacks import InboxView
from bot.core.events import Attachment, AttachmentKind
from bot.core.i18n import Translator
from bot.core.lifecycle import (
    Channel,
    Privacy,
    RejectReason,
    ReportKind,
    Role,
    Status,
    Verdict,
)
from bot.core.replies import EditMessage, Notice
from storage.complaints import NewComplaint
from storage.models import Agency, Citizen, Notification, Staff
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen as User
from tests.support.flow_driver import FakeClock, photo, running_app

ADMIN_ID, ADMIN_EN, OFFICER_EN, REPORTER = 9001, 9011, 9002, 1001
VOCABULARIES = {
    "state": Status,
    "staff.state": Status,
    "kind": ReportKind,
    "channel": Channel,
    "verdict": Verdict,
    "privacy": Privacy,
    "reject": RejectReason,
}
# Codes that can only be raw codes when they show up (no sentence contains them).
CODES = sorted(
    {v.value for vocabulary in VOCABULARIES.values() for v in vocabulary if "_" in v.value}
)


def raw_codes(text: str) -> list[str]:
    """Codes that reached a text, and single-word codes shown as a history detail."""
    found = [code for code in CODES if re.search(rf"\b{code}\b", text)]
    words = {v.value for vocabulary in VOCABULARIES.values() for v in vocabulary}
    found += [m for m in re.findall(r"(?:: |\()([a-z_]+)\)?$", text, re.M) if m in words]
    return found


def test_every_status_kind_channel_verdict_has_a_label_in_both_languages() -> None:
    translator = Translator.load()
    for locale in translator.locales:
        for prefix, vocabulary in VOCABULARIES.items():
            for value in vocabulary:
                label = translator(locale, f"{prefix}.{value.value}")
                assert label and label != value.value and not raw_codes(label), (locale, label)
    for status in Status:  # staff read their own wording, never the citizen's "from you"
        assert translator("id", f"staff.state.{status}") != translator("id", f"state.{status}") or (
            status in (Status.CLOSED, Status.REJECTED, Status.IN_PROGRESS)
        )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = make_settings(tmp_path, admin_ids=f"{ADMIN_ID},{ADMIN_EN}")
    async with running_app(settings, FakeClock(), bot_username="aduan_bot") as app:
        yield app


async def _walk_offline_report(app: App, channel: Channel, kind: ReportKind) -> str:
    """Registered by an admin, claimed, forwarded, acknowledged, resolved, judged, rated."""
    office = Office.of(app.settings, app.translator, app.calendar)
    now = FakeClock().now
    async with UnitOfWork(app.sessions) as uow:
        session = uow.session
        admin = (await session.exec(select(Staff).where(Staff.telegram_id == ADMIN_ID))).one()
        officer = (await session.exec(select(Staff).where(Staff.telegram_id == OFFICER_EN))).one()
        reporter = (
            await session.exec(select(Citizen).where(Citizen.telegram_id == REPORTER))
        ).one()
        as_admin = Work(office, StaffActor(admin), session, now)
        as_officer = Work(office, StaffActor(officer), session, now)
        as_reporter = Work(office, CitizenActor(reporter), session, now)
        report = await intake.register_offline(
            as_admin,
            NewComplaint(
                kind=kind.value,
                category_id=1,
                description="Lampu jalan mati sejak seminggu di depan pasar.",
                privacy=Privacy.PUBLIC.value,
                channel=channel,
            ),
        )
        assert report.id is not None and report.claim_token is not None
        await intake.claim(as_reporter, report.claim_token)
        await handling.forward(as_admin, report.id, officer.agency_id or 0)
        await handling.acknowledge(as_officer, report.id, field_inspection=False)
        await handling.resolve(as_officer, report.id, "Lampu sudah diganti.")
        await by_citizen.close(as_reporter, report.id, 0, Verdict.PARTLY)
        await by_citizen.rate(as_reporter, report.id, 4, "Cukup cepat")
        await uow.commit()
        return report.tracking_code


async def test_histories_cards_and_notices_speak_each_readers_language(app: App) -> None:
    admin_id, admin_en = User(app, ADMIN_ID, "id", "Admin"), User(app, ADMIN_EN, "en", "Ann")
    reporter = User(app, REPORTER, "id")
    for user in (admin_id, admin_en, reporter):
        await user.say("/start")
    async with UnitOfWork(app.sessions) as uow:
        pupr = (await uow.session.exec(select(Agency).where(Agency.code == "pupr"))).one()
        uow.session.add(Staff(telegram_id=OFFICER_EN, role=Role.AGENCY_ADMIN, agency_id=pupr.id))
        await uow.commit()
    officer = User(app, OFFICER_EN, "en", "Oscar")
    await officer.say("/start")

    codes = [
        await _walk_offline_report(app, channel, kind)
        for channel, kind in zip(
            [c for c in Channel if c is not Channel.TELEGRAM],
            list(ReportKind) * 3,
            strict=False,
        )
    ]
    translator = app.translator
    for code, channel in zip(codes, [c for c in Channel if c is not Channel.TELEGRAM], strict=True):
        for user, locale in ((admin_id, "id"), (admin_en, "en")):
            await user.say(f"/case {code}")
            text = user.text
            assert raw_codes(text) == [], (locale, raw_codes(text))
            assert translator(locale, f"channel.{channel.value}") in text
            assert translator(locale, "event.registered") in text
            assert "Admin" in text  # the history names the admin who registered it
            assert translator(locale, "verdict.partly") in text and "★★★★" in text
        await reporter.say(f"/status {code}")
        assert raw_codes(reporter.text) == [] and "Sebagian selesai" in reporter.text
    await reporter.say("/lang en")
    await reporter.say(f"/status {codes[0]}")
    assert raw_codes(reporter.text) == [] and "Partly fixed" in reporter.text

    async with UnitOfWork(app.sessions) as uow:  # the officer reads the verdict in English
        notices = (
            await uow.session.exec(select(Notification).where(Notification.chat_id == OFFICER_EN))
        ).all()
    closed = [n.payload["text"] for n in notices if "closed" in n.payload["text"]]
    assert closed and all("Partly fixed" in t and "Sebagian" not in t for t in closed)


async def test_the_inbox_uses_staff_wording_and_does_not_redraw_itself(app: App) -> None:
    reporter = User(app, REPORTER, "id")
    admin = User(app, ADMIN_ID, "id", "Admin")
    for user in (reporter, admin):
        await user.say("/start")
    async with UnitOfWork(app.sessions) as uow:
        pupr = (await uow.session.exec(select(Agency).where(Agency.code == "pupr"))).one()
        uow.session.add(Staff(telegram_id=OFFICER_EN, role=Role.AGENCY_ADMIN, agency_id=pupr.id))
        await uow.commit()
    officer = User(app, OFFICER_EN, "id", "Oscar")
    await officer.say("/start")
    office = Office.of(app.settings, app.translator, app.calendar)
    async with UnitOfWork(app.sessions) as uow:  # a report waiting for the reporter's answer
        session, now = uow.session, FakeClock().now
        staff = (await session.exec(select(Staff).where(col(Staff.telegram_id) > 0))).all()
        by_id = {s.telegram_id: s for s in staff}
        row = (await session.exec(select(Citizen).where(Citizen.telegram_id == REPORTER))).one()
        report = await intake.submit(
            Work(office, CitizenActor(row), session, now),
            NewComplaint(kind="complaint", category_id=1, description="d" * 40, privacy="public"),
        )
        assert report.id is not None
        await handling.forward(
            Work(office, StaffActor(by_id[ADMIN_ID]), session, now), report.id, pupr.id or 0
        )
        await handling.ask(
            Work(office, StaffActor(by_id[OFFICER_EN]), session, now), report.id, "Di mana?"
        )
        await uow.commit()
    await officer.say("/inbox")
    assert "Menunggu jawaban pelapor" in officer.text and "dari Anda" not in officer.text
    inbox = officer.last[-1]
    buttons = [b for row in getattr(inbox, "buttons", ()) for b in row]
    all_view = next(b for b in buttons if b.callback and b.callback.startswith("s:in:all"))
    replies = await officer.press(all_view.callback or "")
    assert [type(r) for r in replies] == [Notice]  # nothing changed: no edit, no API error
    assert InboxView("all").pack() == "s:in:all:0"
    replies = await officer.press("s:in:all:0")  # an old button without a fingerprint redraws
    assert [type(r) for r in replies] == [EditMessage]


async def _waiting_for_an_answer(app: App, privacy: str) -> tuple[User, int]:
    """A report of the reporter's, forwarded to PUPR, whose officer asked a question."""
    reporter = User(app, REPORTER, "id")
    await reporter.say("/start")
    async with UnitOfWork(app.sessions) as uow:
        session, now = uow.session, FakeClock().now
        pupr = (await session.exec(select(Agency).where(Agency.code == "pupr"))).one()
        officer = Staff(telegram_id=OFFICER_EN, role=Role.AGENCY_ADMIN, agency_id=pupr.id)
        admin = (await session.exec(select(Staff).where(Staff.telegram_id == ADMIN_ID))).one()
        session.add(officer)
        row = (await session.exec(select(Citizen).where(Citizen.telegram_id == REPORTER))).one()
        office = Office.of(app.settings, app.translator, app.calendar)
        report = await intake.submit(
            Work(office, CitizenActor(row), session, now),
            NewComplaint(kind="complaint", category_id=1, description="d" * 40, privacy=privacy),
        )
        assert report.id is not None
        await handling.forward(Work(office, StaffActor(admin), session, now), report.id, pupr.id)
        await handling.ask(Work(office, StaffActor(officer), session, now), report.id, "Foto?")
        await uow.commit()
    return reporter, report.id


async def test_an_answer_that_is_only_an_album_reaches_the_officer_as_the_album(app: App) -> None:
    reporter, report_id = await _waiting_for_an_answer(app, "public")
    await reporter.press(f"c:ans:{report_id}")
    album = (photo("tiang <5 m"), photo(None))
    await reporter.event(attachments=album, media_group_id="g1")
    assert "sudah dikirim ke petugas" in reporter.text
    async with UnitOfWork(app.sessions) as uow:
        notices = (
            await uow.session.exec(select(Notification).where(Notification.chat_id == OFFICER_EN))
        ).all()
    answered = notices[-1].payload
    assert [m["file_id"] for m in answered["media"]] == [a.file_id for a in album]
    assert answered["media"][0]["caption"] == "tiang <5 m"
    assert "tiang &lt;5 m" in answered["text"]  # the caption, escaped, as the answer's text


async def test_an_anonymous_reporters_document_answer_reaches_staff_under_a_neutral_name(
    app: App,
) -> None:
    reporter, report_id = await _waiting_for_an_answer(app, "anonymous")
    await reporter.press(f"c:ans:{report_id}")
    document = Attachment(AttachmentKind.DOCUMENT, "doc-1", "u-doc-1", "KTP Siti", 2000)
    await reporter.event(attachments=(document,))
    async with UnitOfWork(app.sessions) as uow:
        notices = (
            await uow.session.exec(select(Notification).where(Notification.chat_id == OFFICER_EN))
        ).all()
    assert [m.get("file_name") for m in notices[-1].payload["media"]] == ["lampiran-1"]


async def test_a_notice_quoting_the_longest_text_stays_within_telegrams_limit(app: App) -> None:
    """Found by tests/property: 4,096 typed characters plus the template were refused by
    Telegram ("message is too long") and the notice went dead."""
    reporter = User(app, REPORTER, "id")
    await reporter.say("/start")
    async with UnitOfWork(app.sessions) as uow:
        session, now = uow.session, FakeClock().now
        admin = (await session.exec(select(Staff).where(Staff.telegram_id == ADMIN_ID))).one()
        row = (await session.exec(select(Citizen).where(Citizen.telegram_id == REPORTER))).one()
        office = Office.of(app.settings, app.translator, app.calendar)
        report = await intake.submit(
            Work(office, CitizenActor(row), session, now),
            NewComplaint(kind="complaint", category_id=1, description="d" * 40, privacy="public"),
        )
        assert report.id is not None
        await handling.reject(
            Work(office, StaffActor(admin), session, now),
            report.id,
            RejectReason.NOT_OUR_AUTHORITY,
            "x" * 4096,
        )
        await uow.commit()
        notices = (
            await session.exec(select(Notification).where(Notification.chat_id == REPORTER))
        ).all()
    text = re.sub(r"<[^>]+>", "", notices[-1].payload["text"])
    assert 3000 < len(text) <= 4096 and text.count("x") < 3000
    admin_user = User(app, ADMIN_ID, "id", "Admin")
    replies = await admin_user.say(f"/note {report.tracking_code} {'y' * 3001}")
    assert "Terlalu panjang (3001 karakter)" in replies[0].text  # type: ignore[union-attr]
