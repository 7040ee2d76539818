"""The real `aduan run` process against the emulator: answers, then stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.conftest import TEST_TOKEN


async def test_aduan_run_answers_and_stops_on_sigterm(
    emulator: Emulator, live_settings: Settings, tmp_path: Path
) -> None:
    runtime = live_settings.runtime.value
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "RUNTIME"))
    }
    env.update(TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=emulator.base_url, RUNTIME=runtime)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        emulator.add_user(1001, "Siti", language_code="en")
        await emulator.wait_until(lambda: emulator.polling, 30, what="the bot polling")
        emulator.send_text(1001, "/start")
        reply = await emulator.wait_for_message(1001, timeout=15)
        assert "Hello, Siti" in reply["text"]
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    assert f"Aduan is running ({runtime}, polling".encode() in output
    assert (tmp_path / "data" / "aduan.db").exists()
