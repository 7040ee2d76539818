"""The public transparency page at ``/public/`` (Indonesian and English), its map data and search.

Routes (added by ``PublicPage.add_routes``; bot/app.py wires it into Aduan's web server):

- ``GET /public/``: figures per agency and for the city, the monthly trend (inline SVG), a map
  of public reports (Leaflet, served by this server from bot/opendata/node_modules, no CDN),
  the latest public reports as a list, and the search form. ``?lang=id|en``, else the
  browser's Accept-Language, else the default locale.
- ``GET /public/reports.json``: the map's points: published reports (storage.publication:
  public and anonymous only) with a location.
- ``GET /public/search?code=…``: a published report and its citizen-visible history, labelled
  through the catalog (bot/casework/history.describe). A confidential, rejected, unknown or
  malformed code gets the same "not found" answer (404), so a code's existence leaks nothing.
- ``/public/static/…`` (the page's CSS and JS) and ``/public/leaflet/…`` (Leaflet's dist).

Figures come from /stats's own code over the last ``months`` months (bot/opendata/figures.py,
which also states the rule on confidential reports). Caching (bot/opendata/cache.py): the
figures and the map's reports are read at most once per ``PUBLIC_CACHE_SECONDS`` for every
language and visitor, and each language's page and JSON are rendered once from them; a search
is cached per code in a bounded LRU for the same period. A failed refresh keeps serving the
last figures with the time they were computed. Every response under /public carries a
Content-Security-Policy allowing only this server (and the tile host for map images).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from bot.casework.history import describe
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.tracking import normalise_code
from bot.opendata.cache import Periodic, TimedLru
from bot.opendata.figures import PublicFigures, public_figures
from bot.opendata.render import (
    HistoryEntry,
    MapSettings,
    SearchFound,
    Words,
    document,
    home_body,
    page_url,
    search_body,
    shorten,
)
from bot.reports.charts import STATUS_COLOURS
from bot.settings import Settings
from storage.database import SessionFactory
from storage.publication import PublishedReport, published_history, published_report
from storage.publication import published_reports as read_published_reports

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LEAFLET_DIR = HERE / "node_modules" / "leaflet" / "dist"
MONTHS = 12  # the window of the figures and the trend
MAP_LIMIT = 2000  # newest published reports of the window read for the map and the list
LIST_LIMIT = 30
SEARCH_CACHE_SIZE = 2048
POPUP_TEXT_CHARS = 200
HTML = "text/html"
COLOURS = {status.value: colour for status, colour in STATUS_COLOURS.items()}


@dataclass
class Snapshot:
    """What one period's visitors all see; each language's page and JSON rendered once."""

    figures: PublicFigures
    reports: list[PublishedReport]
    rendered: dict[tuple[str, str], bytes] = field(default_factory=dict)


def tile_source(template: str) -> str:
    """The CSP source of a tile URL template (``{s}`` subdomains become a wildcard)."""
    if not template:
        return ""
    parts = urlsplit(template.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}"


class PublicPage:
    """The transparency page's routes, with their caches."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        translator: Translator,
        calendar: WorkingCalendar,
        settings: Settings,
        clock: Clock,
        months: int = MONTHS,
        leaflet_dir: Path = LEAFLET_DIR,
    ) -> None:
        self.sessions = sessions
        self.translator = translator
        self.calendar = calendar
        self.clock = clock
        self.months = months
        self.leaflet_dir = leaflet_dir
        self.cache_seconds = settings.public_cache_seconds
        period = timedelta(seconds=settings.public_cache_seconds)
        self.map_settings = MapSettings(
            leaflet=(leaflet_dir / "leaflet.js").is_file(),
            tiles_url=settings.public_map_tiles_url,
            attribution=settings.public_map_attribution,
        )
        self._snapshot: Periodic[Snapshot] = Periodic(self._compute, period=period, clock=clock)
        self._searches: TimedLru[SearchFound | None] = TimedLru(
            size=SEARCH_CACHE_SIZE, period=period, clock=clock
        )
        tiles = tile_source(settings.public_map_tiles_url)
        # With tiles, Leaflet cancels a tile's download by pointing it at an inline empty GIF
        # (``data:``): allowed for images only, where it can carry no script.
        images = f"'self' data: {tiles}" if tiles else "'self'"
        self.csp = (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; connect-src 'self'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )

    def add_routes(self, app: web.Application) -> None:
        """The page, its JSON, its search and its static files on ``app``."""
        app.router.add_get("/public", self._to_page)
        app.router.add_get("/public/", self._page)
        app.router.add_get("/public/reports.json", self._points)
        app.router.add_get("/public/search", self._search)
        app.router.add_static("/public/static/", STATIC_DIR)
        if self.map_settings.leaflet:
            app.router.add_static("/public/leaflet/", self.leaflet_dir)
        else:
            log.warning("public page: Leaflet is not installed (make install); no map")
        app.on_response_prepare.append(self._headers)

    # --- data -------------------------------------------------------------------------

    async def _compute(self) -> Snapshot:
        figures = await public_figures(
            sessions=self.sessions, calendar=self.calendar, clock=self.clock, months=self.months
        )
        async with self.sessions() as session:
            reports = await read_published_reports(
                session, start=figures.period.start, end=figures.period.end, limit=MAP_LIMIT
            )
        return Snapshot(figures, reports)

    async def _lookup(self, code: str) -> SearchFound | None:
        async with self.sessions() as session:
            report = await published_report(session, code=code)
            if report is None:
                return None
            history = []
            for event in await published_history(session, code=code):
                labels = {
                    lang: await describe(session, self.translator, lang, event)
                    for lang in self.translator.locales
                }
                history.append(HistoryEntry(event.created_at, labels))
        return SearchFound(report, history)

    # --- requests -----------------------------------------------------------------------

    def _lang(self, request: web.Request) -> str:
        asked = request.query.get("lang", "")
        if asked in self.translator.locales:
            return asked
        accepted = [
            part.split(";")[0].strip()
            for part in request.headers.get("Accept-Language", "").split(",")
        ]
        return self.translator.pick(*accepted[:10])

    def _words(self, lang: str) -> Words:
        return Words(self.translator, lang, self.calendar)

    def _html(self, words: Words, *, title: str, body: str, here: Callable[[str], str]) -> bytes:
        return document(
            words, title=title, body=body, map_settings=self.map_settings, here=here
        ).encode()

    async def _to_page(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/public/")

    async def _snapshot_or_none(self) -> Snapshot | None:
        try:
            return await self._snapshot.get()
        except Exception as error:  # no figures yet and the database does not answer
            log.warning("public page: figures unavailable (%s)", type(error).__name__)
            return None

    async def _page(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        words = self._words(lang)
        snapshot = await self._snapshot_or_none()
        if snapshot is None:
            body = f'<p class="unavailable" role="alert">{words("public.unavailable")}</p>'
            page = self._html(
                words,
                title=words.plain("public.title"),
                body=body,
                here=lambda other: page_url("/public/", other),
            )
            return web.Response(body=page, status=503, content_type=HTML, charset="utf-8")
        cached = snapshot.rendered.get(("page", lang))
        if cached is None:
            body = home_body(
                words,
                snapshot.figures,
                snapshot.reports,
                map_settings=self.map_settings,
                cache_minutes=max(1, round(self.cache_seconds / 60)),
                list_limit=LIST_LIMIT,
            )
            cached = snapshot.rendered[("page", lang)] = self._html(
                words,
                title=words.plain("public.title"),
                body=body,
                here=lambda other: page_url("/public/", other),
            )
        return web.Response(body=cached, content_type=HTML, charset="utf-8")

    async def _points(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        snapshot = await self._snapshot_or_none()
        if snapshot is None:
            return web.json_response({"points": []}, status=503)
        body = snapshot.rendered.get(("json", lang))
        if body is None:
            body = snapshot.rendered[("json", lang)] = self._points_json(snapshot, lang)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    def _points_json(self, snapshot: Snapshot, lang: str) -> bytes:
        words = self._words(lang)
        points = [
            {
                "code": r.tracking_code,
                "lat": r.latitude,
                "lon": r.longitude,
                "category": r.category_code,
                "category_name": words.category(r),
                "status": r.status,
                "status_name": words.status(r.status),
                "colour": COLOURS.get(r.status, "#777777"),
                "submitted": words.day(self.calendar.local(r.submitted_at).date()),
                "place": ", ".join(p for p in (r.address, r.district) if p),
                "text": shorten(r.description, POPUP_TEXT_CHARS),
                "url": page_url("/public/search", lang, code=r.tracking_code),
            }
            for r in snapshot.reports
            if r.latitude is not None and r.longitude is not None
        ]
        computed = snapshot.figures.computed_at.isoformat()
        return json.dumps({"computed_at": computed, "points": points}, ensure_ascii=False).encode()

    async def _search(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        words = self._words(lang)
        typed = request.query.get("code", "")[:40]
        if not typed.strip():
            raise web.HTTPFound(page_url("/public/", lang))
        code = normalise_code(typed)
        found = None
        if code is not None:  # a malformed code never reaches the database
            try:
                found = await self._searches.get(code, lambda: self._lookup(code))
            except Exception as error:
                log.warning("public search unavailable (%s)", type(error).__name__)
                raise web.HTTPServiceUnavailable() from error
        shown = found.report.tracking_code if found else ""
        page = self._html(
            words,
            title=words.plain("public.search.title"),
            body=search_body(words, found),
            here=lambda other: page_url("/public/search", other, code=shown),
        )
        return web.Response(
            body=page, status=200 if found else 404, content_type=HTML, charset="utf-8"
        )

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if request.path != "/public" and not request.path.startswith("/public/"):
            return
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith(("/public/static/", "/public/leaflet/")):
            response.headers["Vary"] = "Accept-Language"
            response.headers["Cache-Control"] = (
                f"public, max-age={min(60, int(self.cache_seconds))}"
            )
