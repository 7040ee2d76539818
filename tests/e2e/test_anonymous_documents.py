"""Issue 10: an anonymous report's documents reach agency staff under a neutral name.

A document's original file name travels with its file id and often names the reporter, so the
case card has the bot download such a document and upload it again as ``lampiran-<n><ext>``
(over HTTP against the emulator's getFile and file route, on both runtimes). City admins, who
may see the reporter, and the staff of a public report get the file as it was sent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import App
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.e2e.test_staff_flow import ADMIN, DESCRIPTION, OFFICER, SITI, chat, officer_joins
from tests.support.live_bot import TelegramChat, running_bot

LETTER = ("Surat_Pengantar_Siti_Aminah_NIK2171012345.pdf", "application/pdf", b"%PDF-1.4 surat")
PHOTO_ID = ("KTP Siti Aminah.JPG", "image/jpeg", b"\xff\xd8\xff ktp")


@pytest.fixture
async def world(
    emulator: Emulator, live_settings: Settings
) -> AsyncIterator[tuple[App, TelegramChat, TelegramChat, TelegramChat]]:
    settings = live_settings.model_copy(
        update={"admin_ids": [ADMIN], "outbox_interval_seconds": 0.1}
    )
    admin, officer = chat(emulator, ADMIN, "Admin"), chat(emulator, OFFICER, "Petugas")
    siti = chat(emulator, SITI, "Siti")
    async with running_bot(settings) as app:
        await officer_joins(admin, officer)
        yield app, admin, officer, siti


async def file_with_documents(
    siti: TelegramChat, emulator: Emulator, documents: list[tuple[str, str, bytes]], privacy: str
) -> str:
    await siti.say("/new", "Langkah 1 dari 6")
    await siti.press("Pengaduan", "Langkah 2 dari 6")
    await siti.press("Jalan", "Langkah 3 dari 6")
    await siti.say(DESCRIPTION, "Langkah 4 dari 6")
    await siti.say("Jl. Merdeka No. 5, Tanjungpinang", "Langkah 5 dari 6")
    for n, (name, mime, data) in enumerate(documents, 1):
        await siti.act(
            lambda name=name, mime=mime, data=data: emulator.send_document(
                SITI, data=data, file_name=name, mime_type=mime
            ),
            f"{n} dari 5",
        )
    await siti.press(f"Selesai ({len(documents)}", "Langkah 6 dari 6")
    await siti.press(privacy, "Periksa kembali")
    done = await siti.press("Kirim laporan", "Kode pelacakan")
    match = re.search(r"TPI-\d{4}-\d{6}", done["text"])
    assert match
    return match.group(0)


def documents_since(emulator: Emulator, user_id: int, after: int) -> list[dict[str, Any]]:
    return [
        m["document"]
        for m in emulator.messages(user_id)
        if m["media_type"] == "document" and m["message_id"] > after
    ]


def last_id(emulator: Emulator, user_id: int) -> int:
    last = emulator.last_message(user_id)
    return int(last["message_id"]) if last else 0


def content(emulator: Emulator, document: dict[str, Any]) -> bytes | None:
    stored = emulator.world.files.get(document["file_id"])
    return stored.data if stored else None


async def test_an_officer_gets_an_anonymous_reports_documents_under_neutral_names(
    emulator: Emulator, world: tuple[App, TelegramChat, TelegramChat, TelegramChat]
) -> None:
    _, admin, officer, siti = world
    code = await file_with_documents(siti, emulator, [LETTER, PHOTO_ID], "Anonim")

    mark = last_id(emulator, ADMIN)
    await admin.say(f"/case {code}", "Pelapor")
    seen_by_admin = documents_since(emulator, ADMIN, mark)
    assert [d["file_name"] for d in seen_by_admin] == [LETTER[0], PHOTO_ID[0]]  # may see who
    await admin.press("Teruskan", "ke OPD mana")
    await admin.press("PUPR", "diteruskan")

    mark = last_id(emulator, OFFICER)
    await officer.say(f"/case {code}", "Pelapor")
    seen = documents_since(emulator, OFFICER, mark)
    assert [d["file_name"] for d in seen] == ["lampiran-1.pdf", "lampiran-2.jpg"]
    assert [content(emulator, d) for d in seen] == [LETTER[2], PHOTO_ID[2]]  # the same files
    assert not any("Siti" in str(d) for d in seen)
    assert len(emulator.calls_to("getFile")) == 2


async def test_a_public_reports_document_keeps_its_name(
    emulator: Emulator, world: tuple[App, TelegramChat, TelegramChat, TelegramChat]
) -> None:
    _, admin, officer, siti = world
    code = await file_with_documents(siti, emulator, [LETTER], "Biasa")
    await admin.say(f"/case {code}", "Pelapor")
    await admin.press("Teruskan", "ke OPD mana")
    await admin.press("PUPR", "diteruskan")

    mark = last_id(emulator, OFFICER)
    await officer.say(f"/case {code}", "Pelapor")
    [seen] = documents_since(emulator, OFFICER, mark)
    assert seen["file_name"] == LETTER[0]
    assert content(emulator, seen) == LETTER[2]
    assert emulator.calls_to("getFile") == []  # re-sent by file id, nothing downloaded
