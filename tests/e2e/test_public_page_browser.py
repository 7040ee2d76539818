"""The public transparency page in real headless Chromium, in Indonesian and English: figures,
the trend chart and the map (Leaflet from bot/opendata/node_modules, markers without tiles)
render, the filters work, the search finds a public report and refuses a confidential one;
without Leaflet the page still shows its figures and list.

Needs Debian's Chromium (/usr/bin/chromium; .ci/run installs it), Playwright for Python (the
dev extra) and Leaflet (`make install` runs npm ci); skipped with the reason otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.calendar import WorkingCalendar
from bot.opendata.page import LEAFLET_DIR
from storage.database import create_engine
from storage.models import Complaint
from tests.support.browser import NEEDS_BROWSER, WAIT_MS, chromium_page
from tests.support.databases import sqlite_url
from tests.support.open_data import NOW, OpenData, seed_open_data
from tests.support.public_page import Served, serve_public_page
from tests.support.stats_fixture import WIB

HAVE_LEAFLET = (LEAFLET_DIR / "leaflet.js").is_file()
# A tile server that refuses at once: the map must be drawn without its tiles.
NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"

pytestmark = [
    *NEEDS_BROWSER,
    pytest.mark.skipif(
        not HAVE_LEAFLET, reason=f"Leaflet is not installed in {LEAFLET_DIR} (make install)"
    ),
    pytest.mark.timeout(120),
]


async def seed_with_places(session: AsyncSession) -> OpenData:
    """The open-data reports, with two more public ones on the map (one in health)."""
    data = await seed_open_data(session)
    places = {"public_work": (0.9210, 104.4500), "public_fixed": (0.9150, 104.4620)}
    for label, (latitude, longitude) in places.items():
        row = (
            await session.exec(
                select(Complaint).where(Complaint.tracking_code == data.codes[label])
            )
        ).one()
        row.latitude, row.longitude = latitude, longitude
        session.add(row)
    return data


async def serve(tmp_path: Path, **options: Any) -> AsyncIterator[Served]:
    engine = create_engine(sqlite_url(tmp_path))
    try:
        async with serve_public_page(
            engine,
            tmp_path,
            seed=seed_with_places,
            now=NOW,
            calendar=WorkingCalendar(timezone=WIB),
            public_map_tiles_url=NO_TILES,
            **options,
        ) as served:
            yield served
    finally:
        await engine.dispose()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async for value in serve(tmp_path):
        yield value


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    async with chromium_page(tmp_path / "chromium-profile", width=1280, height=900) as opened:
        yield opened


async def search(page: Any, code: str) -> None:
    await page.locator("#code").fill(code)
    await page.locator("#search button").click()


async def test_the_page_in_both_languages(served: Served, page: Any) -> None:
    from playwright.async_api import expect

    data: OpenData = served.seeded
    await page.goto(served.url + "/public/?lang=id")
    await expect(page.locator("h1")).to_have_text("Transparansi Pengaduan Kota")
    # The figures: every agency and the city; the trend as an SVG drawn by the server.
    agencies = page.locator("#agencies")
    await expect(agencies.locator("tr", has_text="Dinas PUPR")).to_be_visible()
    await expect(agencies.locator("tr.city")).to_contain_text("Seluruh kota")
    await expect(page.locator("#trend svg.trend")).to_be_visible()
    assert await page.locator("#trend svg rect[data-status]").count() >= 1
    await expect(page.locator("#computed-at")).to_contain_text("30 Nov 2026 09:00 WIB")

    # The map: Leaflet from our own server, a marker per located public report, no tiles.
    box = page.locator("#map")
    await expect(box).to_have_attribute("data-state", "ready", timeout=WAIT_MS)
    markers = page.locator("#map path.report-marker")
    await expect(markers).to_have_count(3)
    await expect(page.locator("#map-count")).to_have_text("3 laporan di peta")
    await page.locator("#filter-category").select_option("health")
    await expect(markers).to_have_count(1)
    await markers.first.scroll_into_view_if_needed()
    await markers.first.dispatch_event("click")
    await expect(page.locator(".leaflet-popup-content")).to_contain_text(data.codes["public_fixed"])
    await page.locator("#filter-category").select_option("")
    await page.locator("#filter-status").select_option("closed")
    await expect(markers).to_have_count(0)
    await expect(page.locator("#map-count")).to_contain_text("Tidak ada laporan publik")

    # The list, and the search: a public report's history; a confidential one is not found.
    await expect(page.locator("#reports-list")).to_contain_text(data.codes["public_done"])
    await search(page, data.codes["public_work"])
    await expect(page.locator("#result")).to_contain_text("Diverifikasi dan diteruskan")
    await expect(page.locator("#history li")).to_have_count(4)
    await search(page, data.codes["secret_work"])
    await expect(page.locator("#not-found")).to_contain_text("tidak ditemukan")
    await expect(page.locator("#result")).to_have_count(0)

    # English, from the language switch.
    await page.locator('[data-lang="en"]').click()
    await page.goto(served.url + "/public/?lang=en")
    await expect(page.locator("h1")).to_have_text("City complaints transparency")
    await expect(page.locator("#agencies tr.city")).to_contain_text("Whole city")
    await expect(box).to_have_attribute("data-state", "ready", timeout=WAIT_MS)
    await expect(page.locator("#map-count")).to_have_text("3 reports on the map")
    await search(page, data.codes["public_done"].lower())
    await expect(page.locator("#result")).to_contain_text("Follow-up posted")
    await search(page, data.codes["secret_new"])
    await expect(page.locator("#not-found")).to_contain_text("No report with that code")


async def test_without_leaflet_the_figures_and_list_remain(tmp_path: Path, page: Any) -> None:
    from playwright.async_api import expect

    async for served in serve(tmp_path, leaflet_dir=tmp_path / "no-leaflet"):
        await page.goto(served.url + "/public/?lang=en")
        await expect(page.locator("#map")).to_have_attribute("data-state", "off")
        await expect(page.locator("#map")).to_contain_text("The map is not available")
        await expect(page.locator("#agencies tr.city")).to_contain_text("Whole city")
        published = len(served.seeded.published_codes)  # all within the 12 months
        await expect(page.locator("#reports-list tbody tr")).to_have_count(published)
