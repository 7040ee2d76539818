"""A citizen files a report through each real runtime, over HTTP, against the emulator."""

from __future__ import annotations

import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlmodel import select

from bot.sandbox.emulator import Emulator
from bot.settings import BotMode, Settings
from storage.models import Attachment, Complaint, Conversation
from storage.unit_of_work import UnitOfWork
from tests.support.live_bot import TelegramChat, inline_buttons, running_bot

DESCRIPTION = (
    "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu belum diperbaiki."
)
SITI = 1001
# The bot numbers reports per local year, and these tests run on the real clock.
FIRST_CODE = f"TPI-{datetime.now(ZoneInfo('Asia/Jakarta')).year}-000001"


def citizen(emulator: Emulator, user_id: int = SITI, language: str = "id") -> TelegramChat:
    emulator.add_user(user_id, "Siti", language_code=language)
    return TelegramChat(emulator, user_id)


async def test_a_citizen_files_a_report_with_location_and_album(
    emulator: Emulator, live_settings: Settings
) -> None:
    siti = citizen(emulator)
    async with running_bot(live_settings) as app:
        await siti.say("/start", "Halo, Siti")
        await siti.press("Laporan baru", "Langkah 1 dari 6")
        await siti.press("Pengaduan", "Langkah 2 dari 6")
        await siti.press("Jalan", "Langkah 3 dari 6")
        await siti.say(DESCRIPTION, "Langkah 4 dari 6")
        keyboard = emulator.reply_keyboard(SITI)
        assert keyboard is not None and keyboard["keyboard"][0][0]["request_location"] is True
        await siti.act(
            lambda: emulator.press_reply_button(
                SITI, "📍 Kirim lokasi saya", latitude=0.9186, longitude=104.4554
            ),
            "Langkah 5 dari 6",
        )
        assert emulator.reply_keyboard(SITI) is None
        await siti.act(lambda: emulator.send_album(SITI, 2, caption="Lubangnya"), "2 dari 5")
        await siti.press("Selesai (2", "Langkah 6 dari 6")
        summary = await siti.press("Anonim", "Periksa kembali")
        assert "0.91860" in summary["text"] and "2 berkas" in summary["text"]
        done = await siti.press("Kirim laporan", FIRST_CODE)
        assert "hari kerja" in done["text"]
        mine = await siti.say("/mine", "Laporan Anda")
        assert FIRST_CODE in mine["text"]
        status = await siti.say(f"/status {FIRST_CODE}", "menunggu verifikasi")
        assert "Laporan dikirim" in status["text"]
        await emulator.wait_idle()
        assert emulator.unanswered_callback_queries() == []
        async with UnitOfWork(app.sessions) as uow:
            complaint = (await uow.session.exec(select(Complaint))).one()
            media = (await uow.session.exec(select(Attachment))).all()
    assert complaint.latitude is not None and abs(complaint.latitude - 0.9186) < 1e-6
    assert complaint.privacy == "anonymous" and complaint.description == DESCRIPTION
    assert [a.caption for a in media] == ["Lubangnya", None]
    commands = emulator.commands(language_code="en")
    assert ("new", "File a new report") in [(c["command"], c["description"]) for c in commands]


async def test_bad_input_at_every_step_is_explained_and_the_flow_goes_on(
    emulator: Emulator, live_settings: Settings
) -> None:
    siti = citizen(emulator)
    async with running_bot(live_settings):
        await siti.say("/new", "Langkah 1 dari 6")
        await siti.act(lambda: emulator.send_sticker(SITI), "stiker")
        await siti.press("Pengaduan", "Langkah 2 dari 6")
        await siti.say("jalan", "pilih salah satu tombol")
        await siti.press("Jalan", "Langkah 3 dari 6")
        await siti.say("rusak", "Terlalu pendek (5 karakter)")
        await siti.act(lambda: emulator.send_poll(SITI, "?", ["a", "b"]), "polling")
        await siti.say(DESCRIPTION, "Langkah 4 dari 6")
        await siti.say("Jl", "Ketik alamat")
        await siti.say("Jl. Merdeka No. 5, Tanjungpinang", "Langkah 5 dari 6")
        await siti.act(lambda: emulator.send_contact(SITI), "kontak")
        await siti.say("sudah", "Kirim foto")
        await siti.press("Lewati", "Langkah 6 dari 6")
        await siti.say("rahasia", "pilih salah satu tombol")
        await siti.press("Rahasia", "Periksa kembali")
        await siti.press("Kirim laporan", FIRST_CODE)
        await emulator.wait_idle()


async def test_a_restart_mid_flow_resumes_at_the_same_step(
    emulator: Emulator, live_settings: Settings
) -> None:
    siti = citizen(emulator)
    async with running_bot(live_settings):
        await siti.say("/new", "Langkah 1 dari 6")
        await siti.press("Aspirasi", "Langkah 2 dari 6")
        await siti.press("Sampah", "Langkah 3 dari 6")
    async with running_bot(live_settings):
        await siti.say(DESCRIPTION, "Langkah 4 dari 6")
        await siti.act(lambda: emulator.press_reply_button(SITI, "⏭ Lewati"), "Langkah 5 dari 6")
        await siti.press("Lewati", "Langkah 6 dari 6")
        summary = await siti.press("Biasa", "Periksa kembali")
        assert "Aspirasi" in summary["text"] and "Sampah" in summary["text"]


