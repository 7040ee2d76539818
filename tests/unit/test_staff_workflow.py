"""Staff work through the real processor on SQLite: invitations, routing, questions, follow-up.

Notifications are checked in the outbox table, where the dispatcher picks them up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.core.replies import Message, Notice
from storage.models import Complaint, ComplaintEvent, Notification
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen, FakeClock, buttons, photo, running_app
from tests.unit.test_intake_flow import file_report

ADMIN = 9001
OFFICER = 9002
OTHER_OFFICER = 9003


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = make_settings(tmp_path, admin_ids=str(ADMIN))
    async with running_app(settings, FakeClock(), bot_username="aduan_test_bot") as app:
        yield app


async def outbox(app: App, chat_id: int | None = None) -> list[str]:
    """Texts queued in the outbox (for one chat), oldest first."""
    async with UnitOfWork(app.sessions) as uow:
        query = select(Notification).order_by(col(Notification.id))
        if chat_id is not None:
            query = query.where(Notification.chat_id == chat_id)
        return [n.payload["text"] for n in (await uow.session.exec(query)).all()]


async def complaint(app: App, code: str) -> Complaint:
    async with UnitOfWork(app.sessions) as uow:
        found = (
            await uow.session.exec(select(Complaint).where(Complaint.tracking_code == code))
        ).one()
        return found


async def join_as(app: App, admin: Citizen, user_id: int, role_args: str) -> Citizen:
    """The admin invites, the new staff member opens the link."""
    await admin.say(f"/staff invite {role_args}")
    link = next(word for word in admin.text.split() if "start=join_" in word)
    member = Citizen(app, user_id=user_id, first_name=f"Staff{user_id}")
    await member.say(f"/start {link.split('start=')[1]}")
    assert "Selamat datang" in member.text
    return member


@pytest.fixture
async def team(app: App) -> tuple[Citizen, Citizen, Citizen]:
    admin = Citizen(app, user_id=ADMIN, first_name="Admin")
    officer = await join_as(app, admin, OFFICER, "agency_admin pupr")
    other = await join_as(app, admin, OTHER_OFFICER, "agency_admin dinkes")
    return admin, officer, other


async def test_an_invitation_works_once_and_names_the_link(app: App) -> None:
    admin = Citizen(app, user_id=ADMIN)
    await admin.say("/staff invite agency_admin pupr")
    assert "https://t.me/aduan_test_bot?start=join_" in admin.text
    link = next(w for w in admin.text.split() if "start=join_" in w).split("start=")[1]
    await Citizen(app, user_id=5).say(f"/start {link}")
    late = Citizen(app, user_id=6)
    await late.say(f"/start {link}")
    assert "tidak sah, sudah dipakai" in late.text
    await admin.say("/staff invite agency_admin nowhere")
    assert "tidak dikenal" in admin.text and "pupr" in admin.text


async def test_only_superadmins_manage_staff(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    _, officer, _ = team
    await officer.say("/staff invite superadmin")
    assert "tidak berwenang" in officer.text
    stranger = Citizen(app, user_id=77)
    await stranger.say("/inbox")
    assert "tidak berwenang" in stranger.text


async def test_the_whole_route_from_submission_to_follow_up(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, officer, other = team
    siti = Citizen(app, user_id=1001)
    code = await file_report(siti)
    await admin.say("/inbox")
    assert code in admin.text
    case_id = (await complaint(app, code)).id
    await admin.press(f"s:case:{case_id}")
    assert "➡️ Teruskan" in [b.text for b in buttons(admin.last)]
    await admin.press(f"s:fwd:{case_id}")
    assert any(b.text.startswith("⭐") for b in buttons(admin.last))
    await admin.press(f"s:fwdto:{case_id}:1")
    assert "diteruskan" in admin.text
    assert any("Laporan baru" in text for text in await outbox(app, OFFICER))
    assert any("diverifikasi dan diteruskan" in t for t in await outbox(app, siti.user_id))

    await other.say(f"/case {code}")
    assert "Tidak ada laporan" in other.text  # another agency cannot even see it

    await officer.press(f"s:ask:{case_id}")
    await officer.say("Di sisi jalan yang mana tepatnya?")
    assert (await complaint(app, code)).status == "needs_info"
    question = (await outbox(app, siti.user_id))[-1]
    assert "Di sisi jalan yang mana" in question

    await siti.press(f"c:ans:{case_id}")
    await siti.send_media(photo("Sisi kiri, depan warung"))
    assert "jawaban Anda" in siti.text
    assert (await complaint(app, code)).status == "assigned"
    assert "Sisi kiri" in (await outbox(app, OFFICER))[-1]

    await officer.press(f"s:ack:{case_id}")
    await officer.press(f"s:ackf:{case_id}:0")
    await officer.say(f"/progress {code} Tim sudah meninjau lokasi.")
    await officer.press(f"s:res:{case_id}")
    await officer.say("Lubang sudah ditambal pada 2 Desember.")
    await officer.send_media(photo("hasil"))
    await officer.press(f"s:resgo:{case_id}")
    final = await complaint(app, code)
    assert final.status == "resolved" and final.completion_due_at is not None
    texts = await outbox(app, siti.user_id)
    markers = [
        "diteruskan",
        "Petugas bertanya",
        "sedang menangani",
        "Perkembangan",
        "sudah ditambal",
    ]
    assert [next(m for m in markers if m in t) for t in texts] == markers
    async with UnitOfWork(app.sessions) as uow:
        actions = [
            e.action
            for e in (
                await uow.session.exec(
                    select(ComplaintEvent)
                    .where(ComplaintEvent.complaint_id == final.id)
                    .order_by(col(ComplaintEvent.id))
                )
            ).all()
        ]
    assert actions == [
        "submitted",
        "forward",
        "ask",
        "answer",
        "acknowledge",
        "progress",
        "resolve",
    ]


async def test_hand_back_returns_the_report_to_the_city_admins(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, officer, _ = team
    code = await file_report(Citizen(app, user_id=1002))
    case_id = (await complaint(app, code)).id
    await admin.press(f"s:fwdto:{case_id}:1")
    await officer.press(f"s:back:{case_id}")
    await officer.say("Ini jalan provinsi, bukan kewenangan kota.")
    handed = await complaint(app, code)
    assert handed.status == "submitted" and handed.agency_id is None
    assert "jalan provinsi" in (await outbox(app, ADMIN))[-1]
    await admin.say("/inbox")
    assert "↩️" in admin.text


async def test_reject_as_duplicate_links_the_original(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, _, _ = team
    siti = Citizen(app, user_id=1003)
    first = await file_report(siti)
    second = await file_report(siti)
    case_id = (await complaint(app, second)).id
    await admin.press(f"s:rejr:{case_id}:duplicate")
    await admin.say("TPI-2099-000001")
    assert "Tidak ada laporan lain" in admin.text
    await admin.say(first)
    rejected = await complaint(app, second)
    assert (
        rejected.status == "rejected"
        and rejected.duplicate_of_id == (await complaint(app, first)).id
    )
    assert first in (await outbox(app, siti.user_id))[-1]


async def test_a_forged_or_untimely_press_changes_nothing(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, officer, other = team
    code = await file_report(Citizen(app, user_id=1004))
    case_id = (await complaint(app, code)).id
    for actor, data in (
        (officer, f"s:fwdto:{case_id}:1"),  # not a superadmin
        (other, f"s:ackf:{case_id}:0"),
        (admin, f"s:ackf:{case_id}:0"),  # acknowledging is the agency's job
        (admin, "s:fwdto:99999:1"),
        (admin, f"s:nonsense:{case_id}"),
    ):
        await actor.press(data)
        assert isinstance(actor.last[0], Notice) and "tidak berwenang" in actor.last[0].text
    untouched = await complaint(app, code)
    assert untouched.status == "submitted" and untouched.agency_id is None


async def test_anonymous_reporters_stay_hidden_from_agencies(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, officer, _ = team
    siti = Citizen(app, user_id=424242, first_name="Rahasia Siti")
    code = await file_report(siti)  # file_report picks "anonymous"
    case_id = (await complaint(app, code)).id
    await admin.press(f"s:case:{case_id}")
    assert "Rahasia Siti" in admin.text and "424242" in admin.text
    await admin.press(f"s:fwdto:{case_id}:1")
    await officer.press(f"s:case:{case_id}")
    card = officer.text
    assert "Rahasia Siti" not in card and "424242" not in card and "disembunyikan" in card
    for text in await outbox(app, OFFICER):
        assert "Rahasia Siti" not in text and "424242" not in text
    assert all(isinstance(r, Message) for r in officer.last)


async def test_offline_intake_and_the_claim_link(app: App) -> None:
    admin = Citizen(app, user_id=ADMIN, first_name="Admin")
    await admin.say("/intake")
    assert "Langkah 1 dari 8" in admin.text
    await admin.press("i:channel:walk_in")
    await admin.say("Pak Budi, 0812-3456-7890")
    await admin.press("i:kind:complaint")
    await admin.press("i:category:1")
    await admin.say("Lampu jalan di Jl. Ganet mati sejak Senin malam, gelap dan rawan kecelakaan.")
    await admin.say("Jl. Ganet, Tanjungpinang Timur")
    await admin.press("i:attachments:done")
    await admin.press("i:privacy:public")
    assert "Datang langsung" in admin.text and "0812-3456-7890" in admin.text
    await admin.press("i:summary:submit")
    link = next(w for w in admin.text.split() if "start=claim_" in w)
    code = next(
        w
        for w in admin.text.replace("<code>", " ").replace("</code>", " ").split()
        if w.startswith("TPI-")
    )
    registered = await complaint(app, code)
    assert registered.channel == "walk_in" and registered.citizen_id is None
    assert registered.reporter_contact == "Pak Budi, 0812-3456-7890"

    budi = Citizen(app, user_id=3003, first_name="Budi")
    await budi.say(f"/start {link.split('start=')[1]}")
    assert "terhubung dengan Anda" in budi.text and code in budi.text
    await budi.say(f"/status {code}")
    assert "Terkirim" in budi.text
    stranger = Citizen(app, user_id=3004)
    await stranger.say(f"/start {link.split('start=')[1]}")
    assert "tidak sah atau sudah dipakai" in stranger.text

    await admin.press(f"s:fwdto:{registered.id}:1")
    assert "diteruskan" in (await outbox(app, budi.user_id))[-1]


async def test_offline_intake_is_for_city_admins_only(app: App) -> None:
    citizen = Citizen(app, user_id=4004)
    await citizen.say("/intake")
    assert "tidak berwenang" in citizen.text


async def test_a_citizen_can_answer_in_the_middle_of_a_new_draft(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, _, _ = team
    siti = Citizen(app, user_id=1005)
    code = await file_report(siti)
    case_id = (await complaint(app, code)).id
    await admin.press(f"s:ask:{case_id}")
    await admin.say("Apakah lubangnya di depan nomor 12?")
    await siti.say("/new")
    await siti.press("i:kind:aspiration")
    await siti.press(f"c:ans:{case_id}")
    await siti.say("Ya, tepat di depan nomor 12.")
    assert "jawaban Anda" in siti.text and "Langkah 2 dari 6" in siti.text  # draft resumed
    assert (await complaint(app, code)).status == "submitted"


async def test_undeliverable_notifications_are_shown_to_city_admins(
    app: App, team: tuple[Citizen, Citizen, Citizen]
) -> None:
    admin, officer, _ = team
    code = await file_report(Citizen(app, user_id=1006))
    await admin.press(f"s:fwdto:{(await complaint(app, code)).id}:1")
    async with UnitOfWork(app.sessions) as uow:
        row = (
            await uow.session.exec(select(Notification).where(Notification.chat_id == OFFICER))
        ).one()
        row.status, row.last_error, row.attempts = "dead", "Internal Server Error", 5
        uow.session.add(row)
        await uow.commit()
    await admin.say("/inbox")
    assert "1 pemberitahuan gagal terkirim" in admin.text
    await admin.say("/outbox")
    assert "gagal: 1" in admin.text and code in admin.text and "Internal Server Error" in admin.text
    await officer.say("/outbox")
    assert "tidak berwenang" in officer.text
