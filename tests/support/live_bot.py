"""The real bot process parts (the connected app + its runtime) against the emulator, and a
chat driver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.app import App, ConnectedApp, connect_app
from bot.processing import Clock, system_clock
from bot.sandbox.emulator import Emulator
from bot.settings import BotMode, Settings

WAIT = 10.0


def any_free_port(settings: Settings) -> Settings:
    """Polling settings that name no HTTP address get any free port (``127.0.0.1:0``), so
    tests running side by side do not all want the default 127.0.0.1:8080."""
    if (
        settings.bot_mode is BotMode.POLLING
        and settings.http_listen is None is settings.webhook_listen
    ):
        return settings.model_copy(update={"http_listen": "127.0.0.1:0"})
    return settings


@asynccontextmanager
async def running_bot(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[App]:
    """Connect the app (``settings.runtime``) and run its runtime until the block ends."""
    async with running_connected(settings, clock) as bot:
        yield bot.app


@asynccontextmanager
async def running_connected(
    settings: Settings, clock: Clock = system_clock
) -> AsyncIterator[ConnectedApp]:
    """``running_bot``, yielding the whole connected app (runtime, observability …)."""
    bot = await connect_app(any_free_port(settings), clock=clock)
    runtime = bot.runtime
    task = asyncio.create_task(runtime.run())
    ready = asyncio.create_task(runtime.ready.wait())
    try:
        await asyncio.wait({task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the runtime failed to start: raise its error
        assert runtime.ready.is_set(), "the runtime did not become ready"
        yield bot
    finally:
        ready.cancel()
        runtime.stop()
        try:
            await asyncio.wait_for(task, WAIT)
        finally:
            await bot.close()


def inline_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline buttons of a bot message."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b for row in rows for b in row]


@dataclass
class TelegramChat:
    """A simulated citizen in a private chat with the bot, over real HTTP."""

    emulator: Emulator
    user_id: int

    def _mark(self) -> int:
        last = self.emulator.last_message(self.user_id)
        return int(last["message_id"]) if last else 0

    async def expect(self, needle: str, *, after: int) -> dict[str, Any]:
        """The first bot message after ``after`` whose text contains ``needle``."""
        return await self.emulator.wait_for_message(
            self.user_id, after=after, predicate=lambda m: needle in _text(m), timeout=WAIT
        )

    async def act(self, action: Callable[[], object], expected: str) -> dict[str, Any]:
        """Do something as the user and wait for the bot's answer containing ``expected``."""
        mark = self._mark()
        action()
        return await self.expect(expected, after=mark)

    async def say(self, text: str, expected: str) -> dict[str, Any]:
        """Send text and wait for the answer."""
        return await self.act(lambda: self.emulator.send_text(self.user_id, text), expected)

    async def press(self, label: str, expected: str) -> dict[str, Any]:
        """Press the inline button whose text contains ``label`` (waiting until it is shown)."""
        found: list[tuple[dict[str, Any], str]] = []

        def shown() -> bool:
            for message in reversed(self.emulator.messages(self.user_id)):
                for b in inline_buttons(message):
                    if label in b["text"]:
                        found.append((message, b["callback_data"]))
                        return True
            return False

        await self.emulator.wait_until(shown, WAIT, chat_id=self.user_id, what=f"button {label!r}")
        message, data = found[-1]
        return await self.act(lambda: self.emulator.click(self.user_id, message, data), expected)


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")
