"""The public transparency page over HTTP on SQLite and PostgreSQL: its figures are /stats's,
nothing unpublished or personal leaves it, its caches spare the database, its text is escaped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.periods import parse_period
from bot.core.stats import Stage, Tally
from bot.opendata.figures import public_figures, public_window
from bot.opendata.page import tile_source
from bot.reports.tables import days, rate
from storage.models import Category, Complaint
from tests.support.open_data import NOW as OPEN_NOW
from tests.support.open_data import OpenData, seed_open_data
from tests.support.public_page import Served, serve_public_page
from tests.support.stats_fixture import CALENDAR, NOW, WIB, load_fixture

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


async def fetch(served: Served, path: str) -> tuple[int, bytes, Any]:
    async with aiohttp.ClientSession() as http, http.get(served.url + path) as response:
        return response.status, await response.read(), response.headers


async def seed_with_hostile_text(session: AsyncSession) -> OpenData:
    """The open-data reports, plus markup in a category name and a public report's text."""
    data = await seed_open_data(session)
    category = (await session.exec(select(Category).where(Category.code == "roads"))).one()
    category.name_id = category.name_en = f"Jalan {HOSTILE}"
    public = (
        await session.exec(
            select(Complaint).where(Complaint.tracking_code == data.codes["public_new"])
        )
    ).one()
    public.description = f"Lubang {HOSTILE}"
    public.address = f"Jl. {HOSTILE}"
    session.add_all([category, public])
    return data


@pytest.fixture
async def open_page(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Served]:
    calendar = WorkingCalendar(timezone=WIB)
    async with serve_public_page(
        engine, tmp_path, seed=seed_with_hostile_text, now=OPEN_NOW, calendar=calendar
    ) as served:
        yield served


def same_tally(ours: Tally, theirs: Tally) -> None:
    assert ours.total == theirs.total
    assert ours.groups == theirs.groups
    for stage in Stage:
        assert sorted(ours.times[stage]) == pytest.approx(sorted(theirs.times[stage]))
    assert (ours.met, ours.missed, ours.overdue) == (theirs.met, theirs.missed, theirs.overdue)
    assert (ours.reopened, ours.ever_resolved) == (theirs.reopened, theirs.ever_resolved)
    assert (ours.verdicts, ours.rating_sum, ours.ratings) == (
        theirs.verdicts,
        theirs.rating_sum,
        theirs.ratings,
    )


async def test_figures_are_the_stats_figures(engine: AsyncEngine, tmp_path: Path) -> None:
    async with serve_public_page(
        engine, tmp_path, seed=load_fixture, now=NOW, calendar=CALENDAR
    ) as served:
        from bot.reports.runner import ReportRunner  # /stats's own evaluation

        runner = ReportRunner(
            sessions=served.page.sessions,
            sender=None,  # type: ignore[arg-type]  # evaluate_period sends nothing
            translator=Translator.load(),
            calendar=CALENDAR,
            settings=None,  # type: ignore[arg-type]
            clock=lambda: NOW,
            worker_id="test",
        )
        ours = await public_figures(
            sessions=served.page.sessions, calendar=CALENDAR, clock=lambda: NOW, months=12
        )
        window = public_window(NOW, CALENDAR, 12)
        assert (window.first_day.isoformat(), window.last_day.isoformat()) == (
            "2025-12-01",
            "2026-11-30",
        )
        stats = await runner.evaluate_period(window)
        same_tally(ours.evaluation.city, stats.city)
        assert ours.evaluation.city.total == 7  # November's six and G from October
        assert set(ours.evaluation.agencies) == set(stats.agencies)
        for agency_id, tally in stats.agencies.items():
            same_tally(ours.evaluation.agencies[agency_id], tally)
        november = await runner.evaluate_period(parse_period("2026-11", now=NOW, timezone=WIB))
        same_tally(ours.months[-1].tally, november.city)
        assert ours.months[-1].tally.total == 6  # the hand-computed month
        assert ours.months[-1].tally.median(Stage.COMPLETION) == pytest.approx(8.0)
        assert [m.tally.total for m in ours.months[:-2]] == [0] * 10

        # The page shows those figures, as /stats writes them.
        status, body, _ = await fetch(served, "/public/?lang=en")
        assert status == 200
        page = body.decode()
        city = stats.city
        first = city.met[Stage.FIRST_RESPONSE], city.missed[Stage.FIRST_RESPONSE]
        shown = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split('<tr class="city">')[1]))
        expected = (
            f"Whole city {city.total} "
            f"{rate(city.compliance_rate(Stage.VERIFY))} "
            f"({city.met[Stage.VERIFY]}/{city.met[Stage.VERIFY] + city.missed[Stage.VERIFY]}) "
            f"{rate(city.compliance_rate(Stage.FIRST_RESPONSE))} ({first[0]}/{sum(first)}) "
            f"{days(city.median(Stage.COMPLETION))} 1 0 1 3.5"
        )
        assert shown.strip().startswith(expected)


