"""The real `python -m bot run …` as a subprocess, for the end-to-end tests that kill, restart
or scale it: the environment holds only the test's Aduan settings (none of the developer's),
and the output of every start is appended to ``<folder>/bot.log``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.settings import Settings


def clean_environment(**settings: str) -> dict[str, str]:
    """The process environment without any Aduan setting, plus ``settings``."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(settings)
    return env


class BotProcess:
    """One `python -m bot run <args>` in ``folder``, started, killed and stopped by the test."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        self.folder = folder
        self.log = folder / "bot.log"
        self.env = env
        self.args = args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                *self.args,
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self) -> None:
        """SIGKILL, as a crash would; the log marks the moment."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        with self.log.open("a") as out:
            out.write("\n==== SIGKILL ====\n")

    async def stop(self, seconds: float = 30) -> int | None:
        """SIGTERM and the exit code (None if it never ran); killed if it does not end."""
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), seconds)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    async def kill_if_running(self) -> None:
        """Cleanup after a failed test: nothing outlives it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
