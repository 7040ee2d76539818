"""Users' text on the wire, on both runtimes over HTTP (issue 11 items 2 and 7).

Captions are the user's words: they arrive as written, never as HTML (no link, no hidden
attachment, no 400). A text Telegram refuses for its HTML is sent again as plain text. An
edited message is answered with a note, and the filing flow asks its question again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import telegram_client
from bot.core.events import Attachment, AttachmentKind
from bot.core.replies import EditMessage, Message
from bot.runtime import TelegramClient
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.support.live_bot import TelegramChat, running_bot

SITI = 4001
CAPTIONS = ("tiang <5 m", '<a href="https://x">bukti</a>', "<dekat>", "A & B > C")


@pytest.fixture
async def client(emulator: Emulator, live_settings: Settings) -> AsyncIterator[TelegramClient]:
    emulator.add_user(SITI, "Siti")
    async with telegram_client(live_settings) as client:
        yield client


def file_of(emulator: Emulator, update: dict[str, Any], kind: AttachmentKind) -> Attachment:
    """The attachment of a message the user just sent (the bot may send it again by file id)."""
    message_id = update["message"]["message_id"]
    sent = next(m for m in emulator.history(SITI) if m["message_id"] == message_id)
    return Attachment(kind, sent["file_id"], f"u-{message_id}")


def with_caption(item: Attachment, caption: str) -> Attachment:
    return Attachment(item.kind, item.file_id, item.file_unique_id, caption=caption)


async def test_captions_arrive_as_the_user_wrote_them_alone_and_in_albums(
    emulator: Emulator, client: TelegramClient
) -> None:
    photo = file_of(emulator, emulator.send_photo(SITI), AttachmentKind.PHOTO)
    document = file_of(emulator, emulator.send_document(SITI), AttachmentKind.DOCUMENT)
    sender = client.sender

    for caption in CAPTIONS:  # one photo, one document: a single send each
        await sender.send(SITI, Message("Tindak lanjut", media=(with_caption(photo, caption),)))
        await sender.send(SITI, Message("Berkas", media=(with_caption(document, caption),)))
    album = tuple(with_caption(photo, caption) for caption in CAPTIONS)  # one media group
    await sender.send(SITI, Message("Album", media=album))

    captioned = [m for m in emulator.messages(SITI) if m["media_type"] != "text"]
    expected = [c for caption in CAPTIONS for c in (caption, caption)] + list(CAPTIONS)
    assert [m["caption"] for m in captioned] == expected
    assert all(not m.get("caption_entities") for m in captioned)  # no link, nothing hidden
    assert len({m["media_group_id"] for m in captioned[-len(CAPTIONS) :]}) == 1


async def test_a_caption_too_long_once_escaped_is_cut_to_telegrams_limit(
    emulator: Emulator, client: TelegramClient
) -> None:
    photo = file_of(emulator, emulator.send_photo(SITI), AttachmentKind.PHOTO)
    long = "<" * 1100  # 4,400 characters escaped; Telegram counts the 1,100 it shows
    await client.sender.send(SITI, Message("Foto", media=(with_caption(photo, long),)))
    caption = emulator.messages(SITI)[0]["caption"]
    assert caption == "<" * 1023 + "…"


async def test_a_text_refused_for_its_html_is_sent_again_as_plain_text(
    emulator: Emulator, client: TelegramClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A user's text that slipped into a message without escaping, between Aduan's own tags.
    broken = "<b>Laporan</b>: tiang <5 m &amp; <dekat> &#9989;"
    message_id = await client.sender.send(SITI, Message(broken))
    sent = emulator.messages(SITI)
    assert [(m["message_id"], m["text"]) for m in sent] == [
        (message_id, "Laporan: tiang <5 m & <dekat> ✅")
    ]
    assert not sent[0].get("entities")

    assert message_id is not None
    await client.sender.send(SITI, EditMessage(message_id, "<i>Diubah</i> <dekat>"))
    assert emulator.messages(SITI)[0]["text"] == "Diubah <dekat>"

    notes = [r.getMessage() for r in caplog.records if "plain text" in r.getMessage()]
    assert len(notes) == 2
    assert not any("dekat" in r.getMessage() for r in caplog.records)  # no user text logged


async def test_an_edit_gets_a_note_and_the_question_again_and_the_draft_stays(
    emulator: Emulator, live_settings: Settings
) -> None:
    emulator.add_user(SITI, "Siti", language_code="id")
    siti = TelegramChat(emulator, SITI)
    async with running_bot(live_settings):
        await siti.say("/start", "Halo, Siti")
        await siti.press("Laporan baru", "Langkah 1 dari 6")
        await siti.press("Pengaduan", "Langkah 2 dari 6")
        await siti.press("Jalan", "Langkah 3 dari 6")
        start = next(m for m in emulator.history(SITI) if m.get("text") == "/start")
        note = await siti.act(
            lambda: emulator.edit_text(SITI, start, "Jalan rusak parah di depan pasar lama"),
            "sebagai pesan baru",
        )
        # The description question, again, right after the note.
        await siti.expect("Langkah 3 dari 6", after=int(note["message_id"]))
        await siti.say("Jalan rusak parah di depan pasar lama, lubang besar", "Langkah 4 dari 6")