async def test_nothing_personal_or_confidential_leaves_the_page(open_page: Served) -> None:
    data: OpenData = open_page.seeded
    paths = [f"/public/?lang={lang}" for lang in ("id", "en")]
    paths += [f"/public/reports.json?lang={lang}" for lang in ("id", "en")]
    paths += [f"/public/search?code={code}&lang=en" for code in data.codes.values()]
    paths += [f"/public/search?code={code}&lang=id" for code in data.published_codes]
    paths += ["/public/static/public.css", "/public/static/public.js"]
    paths += ["/public/leaflet/leaflet.js", "/public/leaflet/leaflet.css"]
    everything = b""
    for path in paths:
        status, body, headers = await fetch(open_page, path)
        assert status in (200, 404), path
        assert headers["Content-Security-Policy"].startswith("default-src 'none'"), path
        everything += body
    text = everything.decode().lower()
    found = [secret for secret in data.secrets if secret.lower() in text]
    assert found == []
    # Staff answers may address the reporter: only the catalog's labels are published.
    assert "terima kasih ibu" not in text and "di mana tepatnya" not in text
    for code in data.published_codes:
        assert code.lower() in text  # the scan did look at the published reports


async def test_a_hidden_code_is_not_found_like_an_unknown_or_malformed_one(
    open_page: Served,
) -> None:
    data: OpenData = open_page.seeded
    answers = set()
    for code in [*data.hidden_codes, "TPI-2026-999999", "ABC-not-a-code", "<script>"]:
        status, body, _ = await fetch(open_page, f"/public/search?code={code}&lang=id")
        assert status == 404
        answers.add(body)
    (answer,) = answers  # byte for byte the same page
    assert b'id="not-found"' in answer and b"tidak ditemukan" in answer

    status, body, _ = await fetch(open_page, f"/public/search?code={data.codes['public_work']}")
    page = body.decode()
    assert status == 200 and 'id="result"' in page
    assert "Diverifikasi dan diteruskan" in page  # describe()'s labels, in Indonesian
    status, body, _ = await fetch(
        open_page, f"/public/search?code={data.codes['public_work'].lower()}&lang=en"
    )
    assert status == 200 and "Verified and forwarded to the agency" in body.decode()


async def test_a_crowd_reaches_the_database_once_per_period(open_page: Served) -> None:
    paths = [f"/public/?lang={lang}" for lang in ("id", "en")]
    paths += [f"/public/reports.json?lang={lang}" for lang in ("id", "en")]
    results = await asyncio.gather(*(fetch(open_page, p) for p in paths * 10))
    assert {status for status, _, _ in results} == {200}
    cold = len(open_page.statements)
    assert cold > 0

    for path in paths:  # every language, within the period: no query at all
        assert (await fetch(open_page, path))[0] == 200
    assert len(open_page.statements) == cold

    # A search is cached per code; a malformed code never reaches the database.
    code = open_page.seeded.codes["public_done"]
    await fetch(open_page, f"/public/search?code={code}")
    searched = len(open_page.statements)
    assert searched > cold
    await fetch(open_page, f"/public/search?code={code}&lang=en")
    await fetch(open_page, "/public/search?code=nonsense")
    assert len(open_page.statements) == searched

    # After the period the figures are computed again, once, and the page says when.
    open_page.clock[0] += timedelta(seconds=301)
    _, body, _ = await fetch(open_page, "/public/?lang=en")
    refreshed = len(open_page.statements) - searched
    assert 0 < refreshed <= cold
    assert "Computed 30 Nov 2026 09:05 WIB" in body.decode()


async def test_user_text_is_escaped_and_only_self_is_allowed(open_page: Served) -> None:
    for lang in ("id", "en"):
        status, body, headers = await fetch(open_page, f"/public/?lang={lang}")
        page = body.decode()
        assert status == 200
        assert "<script>alert" not in page and "<b>bold" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in page
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp
        assert "img-src 'self' data: https://tile.openstreetmap.org;" in csp
        assert "unsafe" not in csp
        # Only the page's own scripts, no inline ones.
        assert re.findall(r"<script[^>]*>", page) == [
            '<script src="/public/leaflet/leaflet.js">',
            '<script src="/public/static/public.js">',
        ]
        assert " style=" not in page
    code = open_page.seeded.codes["public_new"]
    status, body, _ = await fetch(open_page, f"/public/search?code={code}")
    assert status == 200 and "<script>alert" not in body.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in body.decode()


async def test_the_map_points_are_published_reports_with_a_location(open_page: Served) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(open_page.url + "/public/reports.json?lang=en") as response,
    ):
        data = await response.json()
    (point,) = data["points"]  # only public_new has a location
    assert point["code"] == open_page.seeded.codes["public_new"]
    assert (point["lat"], point["lon"]) == (0.9186, 104.4554)
    assert point["status_name"] == "Submitted" and point["status"] == "submitted"


def test_the_tile_host_is_the_only_other_source() -> None:
    assert tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == (
        "https://*.tile.example.org"
    )
    assert tile_source("") == ""


async def test_without_tiles_the_policy_allows_only_self(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    calendar = WorkingCalendar(timezone=WIB)
    async with serve_public_page(
        engine,
        tmp_path,
        seed=seed_open_data,
        now=OPEN_NOW,
        calendar=calendar,
        public_map_tiles_url="",
    ) as served:
        status, body, headers = await fetch(served, "/public/")
    assert status == 200 and 'data-tiles=""' in body.decode()
    assert "img-src 'self';" in headers["Content-Security-Policy"]
