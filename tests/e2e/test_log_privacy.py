"""Rule 11 end to end: a report filed and handled over HTTP, on each runtime, with every log
record captured at DEBUG through the production logging set-up (bot/logs.py). No record's
message or traceback holds the token, a citizen's name, username, phone or description, or a
raw Telegram id."""

from __future__ import annotations

import logging
import re

from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.conftest import TEST_TOKEN
from tests.support.live_bot import TelegramChat, running_bot
from tests.support.log_capture import captured_logs

CITIZEN, ADMIN = 7710012345, 7720054321
FIRST, LAST, USERNAME, PHONE = "Sulastri", "Wulandari", "sulastri_wln", "+6281298765432"
DESCRIPTION = "Saluran air tersumbat di depan rumah Ibu Sulastri, Gang Kenanga nomor 17, bau."
ADDRESS = "Gang Kenanga No. 17, Tanjungpinang"


async def test_no_secret_or_personal_data_in_any_log_record(
    emulator: Emulator, live_settings: Settings
) -> None:
    settings = live_settings.model_copy(
        update={"admin_ids": [ADMIN], "outbox_interval_seconds": 0.1}
    )
    emulator.add_user(
        CITIZEN, FIRST, last_name=LAST, username=USERNAME, phone_number=PHONE, language_code="id"
    )
    emulator.add_user(ADMIN, "Admin", language_code="id")
    citizen, admin = TelegramChat(emulator, CITIZEN), TelegramChat(emulator, ADMIN)

    with captured_logs(token=TEST_TOKEN, level=logging.DEBUG) as logs:
        async with running_bot(settings):
            await citizen.say("/new", "Langkah 1 dari 6")
            await citizen.press("Pengaduan", "Langkah 2 dari 6")
            await citizen.press("Jalan", "Langkah 3 dari 6")
            await citizen.say(DESCRIPTION, "Langkah 4 dari 6")
            await citizen.say(ADDRESS, "Langkah 5 dari 6")
            await citizen.act(lambda: emulator.send_contact(CITIZEN), "kontak")
            await citizen.say("sudah", "Kirim foto")
            await citizen.press("Lewati", "Langkah 6 dari 6")
            await citizen.press("Biasa", "Periksa kembali")
            done = await citizen.press("Kirim laporan", "Kode pelacakan")
            code = re.search(r"TPI-\d{4}-\d{6}", done["text"])
            assert code
            await admin.say(f"/case {code.group(0)}", "Pelapor")
            await admin.press("Teruskan", "ke OPD mana")
            await admin.press("PUPR", "diteruskan")
            await emulator.wait_for_message(
                CITIZEN,
                after=0,
                predicate=lambda m: "diteruskan ke" in str(m.get("text") or ""),
                timeout=15,
            )
            await emulator.wait_idle(timeout=15)

    assert logs.records, "nothing was logged at all: the capture is not wired"
    text = "\n".join(logs.lines)
    forbidden = {
        "token": TEST_TOKEN,
        "token secret": TEST_TOKEN.split(":", 1)[1],
        "first name": FIRST,
        "last name": LAST,
        "username": USERNAME,
        "phone": PHONE,
        "phone digits": PHONE.lstrip("+"),
        "description": DESCRIPTION[:30],
        "address": ADDRESS[:15],
        "citizen id": str(CITIZEN),
        "admin id": str(ADMIN),
    }
    leaks = {
        what: [line for line in logs.lines if value in line] for what, value in forbidden.items()
    }
    assert not {what: lines for what, lines in leaks.items() if lines}, text
