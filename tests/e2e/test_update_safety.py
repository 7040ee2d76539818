"""Rule 9 on both runtimes, polling and webhook: an update is confirmed to Telegram only once it
is processed (issue 11). An unreadable update is skipped without stalling the others, and
while the database cannot be reached nothing is confirmed and everything is processed after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from bot.app import App
from bot.core.events import Event, Sender
from bot.core.replies import Message
from bot.pipeline import DatabaseUnavailable
from bot.sandbox.emulator import Emulator
from bot.settings import BotMode, Settings
from storage.database import create_engine, session_factory
from tests.conftest import TEST_TOKEN
from tests.support.live_bot import TelegramChat, running_bot
from tests.support.webhooks import webhook_mode

SITI = 1001
# Nothing listens on port 1: connecting fails at once, as with a database server that is down.
DEAD_DATABASE = "postgresql+asyncpg://aduan@127.0.0.1:1/aduan"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """Like Telegram, the emulator keeps redelivering a webhook update that was not answered
    2xx (the shared fixture gives up after 3 attempts)."""
    async with Emulator(TEST_TOKEN, webhook_max_attempts=1000, webhook_retry_delay=0.1) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture(params=["polling", "webhook"])
def settings(request: pytest.FixtureRequest, live_settings: Settings) -> Settings:
    return webhook_mode(live_settings) if request.param == "webhook" else live_settings


@contextmanager
def database_down(app: App) -> Iterator[None]:
    """The processor's database is unreachable until the block ends."""
    working = app.processor.sessions
    dead = create_engine(DEAD_DATABASE)
    app.processor.sessions = session_factory(dead)
    try:
        yield
    finally:
        app.processor.sessions = working


def _unreadable(update_id: int) -> dict[str, object]:
    # A message whose chat is not a Chat: neither framework can build the Update.
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": "not a chat",
            "from": {"id": SITI, "is_bot": False, "first_name": "Siti"},
            "text": "Nama saya Siti Rahma, HP 081234567890",
        },
    }


async def test_an_unreadable_update_is_skipped_and_the_rest_processed(
    emulator: Emulator, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.add_user(SITI, "Siti", language_code="id")
    siti = TelegramChat(emulator, SITI)
    async with running_bot(settings):
        await siti.say("/start", "Halo, Siti")
        # One batch: the unreadable update between two good ones.
        mark = int(emulator.messages(SITI)[-1]["message_id"])
        emulator.send_text(SITI, "/help")
        bad = emulator.raw_update(_unreadable(emulator.world.next_update_id))
        emulator.send_text(SITI, "/new")
        help_reply = await siti.expect("Cara kerja", after=mark)
        await siti.expect("Langkah 1 dari 6", after=int(help_reply["message_id"]))
        await emulator.wait_until(
            lambda: not emulator.pending_updates and emulator.world.webhook_in_flight is None,
            10,
            what="every update confirmed",
        )
        await emulator.wait_idle()
    assert f"update {bad['update_id']} cannot be read" in caplog.text
    assert "Rahma" not in caplog.text and "081234567890" not in caplog.text
    if settings.bot_mode is BotMode.WEBHOOK:
        answers = [d.status for d in emulator.webhook_deliveries if d.update_id == bad["update_id"]]
        assert answers == [200]


async def test_updates_wait_for_the_database_unconfirmed_and_are_processed_after(
    emulator: Emulator, settings: Settings
) -> None:
    emulator.add_user(SITI, "Siti", language_code="id")
    siti = TelegramChat(emulator, SITI)
    async with running_bot(settings) as app:
        await siti.say("/start", "Halo, Siti")
        mark = int(emulator.messages(SITI)[-1]["message_id"])
        with database_down(app):
            emulator.send_text(SITI, "/help")
            emulator.send_text(SITI, "/new")
            await emulator.wait_until(
                lambda: _retried(emulator, settings), 10, what="the updates tried again"
            )
            assert len(emulator.pending_updates) == 2  # nothing confirmed
            assert emulator.messages(SITI)[-1]["message_id"] == mark  # no error message either
        help_reply = await siti.expect("Cara kerja", after=mark)
        await siti.expect("Langkah 1 dari 6", after=int(help_reply["message_id"]))
        await emulator.wait_until(lambda: not emulator.pending_updates, 10, what="confirmed")
    if settings.bot_mode is BotMode.WEBHOOK:
        assert any(d.status == 503 for d in emulator.webhook_deliveries)


def _retried(emulator: Emulator, settings: Settings) -> bool:
    if settings.bot_mode is BotMode.WEBHOOK:
        return sum(1 for d in emulator.webhook_deliveries if d.status == 503) >= 2
    return len(emulator.calls_to("getUpdates")) >= 8


async def test_the_processor_tells_an_unreachable_database_from_a_flow_bug(
    emulator: Emulator, live_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_user(SITI, "Siti", language_code="en")
    event = Event(update_id=5, chat_id=SITI, user=Sender(SITI, "Siti", language_code="en"))
    async with running_bot(live_settings) as app:
        with database_down(app), pytest.raises(DatabaseUnavailable):
            await app.processor.process(event)

        async def broken(*_: object) -> list[object]:
            raise RuntimeError("a bug in a flow")

        monkeypatch.setattr("bot.processing.route", broken)
        replies = await app.processor.process(event)
    assert len(replies) == 1 and isinstance(replies[0], Message)
    assert "went wrong on our side" in replies[0].text
