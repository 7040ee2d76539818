"""Input at the boundary and the text helpers (issue 11 items 2, 5 and 7).

``to_event`` is checked on both frameworks' own ``Update`` objects, parsed from Bot API JSON:
every text field cleaned, ``edited_message`` marked as an edit, a location off the map refused.
The flow tests drive the processor as tests/unit/test_intake_flow.py does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram.types import Update as AiogramUpdate
from telegram import Update as PtbUpdate

from bot.app import App
from bot.core.events import INVALID_LOCATION, Event
from bot.core.replies import Message
from bot.core.text import clean, escape_caption, plain_text, truncate, utf16_len
from bot.settings import Settings
from bot.updates import UpdateFields, to_event
from tests.support.flow_driver import Citizen, FakeClock, running_app

DESCRIPTION = (
    "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu belum diperbaiki."
)
USER = {
    "id": 7,
    "is_bot": False,
    "first_name": "Si\x00ti",
    "last_name": "\x00",
    "username": "s\x01",
}
CHAT = {"id": 7, "type": "private", "first_name": "Siti"}


def _aiogram(data: dict[str, Any]) -> UpdateFields:
    return AiogramUpdate.model_validate(data)


def _ptb(data: dict[str, Any]) -> UpdateFields:
    update = PtbUpdate.de_json(data, None)
    assert update is not None
    return update


@pytest.fixture(params=[_aiogram, _ptb], ids=["aiogram", "ptb"])
def parse(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], UpdateFields]:
    parser: Callable[[dict[str, Any]], UpdateFields] = request.param
    return parser


def event_of(parse: Callable[[dict[str, Any]], UpdateFields], **update: Any) -> Event:
    event = to_event(parse({"update_id": 1, **update}))
    assert event is not None
    return event


def message(**content: Any) -> dict[str, Any]:
    return {"message_id": 5, "date": 0, "chat": CHAT, "from": USER, **content}


# ---- the text helpers ------------------------------------------------------------------------
def test_clean_removes_nul_controls_and_non_characters_and_keeps_the_rest() -> None:
    dirty = "A\x00B\x01\x1b\x7f\x85\r\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffff\ud800C"
    assert clean(dirty) == "ABC"
    kept = "baris\n\tkedua · مرحبا \u200f\u200d 👨\u200d👩\u200d👧 \u202e é ✅ \U0001f1ee\U0001f1e9"
    assert clean(kept) == kept


def test_a_caption_is_escaped_and_cut_on_its_shown_length() -> None:
    assert escape_caption('tiang <5 m & <a href="x">') == 'tiang &lt;5 m &amp; &lt;a href="x"&gt;'
    assert escape_caption(None) is None and escape_caption("") is None
    cut = escape_caption("😀" * 600)  # 1,200 UTF-16 units
    assert cut is not None and utf16_len(cut) <= 1024 and cut.endswith("…")
    assert truncate("abc", 3) == "abc" and truncate("abcd", 3) == "ab…"


def test_plain_text_drops_telegrams_tags_and_references_only() -> None:
    markup = (
        '<b>Kode</b> <a href="https://x">tautan</a>: tiang <5 m &lt;b&gt; &amp; <dekat> &#9989;'
    )
    assert plain_text(markup) == "Kode tautan: tiang <5 m <b> & <dekat> ✅"


# ---- to_event ----------------------------------------------------------------------------------
def test_every_text_field_of_a_message_is_cleaned(
    parse: Callable[[dict[str, Any]], UpdateFields],
) -> None:
    photo = [{"file_id": "f\x00", "file_unique_id": "u", "width": 1, "height": 1}]
    event = event_of(parse, message=message(photo=photo, caption="tiang\x00 <5 m\ufffe"))
    assert (event.user.first_name, event.user.last_name, event.user.username) == ("Siti", None, "s")
    (item,) = event.attachments
    assert (item.caption, item.file_id) == ("tiang <5 m", "f")
    assert event.unsupported is None and event.edited is False

    text = event_of(parse, message=message(text="Lubang\x00 besar\u0007"))
    assert text.text == "Lubang besar"
    nothing_left = event_of(parse, message=message(text="\x00"))
    assert (nothing_left.text, nothing_left.unsupported) == (None, "other")


def test_callback_data_is_cleaned(parse: Callable[[dict[str, Any]], UpdateFields]) -> None:
    query = {
        "id": "q",
        "from": USER,
        "chat_instance": "1",
        "data": "m:\x00st",
        "message": message(),
    }
    event = event_of(parse, callback_query=query)
    assert (event.callback_data, event.user.first_name) == ("m:st", "Siti")


def test_an_edited_message_becomes_an_edit_event(
    parse: Callable[[dict[str, Any]], UpdateFields],
) -> None:
    edited = message(text="Lubang\x00 besar", edit_date=10, media_group_id="g1")
    event = event_of(parse, edited_message=edited)
    assert (event.edited, event.text, event.media_group_id) == (True, "Lubang besar", None)
    assert event_of(parse, message=message(text="x")).edited is False


@pytest.mark.parametrize(
    ("latitude", "longitude", "kept"),
    [(0.9186, 104.4554, True), (90, -180, True), (90.5, 0, False), (0, 180.01, False)],
)
def test_a_location_off_the_map_is_not_passed_on(
    parse: Callable[[dict[str, Any]], UpdateFields], latitude: float, longitude: float, kept: bool
) -> None:
    location = {"latitude": latitude, "longitude": longitude}
    event = event_of(parse, message=message(location=location))
    if kept:
        assert event.location is not None and event.unsupported is None
    else:
        assert (event.location, event.unsupported) == (None, INVALID_LOCATION)


# ---- the flows ---------------------------------------------------------------------------------
@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    async with running_app(settings, FakeClock()) as app:
        yield app


EDIT_NOTE = "Kirim teks yang sudah diperbaiki sebagai pesan baru"


async def reach_description(siti: Citizen) -> None:
    await siti.say("/new")
    await siti.press("i:kind:complaint")
    await siti.press_labelled("Jalan")
    assert "Langkah 3 dari 6" in siti.text


async def test_an_edit_while_filing_gets_the_note_and_the_question_again(app: App) -> None:
    siti = Citizen(app)
    await reach_description(siti)
    replies = await siti.event(text="Jalan rusak parah di depan pasar, tolong.", edited=True)
    texts = [r.text for r in replies if isinstance(r, Message)]
    assert EDIT_NOTE in texts[0] and "Langkah 3 dari 6" in texts[-1]

    await siti.say(DESCRIPTION)  # the draft lost nothing: the flow goes on from where it was
    assert "Langkah 4 dari 6" in siti.text
    await siti.send_location(0.9186, 104.4554)
    await siti.event(text=DESCRIPTION + " (diubah)", edited=True)
    assert EDIT_NOTE in siti.text and "Langkah 5 dari 6" in siti.text
    await siti.press("i:attachments:done")
    await siti.press("i:privacy:anonymous")
    assert DESCRIPTION in siti.text and "(diubah)" not in siti.text  # the summary


async def test_an_edit_outside_a_flow_gets_the_same_short_note(app: App) -> None:
    siti = Citizen(app)
    await siti.say("/start")
    replies = await siti.event(text="/new", edited=True)  # an edited command is no command
    assert [r.text for r in replies if isinstance(r, Message)] == [
        app.translator("id", "input.edited")
    ]


async def test_an_edit_in_a_group_is_ignored(app: App) -> None:
    group = Citizen(app, chat_type="group")
    assert await group.event(text="/new", edited=True) == []
