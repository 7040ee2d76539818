"""aiogram reads every Bot API answer into ``Response[T]``, a pydantic generic model that
pydantic caches only weakly: at the next garbage collection it was freed and rebuilt on the
next call, ~11 ms of CPU each time, a quarter of the bot's CPU under load (docs/PERFORMANCE.md).
The runtime keeps the models of the methods it calls alive."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from aiogram.client.session.base import Response
from aiogram.methods import SendMessage

from bot.app import telegram_client
from bot.core.replies import Message
from bot.sandbox.emulator import Emulator
from tests.conftest import make_settings


async def test_the_response_model_of_a_method_is_built_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    user = emulator.add_user(1001, "Siti")
    settings = make_settings(tmp_path, telegram_api_url=emulator.base_url, runtime="aiogram")
    client = telegram_client(settings)
    await client.open()
    try:
        await client.sender.send(user.id, Message("satu"))
        model = weakref.ref(Response[SendMessage.__returning__])  # type: ignore[name-defined]
        gc.collect()
        assert model() is not None  # still the one the first call built
        await client.sender.send(user.id, Message("dua"))
        assert Response[SendMessage.__returning__] is model()  # type: ignore[name-defined]
    finally:
        await client.close()
    assert [m["text"] for m in emulator.messages(user.id)] == ["satu", "dua"]
