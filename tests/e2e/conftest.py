"""End-to-end fixtures: the emulator on 127.0.0.1 and settings pointing the bot at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.conftest import TEST_TOKEN, make_settings


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(TEST_TOKEN) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture(params=["aiogram", "ptb"])
def live_settings(request: pytest.FixtureRequest, tmp_path: Path, emulator: Emulator) -> Settings:
    """Settings pointing the bot at the emulator, once per runtime: every e2e test runs on both.

    Tests that need other settings derive them with ``live_settings.model_copy(update=...)``.
    These bots run on the real clock, so quiet hours are off: otherwise a run in the local
    evening would hold every citizen notice until morning (quiet hours have their own tests).
    """
    return make_settings(
        tmp_path, telegram_api_url=emulator.base_url, runtime=request.param, quiet_hours=""
    )
