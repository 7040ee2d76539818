"""The staff workflow and scheduled notices over HTTP: citizen, city admin and agency officer,
each a simulated Telegram user of the emulator, with the real runtime, outbox and dispatcher.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.app import App
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from storage.models import Citizen as CitizenRow
from storage.models import Complaint
from storage.unit_of_work import UnitOfWork
from tests.support.flow_driver import RunningClock
from tests.support.live_bot import TelegramChat, running_bot

ADMIN, OFFICER, SITI, BUDI = 9001, 9002, 1001, 1002
DESCRIPTION = (
    "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu belum diperbaiki."
)


@pytest.fixture
def staff_settings(live_settings: Settings) -> Settings:
    return live_settings.model_copy(update={"admin_ids": [ADMIN], "outbox_interval_seconds": 0.1})


def chat(emulator: Emulator, user_id: int, name: str) -> TelegramChat:
    emulator.add_user(user_id, name, language_code="id")
    return TelegramChat(emulator, user_id)


async def file_report(citizen: TelegramChat, emulator: Emulator) -> str:
    await citizen.say("/new", "Langkah 1 dari 6")
    await citizen.press("Pengaduan", "Langkah 2 dari 6")
    await citizen.press("Jalan", "Langkah 3 dari 6")
    await citizen.say(DESCRIPTION, "Langkah 4 dari 6")
    await citizen.say("Jl. Merdeka No. 5, Tanjungpinang", "Langkah 5 dari 6")
    await citizen.press("Lewati", "Langkah 6 dari 6")
    await citizen.press("Anonim", "Periksa kembali")
    done = await citizen.press("Kirim laporan", "Kode pelacakan")
    match = re.search(r"TPI-\d{4}-\d{6}", done["text"])
    assert match
    return match.group(0)


async def officer_joins(admin: TelegramChat, officer: TelegramChat) -> None:
    invite = await admin.say("/staff invite agency_admin pupr", "start=join_")
    token = re.search(r"start=(join_[\w-]+)", invite["text"])
    assert token
    await officer.say(f"/start {token.group(1)}", "Selamat datang")


def texts(emulator: Emulator, user_id: int) -> list[str]:
    return [str(m.get("text") or m.get("caption") or "") for m in emulator.messages(user_id)]


async def wait_for_text(emulator: Emulator, user_id: int, needle: str) -> dict[str, Any]:
    return await emulator.wait_for_message(
        user_id, after=0, predicate=lambda m: needle in str(m.get("text") or ""), timeout=15
    )


async def case_id(app: App, code: str) -> int:
    async with UnitOfWork(app.sessions) as uow:
        found = (
            await uow.session.exec(select(Complaint).where(Complaint.tracking_code == code))
        ).one()
        assert found.id is not None
        return found.id


@pytest.fixture
async def world(
    emulator: Emulator, staff_settings: Settings
) -> AsyncIterator[tuple[App, TelegramChat, TelegramChat, TelegramChat]]:
    admin, officer = chat(emulator, ADMIN, "Admin"), chat(emulator, OFFICER, "Petugas")
    siti = chat(emulator, SITI, "Siti")
    async with running_bot(staff_settings) as app:
        await officer_joins(admin, officer)
        yield app, admin, officer, siti


async def test_from_filing_to_follow_up_every_notice_once_and_in_order(
    emulator: Emulator, world: tuple[App, TelegramChat, TelegramChat, TelegramChat]
) -> None:
    app, admin, officer, siti = world
    code = await file_report(siti, emulator)
    ident = await case_id(app, code)
    await admin.say("/inbox", code)
    await admin.press(code, "Pelapor")  # the case card
    await admin.press("Teruskan", "ke OPD mana")
    emulator.fail_next("sendMessage", status=429, retry_after=1)  # the bot must wait it out
    await admin.press("PUPR", "diteruskan")
    await wait_for_text(emulator, OFFICER, "Laporan baru")
    await wait_for_text(emulator, SITI, "diteruskan ke")

    await officer.say(f"/case {code}", "Pelapor")
    await officer.press("Tanya pelapor", "Tulis pertanyaan")
    emulator.fail_next("sendMessage", status=500, count=2)  # server errors on the way
    await officer.say("Di sisi jalan yang mana tepatnya?", "Pertanyaan tentang")
    question = await wait_for_text(emulator, SITI, "Petugas bertanya")

    await siti.act(lambda: emulator.click(SITI, question, f"c:ans:{ident}"), "Tulis jawaban")
    await siti.act(
        lambda: emulator.send_photo(SITI, caption="Sisi kiri, depan warung"), "jawaban Anda"
    )
    await wait_for_text(emulator, OFFICER, "Sisi kiri, depan warung")

    await officer.say(f"/case {code}", "Pelapor")
    await officer.press("Terima", "peninjauan lapangan")
    await officer.press("Tanpa peninjauan", "diterima")
    await officer.press("Tindak lanjut", "Tulis tindak lanjut")
    await officer.say("Lubang sudah ditambal pada 2 Desember.", "foto hasil")
    await officer.act(lambda: emulator.send_photo(OFFICER, caption="hasil"), "foto hasil")
    await officer.press("Kirim tindak lanjut", "Tindak lanjut")
    await wait_for_text(emulator, SITI, "sudah ditambal")
    await emulator.wait_idle(timeout=15)

    notices = [t for t in texts(emulator, SITI) if code in t and "<code>" not in t]
    markers = ["diteruskan ke", "Petugas bertanya", "sedang menangani", "sudah ditambal"]
    seen = [next(m for m in markers if m in t) for t in notices if any(m in t for m in markers)]
    assert seen == markers  # each once, in order, despite the 429 and the 500s
    photos = [m for m in emulator.messages(SITI) if m["media_type"] == "photo"]
    assert len(photos) == 1  # the follow-up photo reached the citizen


async def test_a_blocked_citizen_is_marked_unreachable(
    emulator: Emulator, world: tuple[App, TelegramChat, TelegramChat, TelegramChat]
) -> None:
    app, admin, _, siti = world
    code = await file_report(siti, emulator)
    emulator.block(SITI)
    await admin.say(f"/case {code}", "Pelapor")
    await admin.press("Teruskan", "ke OPD mana")
    await admin.press("PUPR", "diteruskan")

    async def unreachable() -> bool:
        async with UnitOfWork(app.sessions) as uow:
            row = (
                await uow.session.exec(select(CitizenRow).where(CitizenRow.telegram_id == SITI))
            ).one()
            return not row.reachable

    # The flag is in the database, where there is no event to await: poll it, bounded.
    async with asyncio.timeout(15):
        while not await unreachable():  # noqa: ASYNC110 - a database flag, no event
            await asyncio.sleep(0.05)
    assert await unreachable()
    card = await admin.say(f"/case {code}", "Tidak terjangkau")
    assert "memblokir bot" in card["text"]


async def test_offline_intake_and_claim_link(
    emulator: Emulator, world: tuple[App, TelegramChat, TelegramChat, TelegramChat]
) -> None:
    _, admin, _, _ = world
    await admin.say("/intake", "Langkah 1 dari 8")
    await admin.press("Kotak pengaduan", "Langkah 2 dari 8")
    await admin.press("Lewati", "Langkah 3 dari 8")
    await admin.press("Aspirasi", "Langkah 4 dari 8")
    await admin.press("Sampah", "Langkah 5 dari 8")
    await admin.say(
        "Mohon tambah tempat sampah di taman kota, sering penuh di akhir pekan.", "Langkah 6 dari 8"
    )
    await admin.act(lambda: emulator.press_reply_button(ADMIN, "⏭ Lewati"), "Langkah 7 dari 8")
    await admin.press("Lewati", "Langkah 8 dari 8")
    await admin.press("Biasa", "Kotak pengaduan")
    registered = await admin.press("Kirim laporan", "start=claim_")
    link = re.search(r"start=(claim_[\w-]+)", registered["text"])
    code = re.search(r"TPI-\d{4}-\d{6}", registered["text"])
    assert link and code
    budi = chat(emulator, BUDI, "Budi")
    await budi.say(f"/start {link.group(1)}", "terhubung dengan Anda")
    await admin.say(f"/case {code.group(0)}", "Pelapor")
    await admin.press("Teruskan", "ke OPD mana")
    await admin.press("DLH", "diteruskan")
    await wait_for_text(emulator, BUDI, "diteruskan ke")


async def test_overdue_notices_and_the_verdict_cycle(
    emulator: Emulator, staff_settings: Settings
) -> None:
    clock = RunningClock()  # from Monday 30 Nov 2026 09:00 WIB
    admin, officer = chat(emulator, ADMIN, "Admin"), chat(emulator, OFFICER, "Petugas")
    siti = chat(emulator, SITI, "Siti")
    async with running_bot(staff_settings, clock) as app:
        await officer_joins(admin, officer)
        code = await file_report(siti, emulator)
        await admin.say(f"/case {code}", "Pelapor")
        await admin.press("Teruskan", "ke OPD mana")
        await admin.press("PUPR", "diteruskan")  # first follow-up due Mon 7 Dec
        await wait_for_text(emulator, SITI, "diteruskan ke")

        clock.jump_to(datetime(2026, 12, 8, 2, 0, tzinfo=UTC))  # Tue 8 Dec 09:00 WIB: overdue
        await app.duties.scan_deadlines(clock())
        await app.duties.scan_deadlines(clock() + timedelta(minutes=15))
        await wait_for_text(emulator, SITI, "terlambat")
        await wait_for_text(emulator, OFFICER, "Terlambat")
        await wait_for_text(emulator, ADMIN, "Terlambat")

        await officer.say(f"/resolve {code} Lubang sudah ditambal.", "Tindak lanjut")
        first = await wait_for_text(emulator, SITI, "sudah ditambal")
        not_fixed = first["reply_markup"]["inline_keyboard"][2][0]["callback_data"]
        await siti.act(lambda: emulator.click(SITI, first, not_fixed), "Apa yang masih belum")
        await siti.say("Masih ada lubang kedua di sebelahnya.", "dibuka kembali")
        await wait_for_text(emulator, OFFICER, "belum selesai")
        stale = first["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        with pytest.raises(LookupError):  # the old follow-up has no buttons any more
            emulator.click(SITI, first, stale)

        await officer.say(f"/resolve {code} Kedua lubang sudah ditambal.", "Tindak lanjut")
        second = await wait_for_text(emulator, SITI, "Kedua lubang")
        fixed = second["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await siti.act(lambda: emulator.click(SITI, second, fixed), "Bagaimana penilaian")
        await siti.press("⭐⭐⭐⭐⭐", "saran")
        await siti.press("Lewati", "Terima kasih atas penilaian")
        await emulator.wait_idle(timeout=15)
        async with UnitOfWork(app.sessions) as uow:
            final = (
                await uow.session.exec(select(Complaint).where(Complaint.tracking_code == code))
            ).one()
    assert (final.status, final.verdict, final.rating, final.reopen_count) == (
        "closed",
        "fixed",
        5,
        1,
    )
    late = [t for t in texts(emulator, SITI) if "terlambat" in t]
    assert len(late) == 1
