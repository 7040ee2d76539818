"""Every reply type and every delivery failure through each runtime's sender, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import telegram_client
from bot.core.events import Attachment, AttachmentKind
from bot.core.replies import (
    Button,
    ClearButtons,
    EditMessage,
    KeyboardKey,
    Message,
    Notice,
    Upload,
)
from bot.runtime import TelegramClient
from bot.sandbox.emulator import Emulator
from bot.sending import Rejected, RetryAfter, Transient, Unreachable
from bot.settings import Settings
from tests.support.live_bot import inline_buttons

SITI = 4001


@pytest.fixture
async def client(emulator: Emulator, live_settings: Settings) -> AsyncIterator[TelegramClient]:
    emulator.add_user(SITI, "Siti")
    async with telegram_client(live_settings) as client:
        yield client


def users_file(emulator: Emulator, kind: AttachmentKind, update: dict[str, Any]) -> Attachment:
    """The attachment of a message the user just sent (the bot may send it again by file id)."""
    sent = next(m for m in emulator.history(SITI) if m["message_id"] == message_id(update))
    return Attachment(kind, sent["file_id"], f"u-{sent['message_id']}")


def message_id(update: dict[str, Any]) -> int:
    return int(update["message"]["message_id"])


async def test_messages_media_keyboards_uploads_edits_and_answers(
    emulator: Emulator, client: TelegramClient
) -> None:
    sender = client.sender
    photo = users_file(emulator, AttachmentKind.PHOTO, emulator.send_photo(SITI))
    document = users_file(emulator, AttachmentKind.DOCUMENT, emulator.send_document(SITI))
    voice = users_file(emulator, AttachmentKind.VOICE, emulator.send_voice(SITI))

    media = (
        Attachment(AttachmentKind.PHOTO, photo.file_id, "a", caption="Lubang <b>besar</b>"),
        Attachment(AttachmentKind.PHOTO, photo.file_id, "b"),
        document,
        voice,
    )
    buttons = ((Button("Lihat", callback="s:case:1"), Button("Peta", url="https://osm.org")),)
    summary_id = await sender.send(SITI, Message("<b>Ringkasan</b>", buttons, media=media))
    sent = emulator.messages(SITI)
    assert [m["media_type"] for m in sent] == ["photo", "photo", "document", "voice", "text"]
    assert sent[0]["media_group_id"] == sent[1]["media_group_id"] is not None
    assert sent[0]["caption"] == "Lubang <b>besar</b>"  # a caption is user text: escaped
    summary = sent[-1]
    assert (summary["message_id"], summary["text"]) == (summary_id, "Ringkasan")
    assert [b.get("callback_data") or b.get("url") for b in inline_buttons(summary)] == [
        "s:case:1",
        "https://osm.org",
    ]

    keys = ((KeyboardKey("📍 Kirim lokasi", request_location=True), KeyboardKey("Lewati")),)
    await sender.send(SITI, Message("Lokasinya?", reply_keys=keys))
    keyboard = emulator.reply_keyboard(SITI)
    assert keyboard is not None and keyboard["keyboard"][0][0]["request_location"] is True
    assert keyboard["resize_keyboard"] is True and keyboard["is_persistent"] is True
    await sender.send(SITI, Message("Baik.", remove_keys=True))
    assert emulator.reply_keyboard(SITI) is None

    assert summary_id is not None
    edit = EditMessage(summary_id, "Halaman <i>2</i>", ((Button("Kembali", callback="p:1"),),))
    for _ in range(2):  # the second edit changes nothing: not an error
        assert await sender.send(SITI, edit) is None
    edited = next(m for m in emulator.messages(SITI) if m["message_id"] == summary_id)
    assert edited["text"] == "Halaman 2"
    assert [b["callback_data"] for b in inline_buttons(edited)] == ["p:1"]
    query = emulator.click(SITI, edited, "p:1")["callback_query"]["id"]
    for _ in range(2):
        await sender.send(SITI, ClearButtons(summary_id))
    assert (
        inline_buttons(next(m for m in emulator.messages(SITI) if m["message_id"] == summary_id))
        == []
    )
    await sender.answer_callback(query, Notice("Sudah tercatat", alert=True))
    answer = emulator.callback_answer(query)
    assert answer is not None
    assert (answer["text"], answer["show_alert"]) == ("Sudah tercatat", True)

    csv_id = await sender.send(SITI, Upload("laporan.csv", b"kode,status\n", caption="Ekspor"))
    chart_id = await sender.send(SITI, Upload("grafik.png", b"\x89PNG chart", as_photo=True))
    *_, csv, chart = emulator.messages(SITI)
    assert (csv["message_id"], csv["media_type"], csv["caption"]) == (csv_id, "document", "Ekspor")
    assert csv["document"]["file_name"] == "laporan.csv"
    assert (chart["message_id"], chart["media_type"]) == (chart_id, "photo")
    assert emulator.unanswered_callback_queries() == []


async def test_failures_become_the_projects_delivery_errors(
    emulator: Emulator, client: TelegramClient
) -> None:
    sender = client.sender
    emulator.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as pause:
        await sender.send(SITI, Message("satu"))
    assert pause.value.seconds == 3
    emulator.fail_next("sendMessage", status=502)
    with pytest.raises(Transient):
        await sender.send(SITI, Message("dua"))
    with pytest.raises(Rejected, match=r"(?i)message to edit not found"):
        await sender.send(SITI, EditMessage(999, "tidak ada"))
    # (a refusal of the HTML itself is sent again as plain text: tests/e2e/test_user_text.py)
    emulator.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(Rejected, match=r"(?i)chat not found"):
        await sender.send(SITI, Message("empat"))
    emulator.block(SITI)
    with pytest.raises(Unreachable):
        await sender.send(SITI, Message("tiga"))
    assert emulator.messages(SITI) == []
