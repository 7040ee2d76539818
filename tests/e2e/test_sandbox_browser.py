"""The training sandbox in real headless Chromium: a citizen files a report by clicking and
typing in the page, the city admin forwards it and the officer resolves it in the other panes,
and the citizen's pane shows every notification.

Needs Debian's Chromium (/usr/bin/chromium; .ci/run installs it) and Playwright for Python
(the dev extra); skipped with the reason otherwise. Playwright's own browser download is not
used. With SANDBOX_SCREENSHOT=path the test saves the page at the end (the README's picture).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.training import Sandbox, SandboxOptions
from bot.settings import Settings
from tests.support.browser import NEEDS_BROWSER, WAIT_MS, chromium_page

# Reports are numbered per local year, and the sandbox runs on the real clock.
THIS_YEAR_CODE = f"TPI-{datetime.now(ZoneInfo('Asia/Jakarta')).year}-"

DESCRIPTION = "Jalan <rusak> berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu."

pytestmark = [
    *NEEDS_BROWSER,
    pytest.mark.timeout(180),
]


@pytest.fixture
async def sandbox(tmp_path: Path, live_settings: Settings) -> AsyncIterator[Sandbox]:
    options = SandboxOptions(port=0, database=tmp_path / "sandbox.db")
    # live_settings: the sandbox's bot runs on each runtime (its own emulator replaces the URL).
    async with Sandbox(live_settings, options) as sandbox:
        yield sandbox
        assert sandbox.emulator.internal_errors == []


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    async with chromium_page(tmp_path / "chromium-profile", width=1440, height=860) as opened:
        yield opened


class Pane:
    """One chat of the page, used as its person would."""

    def __init__(self, page: Any, role: str) -> None:
        self.root = page.locator(f'.pane[data-role="{role}"]')

    async def say(self, text: str) -> None:
        await self.root.locator(".text").fill(text)
        await self.root.locator(".send").click()

    async def press(self, label: str) -> None:
        """Click the newest inline button whose label contains ``label``."""
        await self.root.locator(".inline-btn", has_text=label).last.click()

    async def shows(self, text: str) -> None:
        """Wait until a bot message in this pane contains ``text``."""
        from playwright.async_api import expect

        await expect(self.root.locator(".msg.in", has_text=text).last).to_be_visible(
            timeout=WAIT_MS
        )


async def test_a_report_goes_from_citizen_to_officer_and_back_in_the_browser(
    sandbox: Sandbox, page: Any
) -> None:
    from playwright.async_api import expect

    await page.goto(sandbox.url)
    await expect(page.locator("#connection")).to_have_attribute(
        "data-state", "live", timeout=WAIT_MS
    )
    citizen, admin, officer = (Pane(page, role) for role in ("citizen", "admin", "officer"))

    # The citizen files a report, step by step, by clicking and typing.
    await citizen.say("/start")
    await citizen.shows("Halo, Siti")
    await citizen.press("Laporan baru")
    await citizen.shows("Langkah 1 dari 6")
    await citizen.press("Pengaduan")
    await citizen.shows("Langkah 2 dari 6")
    await citizen.press("Jalan")
    await citizen.shows("Langkah 3 dari 6")
    await citizen.say(DESCRIPTION)
    await citizen.shows("Langkah 4 dari 6")
    await citizen.root.locator(".key", has_text="Kirim lokasi saya").click()
    await citizen.shows("Langkah 5 dari 6")
    await citizen.root.locator(".sample-photo").click()
    await citizen.shows("1 dari 5")
    await expect(citizen.root.locator(".msg.out img")).to_have_count(1)
    await citizen.press("Selesai (1")
    await citizen.shows("Langkah 6 dari 6")
    await citizen.press("Biasa")
    await citizen.shows("Periksa kembali")
    # The citizen's own "<rusak>" is text, never markup.
    await expect(citizen.root.locator(".msg.in", has_text="<rusak>").last).to_be_visible()
    assert await page.locator("rusak").count() == 0
    await citizen.press("Kirim laporan")
    await citizen.shows(THIS_YEAR_CODE)
    receipt = await citizen.root.locator(".msg.in", has_text=THIS_YEAR_CODE).last.inner_text()
    found = re.search(r"TPI-\d{4}-\d{6}", receipt)
    assert found is not None
    code = found.group(0)

    # The city admin forwards it to Dinas PUPR.
    await admin.say("/inbox")
    await admin.shows(code)
    await admin.press(code)
    await admin.press("Teruskan")
    await admin.press("Dinas PUPR")
    await admin.shows("diteruskan")
    await citizen.shows("sudah diverifikasi dan diteruskan")

    # The officer is told, acknowledges and resolves it.
    await officer.shows(f"Laporan baru {code}")
    await officer.press(f"Buka {code}")
    await officer.press("Terima")
    await officer.press("Tanpa peninjauan")
    await officer.shows("diterima")
    await citizen.shows("sedang menangani")
    await officer.press(f"Buka {code}")
    await officer.press("Tindak lanjut")
    await officer.say("Lubang sudah ditambal dengan aspal oleh tim UPT Jalan hari ini.")
    await officer.press("Kirim tindak lanjut")
    await citizen.shows("OPD menyampaikan tindak lanjut")
    await expect(citizen.root.locator(".inline-btn", has_text="Sudah selesai")).to_be_visible()

    # The page chrome switches language; the bot's texts stay in each user's language.
    await page.locator('[data-lang="en"]').click()
    await expect(page.locator("h1")).to_have_text("Aduan — training sandbox")
    await expect(citizen.root.locator(".role")).to_contain_text("Citizen")
    await citizen.shows("OPD menyampaikan tindak lanjut")
    assert sandbox.emulator.unanswered_callback_queries() == []

    shot = os.environ.get("SANDBOX_SCREENSHOT")
    if shot:
        await page.locator('[data-lang="id"]').click()
        await page.screenshot(path=shot)
