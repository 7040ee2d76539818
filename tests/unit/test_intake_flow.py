"""The citizen flows, step by step, through the real processor on SQLite — no Telegram involved."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.app import App
from bot.core.replies import ClearButtons, EditMessage, Message, Notice
from bot.settings import Settings
from storage.models import Complaint
from storage.unit_of_work import UnitOfWork
from tests.support.flow_driver import Citizen, FakeClock, button, buttons, photo, running_app

DESCRIPTION = (
    "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu belum diperbaiki."
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    async with running_app(settings, clock) as app:
        yield app


@pytest.fixture
def siti(app: App) -> Citizen:
    return Citizen(app)


def step_of(citizen: Citizen) -> str:
    """The step the last question belongs to, read from its buttons or text."""
    data = [b.callback for b in buttons(citizen.last) if b.callback and b.callback.startswith("i:")]
    if data:
        return data[-1].split(":")[1]
    reply_keys = [r for r in citizen.last if isinstance(r, Message) and r.reply_keys]
    return "location" if reply_keys else "?"


async def fill_until(citizen: Citizen, step: str) -> None:
    """Answer each step with valid input until ``step`` is asked."""
    await citizen.say("/new")
    answers = {
        "kind": lambda: citizen.press("i:kind:complaint"),
        "category": lambda: citizen.press(button(citizen.last, "Jalan").callback or ""),
        "description": lambda: citizen.say(DESCRIPTION),
        "location": lambda: citizen.send_location(0.9186, 104.4554),
        "attachments": lambda: citizen.press("i:attachments:done"),
        "privacy": lambda: citizen.press("i:privacy:anonymous"),
    }
    for current in ("kind", "category", "description", "location", "attachments", "privacy"):
        if current == step:
            return
        assert step_of(citizen) == current, citizen.text
        await answers[current]()
    assert step == "summary"


async def file_report(citizen: Citizen) -> str:
    """File a complete report and return its tracking code."""
    await fill_until(citizen, "summary")
    await citizen.press("i:summary:submit")
    code = next(b.callback for b in buttons(citizen.last) if (b.callback or "").startswith("m:st:"))
    assert code is not None
    return code.removeprefix("m:st:")


async def test_start_greets_in_indonesian_by_default_with_the_main_buttons(siti: Citizen) -> None:
    await siti.say("/start")
    assert "Halo, Siti" in siti.text
    assert [b.callback for b in buttons(siti.last)] == ["m:new", "m:mine:0", "m:help"]


async def test_start_follows_the_telegram_language(app: App) -> None:
    john = Citizen(app, user_id=2002, language="en-GB", first_name="John")
    await john.say("/start")
    assert "Hello, John" in john.text


async def test_a_whole_report_gets_a_code_and_the_verification_deadline(siti: Citizen) -> None:
    await fill_until(siti, "summary")
    assert "Ringkasan" in siti.text or "Periksa kembali" in siti.text
    assert "0.91860" in siti.text  # the shared point is in the summary
    await siti.press("i:summary:submit")
    assert "TPI-2026-000001" in siti.text
    # Monday 30 Nov 09:00 WIB + 3 working days = end of Thursday 3 Dec.
    assert "03-12-2026 23:59 WIB" in siti.text
    await siti.say("/new")
    assert step_of(siti) == "kind"  # the draft is gone, a new one starts


async def test_submit_pressed_again_shows_the_same_receipt_and_files_nothing(
    siti: Citizen, app: App
) -> None:
    """A receipt lost on the way (a crash after the commit) is had again by pressing Submit."""
    await fill_until(siti, "summary")
    await siti.press("i:summary:submit")
    first = siti.text
    assert "TPI-2026-000001" in first
    await siti.press("i:summary:submit")
    assert siti.texts == [first]
    async with UnitOfWork(app.sessions) as uow:
        count = (await uow.session.exec(select(func.count()).select_from(Complaint))).one()
    assert count == 1
    await siti.say("/new")  # anything else ends the receipt
    await siti.press("i:summary:submit")
    assert "TPI-2026-000001" not in siti.text


async def test_alias_lapor_starts_the_same_flow(siti: Citizen) -> None:
    await siti.say("/lapor")
    assert step_of(siti) == "kind"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jalan rusak", "Terlalu pendek (11 karakter)"),
        ("x" * 3001, "Terlalu panjang (3001 karakter)"),
    ],
)
async def test_a_bad_description_is_explained_and_asked_again(
    siti: Citizen, text: str, expected: str
) -> None:
    await fill_until(siti, "description")
    await siti.say(text)
    assert expected in siti.text
    assert step_of(siti) == "description"
    await siti.say(DESCRIPTION)
    assert step_of(siti) == "location"


async def test_buttons_only_steps_say_so_for_typed_text(siti: Citizen) -> None:
    await fill_until(siti, "kind")
    await siti.say("pengaduan saja")
    assert "pilih salah satu tombol" in siti.text
    assert step_of(siti) == "kind"


async def test_back_returns_to_the_previous_step_and_keeps_answers(siti: Citizen) -> None:
    await fill_until(siti, "description")
    await siti.press("i:description:back")
    assert step_of(siti) == "category"
    assert isinstance(siti.last[0], ClearButtons)
    await siti.press(button(siti.last, "Sampah").callback or "")
    await siti.say(DESCRIPTION)
    await siti.say("Jl. Merdeka No. 5, Tanjungpinang Kota")
    assert "Alamat tersimpan" in siti.text
    assert any(isinstance(r, Message) and r.remove_keys for r in siti.last)


async def test_first_step_has_cancel_but_no_back(siti: Citizen) -> None:
    await siti.say("/new")
    assert [b.callback for b in buttons(siti.last)][-1] == "i:kind:cancel"
    assert "i:kind:back" not in [b.callback for b in buttons(siti.last)]


async def test_location_keyboard_back_and_skip(siti: Citizen) -> None:
    await fill_until(siti, "location")
    keys = next(r for r in siti.last if isinstance(r, Message) and r.reply_keys).reply_keys
    assert keys[0][0].request_location
    await siti.say("⬅️ Kembali")
    assert step_of(siti) == "description"
    await siti.say(DESCRIPTION)
    await siti.say("⏭ Lewati")
    assert "Lokasi dilewati" in siti.text
    assert step_of(siti) == "attachments"


async def test_a_too_short_address_is_refused(siti: Citizen) -> None:
    await fill_until(siti, "location")
    await siti.say("Jl")
    assert "Ketik alamat" in siti.text
    assert step_of(siti) == "location"


async def test_cancel_asks_first_and_no_keeps_the_draft(siti: Citizen) -> None:
    await fill_until(siti, "description")
    await siti.press("i:description:cancel")
    assert "Buang draf ini?" in siti.text
    await siti.press("x:no")
    assert step_of(siti) == "description"
    await siti.say("/cancel")
    await siti.press("x:yes")
    assert "Draf dibuang" in siti.text
    await siti.say("/new")
    assert "Mari membuat laporan baru" in siti.text


async def test_cancel_without_draft_says_there_is_nothing(siti: Citizen) -> None:
    await siti.say("/cancel")
    assert "Tidak ada draf" in siti.text


async def test_a_stale_button_only_re_asks_the_current_step(siti: Citizen) -> None:
    await fill_until(siti, "description")
    await siti.press("i:kind:aspiration")
    assert isinstance(siti.last[0], Notice)
    assert step_of(siti) == "description"


async def test_a_forged_button_value_changes_nothing(siti: Citizen) -> None:
    await fill_until(siti, "category")
    await siti.press("i:category:99999")
    assert isinstance(siti.last[0], Notice)
    assert step_of(siti) == "category"


async def test_an_album_is_taken_whole_or_not_at_all(siti: Citizen) -> None:
    await fill_until(siti, "attachments")
    await siti.send_media(*(photo() for _ in range(6)))
    assert "Tidak ada yang ditambahkan" in siti.text
    await siti.send_media(photo("depan"), photo("samping"))
    assert "2 dari 5 terlampir" in siti.text
    assert "Selesai (2 terlampir)" in button(siti.last, "Selesai").text
    await siti.send_media(photo(), photo(), photo())
    assert step_of(siti) == "privacy"  # full: moves on by itself


async def test_unsupported_content_is_named_and_the_step_asked_again(siti: Citizen) -> None:
    await fill_until(siti, "attachments")
    await siti.send_unsupported("sticker")
    assert "stiker" in siti.text
    assert step_of(siti) == "attachments"


async def test_a_photo_sent_early_is_kept_and_its_caption_used(siti: Citizen) -> None:
    await fill_until(siti, "description")
    await siti.send_media(photo(DESCRIPTION))
    assert "1 lampiran disimpan" in siti.text
    assert step_of(siti) == "location"
    await siti.send_location(0.9, 104.4)
    assert "1 dari 5" in siti.text or "(1 sejauh ini" in siti.text


async def test_edit_jumps_to_a_step_and_returns_to_the_summary(siti: Citizen) -> None:
    await fill_until(siti, "summary")
    await siti.press("i:summary:edit")
    await siti.press("i:summary:goto_description")
    assert "Teks saat ini" in siti.text
    await siti.say("Lampu jalan mati di Jl. Ganet sejak Senin malam, gelap dan rawan kecelakaan.")
    assert step_of(siti) == "summary"
    assert "Lampu jalan mati" in siti.text
    await siti.press("i:summary:edit")
    await siti.press("i:summary:goto_privacy")
    await siti.press("i:privacy:back")
    assert step_of(siti) == "summary"


async def test_user_text_is_escaped_in_the_summary(siti: Citizen) -> None:
    await fill_until(siti, "description")
    await siti.say("<b>Parit</b> & got tersumbat di Jl. Pemuda, air meluap ke rumah warga.")
    await siti.say("⏭ Lewati")
    await siti.press("i:attachments:done")
    await siti.press("i:privacy:public")
    assert "&lt;b&gt;Parit&lt;/b&gt; &amp; got" in siti.text


async def test_submissions_are_limited_per_day_and_the_draft_is_kept(
    siti: Citizen, clock: FakeClock
) -> None:
    for _ in range(5):
        await file_report(siti)
        clock.advance(minutes=10)
    await fill_until(siti, "summary")
    await siti.press("i:summary:submit")
    assert "5 laporan dalam 24 jam" in siti.text
    assert "01-12-2026 09:00 WIB" in siti.text
    assert step_of(siti) == "summary"
    clock.advance(hours=24)
    await siti.press("i:summary:submit")
    assert "TPI-2026-000006" in siti.text


async def test_a_draft_expires_after_the_configured_time(siti: Citizen, clock: FakeClock) -> None:
    await fill_until(siti, "description")
    clock.advance(hours=47)
    await siti.say(DESCRIPTION)
    assert step_of(siti) == "location"  # activity keeps it alive
    clock.advance(hours=49)
    await siti.say("Jl. Merdeka No. 5")
    assert "dihapus karena tidak ada aktivitas selama 48 jam" in siti.text


async def test_status_shows_own_reports_and_hides_others_the_same_way(app: App) -> None:
    siti, budi = Citizen(app, user_id=1), Citizen(app, user_id=2)
    code = await file_report(siti)
    await siti.say(f"/status {code.lower()}")
    assert "Terkirim — menunggu verifikasi" in siti.text
    assert "Batas verifikasi" in siti.text
    assert "Laporan dikirim" in siti.text
    await budi.say(f"/status {code}")
    other = budi.text
    await budi.say("/status TPI-2026-999999")
    assert budi.text.replace("TPI-2026-999999", code) == other
    await siti.say(f"/start status_{code}")
    assert code in siti.text and "Status" in siti.text


async def test_status_without_a_code_explains_the_usage(siti: Citizen) -> None:
    await siti.say("/status")
    assert "/status TPI-2026-000042" in siti.text


async def test_mine_pages_by_five_newest_first(siti: Citizen, clock: FakeClock) -> None:
    await siti.say("/mine")
    assert "belum punya laporan" in siti.text
    codes = []
    for _ in range(7):
        codes.append(await file_report(siti))
        clock.advance(days=1)
    await siti.say("/mine")
    assert "halaman 1 dari 2 (7 laporan)" in siti.text
    assert siti.text.index(codes[6]) < siti.text.index(codes[2])
    assert codes[1] not in siti.text
    await siti.press("m:mine:1")
    page = siti.last[0]
    assert isinstance(page, EditMessage)
    assert codes[0] in page.text and codes[1] in page.text and codes[2] not in page.text


async def test_language_choice_is_remembered(siti: Citizen) -> None:
    await siti.say("/lang")
    await siti.press("l:en")
    assert "Language set to English" in siti.text
    await siti.say("/start")
    assert "Hello, Siti" in siti.text


async def test_help_in_the_middle_of_a_draft_shows_the_step_again(siti: Citizen) -> None:
    await fill_until(siti, "category")
    await siti.say("/help")
    assert "Cara kerja" in siti.text
    assert step_of(siti) == "category"


async def test_text_outside_a_flow_gets_the_menu(siti: Citizen) -> None:
    await siti.say("halo, apa kabar?")
    assert "tidak mengerti" in siti.text
    assert "m:new" in [b.callback for b in buttons(siti.last)]
    await siti.send_unsupported("sticker")
    assert "jenis pesan itu" in siti.text


async def test_a_photo_outside_a_flow_offers_a_report_with_it(siti: Citizen) -> None:
    await siti.send_media(photo("lubang"))
    assert "laporan baru dengan ini" in siti.text
    await siti.press("o:yes")
    assert step_of(siti) == "kind"
    await fill_until(siti, "summary")  # /new resumes the draft, which has the photo
    assert "1 berkas" in siti.text


async def test_unknown_commands_are_answered(siti: Citizen) -> None:
    await siti.say("/foo")
    assert "tidak saya kenal" in siti.text


async def test_group_chats_are_pointed_to_the_private_chat(app: App) -> None:
    group = Citizen(app, chat_type="group")
    await group.say("/new")
    assert "chat pribadi" in group.text
    assert await group.say("hello everyone") == []


async def test_a_redelivered_update_is_skipped(app: App) -> None:
    from bot.core.events import Event, Sender

    event = Event(update_id=987654, chat_id=5, user=Sender(5, "Ani"), text="/new")
    assert await app.processor.process(event)
    assert await app.processor.process(event) == []


async def test_every_button_fits_telegrams_limit(siti: Citizen) -> None:
    await fill_until(siti, "summary")
    for b in buttons(siti.last):
        assert len((b.callback or "").encode()) <= 64


def test_flows_and_domain_import_no_telegram_framework() -> None:
    code = (
        "import sys, handlers.router, bot.processing, storage.complaints;"
        # Everything outside bot/telegram/ is framework-free, the composition root included.
        "import bot.app, bot.runtime, bot.pipeline, bot.outbox, bot.sending, bot.updates;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aiogram', 'telegram')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
