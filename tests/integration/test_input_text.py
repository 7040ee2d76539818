"""Users' input through ``to_event`` and the processor, on SQLite and PostgreSQL (issue 11 item 5).

PostgreSQL's ``text`` cannot hold U+0000: before the boundary cleaned input, a description
with a NUL made every Submit fail and a user whose name held one got "something went wrong" on
every update. Updates here are Bot API JSON, parsed by the framework and turned into Events by
the real ``to_event``, then processed on each database.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import App, build_app
from bot.core.replies import EditMessage, Message, Reply
from bot.updates import to_event
from storage.models import Citizen, Complaint
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import FakeClock, button

DESCRIPTION = "Jalan berlubang\x00 besar di depan SDN 005\x00 Jl. Merdeka, sudah dua minggu."
CLEAN = "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu."
_ids = itertools.count(1)


@pytest.fixture
async def app(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[App]:
    app = await build_app(make_settings(tmp_path), clock=FakeClock(), engine=engine)
    try:
        yield app
    finally:
        await app.close()


class WireUser:
    """A Telegram user whose every update goes through the framework and ``to_event``."""

    def __init__(self, app: App, user_id: int, first_name: str, **extra: str) -> None:
        self.app = app
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, **extra}
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}
        self.last: list[Reply] = []

    async def _process(self, update: dict[str, Any]) -> list[Reply]:
        event = to_event(Update.model_validate({"update_id": next(_ids), **update}))
        assert event is not None
        self.last = await self.app.processor.process(event)
        return self.last

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(_ids),
            "date": 0,
            "chat": self.chat,
            "from": self.user,
            **content,
        }

    async def say(self, text: str) -> list[Reply]:
        return await self._process({"message": self._message(text=text)})

    async def share_location(self, latitude: float, longitude: float) -> list[Reply]:
        location = {"latitude": latitude, "longitude": longitude}
        return await self._process({"message": self._message(location=location)})

    async def press(self, data: str) -> list[Reply]:
        query = {
            "id": str(next(_ids)),
            "from": self.user,
            "chat_instance": "1",
            "data": data,
            "message": self._message(text="…"),
        }
        return await self._process({"callback_query": query})

    async def press_labelled(self, label: str) -> list[Reply]:
        return await self.press(button(self.last, label).callback or "")

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last if isinstance(r, Message | EditMessage))


async def test_a_description_with_nul_is_submitted_and_stored_without_it(app: App) -> None:
    siti = WireUser(app, 1001, "Siti", language_code="id")
    await siti.say("/new")
    await siti.press_labelled("Pengaduan")
    await siti.press_labelled("Jalan")
    await siti.say(DESCRIPTION)
    assert "Langkah 4 dari 6" in siti.text
    await siti.share_location(0.9186, 104.4554)
    await siti.press_labelled("Lewati")
    await siti.press_labelled("Anonim")
    assert "Periksa kembali" in siti.text
    await siti.press_labelled("Kirim laporan")
    assert "TPI-" in siti.text and "kesalahan" not in siti.text, siti.text
    async with UnitOfWork(app.sessions) as uow:
        complaint = (await uow.session.exec(select(Complaint))).one()
    assert complaint.description == CLEAN


async def test_a_user_whose_name_holds_nul_is_served(app: App) -> None:
    user = WireUser(app, 1002, "A\x00B", last_name="\x00", username="a\x00b", language_code="id")
    for _ in range(2):  # the first update registers the user, the next one finds them
        await user.say("/start")
        assert "Halo, AB" in user.text, user.text
    async with UnitOfWork(app.sessions) as uow:
        citizen = (await uow.session.exec(select(Citizen))).one()
    assert (citizen.first_name, citizen.last_name, citizen.username) == ("AB", None, "ab")


async def test_a_location_off_the_map_is_refused_and_not_stored(app: App) -> None:
    siti = WireUser(app, 1003, "Siti", language_code="id")
    await siti.say("/new")
    await siti.press_labelled("Pengaduan")
    await siti.press_labelled("Jalan")
    await siti.say(CLEAN)
    for latitude, longitude in ((91.0, 104.0), (0.9, -180.5)):
        await siti.share_location(latitude, longitude)
        assert "koordinatnya tidak menunjuk" in siti.text, siti.text
        assert "Langkah 4 dari 6" in siti.text  # the location question, again
    await siti.share_location(0.9186, 104.4554)
    assert "Langkah 5 dari 6" in siti.text
