"""Headless Chromium for the browser tests: Debian's Chromium driven by Playwright (its own
browser download cannot work on this closed network); the tests skip, saying why, without it."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
# The flags this machine's closed network needs; the profile is a fresh directory per test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000

NEEDS_BROWSER = [
    pytest.mark.skipif(
        not HAVE_PLAYWRIGHT, reason="Playwright for Python is not installed (pip install -e .[dev])"
    ),
    pytest.mark.skipif(
        not HAVE_CHROMIUM,
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, as .ci/run does)",
    ),
]


@asynccontextmanager
async def chromium_page(profile: Path, *, width: int, height: int) -> AsyncIterator[Any]:
    """A page in a fresh headless Chromium; on leaving, no JavaScript error and no
    Content-Security-Policy violation may have happened in it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            # A Content-Security-Policy violation is reported on the console.
            page.on(
                "console",
                lambda message: (
                    errors.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            yield page
            assert errors == [], errors
        finally:
            await context.close()