async def test_a_429_from_telegram_is_waited_out(
    emulator: Emulator, live_settings: Settings
) -> None:
    siti = citizen(emulator)
    async with running_bot(live_settings):
        emulator.fail_next("sendMessage", status=429, retry_after=1)
        await siti.say("/start", "Halo, Siti")
    assert emulator.stats.too_many_requests >= 1 or emulator.stats.injected_faults >= 1


async def test_english_speakers_get_english(emulator: Emulator, live_settings: Settings) -> None:
    john = citizen(emulator, 2002, "en")
    async with running_bot(live_settings):
        message = await john.say("/start", "Hello, Siti")
        assert [b["callback_data"] for b in inline_buttons(message)] == [
            "m:new",
            "m:mine:0",
            "m:help",
        ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_mode(settings: Settings, secret: str = "right-secret-0123456789") -> Settings:
    """The same settings in webhook mode, on a free local port."""
    port = _free_port()
    return settings.model_copy(
        update={
            "bot_mode": BotMode.WEBHOOK,
            "webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
            "webhook_secret": secret,
            "webhook_listen": f"127.0.0.1:{port}",
        }
    )


async def test_webhook_mode_checks_the_secret(emulator: Emulator, live_settings: Settings) -> None:
    settings = webhook_mode(live_settings)
    hook = settings.webhook_url
    siti = citizen(emulator)
    async with running_bot(settings):
        forged = {
            "update_id": 777,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": SITI, "type": "private"},
                "from": {"id": SITI, "is_bot": False, "first_name": "Siti"},
                "text": "/start",
            },
        }
        async with aiohttp.ClientSession() as http:
            for header in ({"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-000000000"}, {}):
                async with http.post(hook, json=forged, headers=header) as response:
                    assert response.status == 401
        assert emulator.messages(SITI) == []
        await siti.say("/start", "Halo, Siti")  # the emulator delivers with the right secret
        assert all(d.status == 200 for d in emulator.webhook_deliveries)
        assert len(emulator.messages(SITI)) == 1


async def test_a_burst_of_presses_and_messages_keeps_the_draft_consistent(
    emulator: Emulator, live_settings: Settings
) -> None:
    siti = citizen(emulator)
    async with running_bot(live_settings) as app:
        question = await siti.say("/new", "Langkah 1 dari 6")
        # Three fast presses on the same question: only the first one counts.
        for label in ("complaint", "aspiration", "information"):
            emulator.click(SITI, question, f"i:kind:{label}")
        await siti.expect("Langkah 2 dari 6", after=int(question["message_id"]))
        await emulator.wait_idle()
        category = await siti.press("Jalan", "Langkah 3 dari 6")
        for text in ("satu", "dua", DESCRIPTION, "Jl. Merdeka No. 5, Tanjungpinang"):
            emulator.send_text(SITI, text)
        await siti.expect("Langkah 5 dari 6", after=int(category["message_id"]))
        await emulator.wait_idle()
        await siti.press("Lewati", "Langkah 6 dari 6")
        await siti.press("Biasa", "Periksa kembali")
        async with UnitOfWork(app.sessions) as uow:
            state = (await uow.session.exec(select(Conversation))).one()
    assert state.data["kind"] == "complaint"
    assert state.data["description"] == DESCRIPTION
    assert state.data["address"] == "Jl. Merdeka No. 5, Tanjungpinang"
    assert state.step == "summary"
    stale = [emulator.callback_answer(q) for q in list(emulator.world.callback_queries)]
    assert sum(1 for answer in stale if answer and answer.get("text")) == 2


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_odd_updates_do_not_disturb_the_bot(
    emulator: Emulator, live_settings: Settings, mode: str
) -> None:
    siti = citizen(emulator)
    group = emulator.add_chat(-100500, "Warga RT 05")
    settings = webhook_mode(live_settings) if mode == "webhook" else live_settings
    async with running_bot(settings):
        first = await siti.say("/start", "Halo, Siti")
        edited = emulator.edit_text(SITI, 1, "edited")
        emulator.raw_update(
            {
                "channel_post": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": -1009, "type": "channel", "title": "c"},
                    "text": "hi",
                }
            }
        )
        emulator.raw_update(
            {
                "inline_query": {
                    "id": "1",
                    "from": {"id": SITI, "is_bot": False, "first_name": "Siti"},
                    "query": "x",
                    "offset": "",
                }
            }
        )
        emulator.send_text(SITI, "/new", chat_id=group["id"])
        await emulator.wait_for_message(
            group["id"], predicate=lambda m: "chat pribadi" in m["text"], timeout=10
        )
        await siti.act(lambda: emulator.send_video(SITI), "laporan baru dengan ini")
        await siti.act(lambda: emulator.send_voice(SITI), "laporan baru dengan ini")
        await siti.say("/foo", "tidak saya kenal")
        await siti.say("/help", "Cara kerja")
        await emulator.wait_idle()
        assert int(first["message_id"]) > 0
    # Webhook mode: every update delivered, the ignored edit too, was acknowledged at once.
    acknowledged = {d.update_id for d in emulator.webhook_deliveries if d.status == 200}
    assert len(acknowledged) == len(emulator.webhook_deliveries)
    assert (edited["update_id"] in acknowledged) is (mode == "webhook")
