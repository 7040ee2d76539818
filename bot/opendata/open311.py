"""The Open311 GeoReport v2 API under ``/open311/v2/``: the city's published reports.

Routes (``{fmt}`` is ``json`` or ``xml``; anything else is 404):

- ``GET discovery.{fmt}``, ``GET services.{fmt}`` (the active categories: service_code is
  the category's code, group its usual agency), ``GET services/<code>.{fmt}`` (no extra
  attributes: no category asks for any);
- ``GET requests.{fmt}`` with ``service_request_id`` (comma list; then every other filter is
  ignored), ``service_code`` (comma list), ``status`` (open, closed), ``start_date`` and
  ``end_date`` (W3C; 90 days back from now by default, a range spans at most 90 days) and
  the extensions ``page`` (from 1) and ``page_size`` (1–1000, default 1000), newest first;
  ``GET requests/<tracking code>.{fmt}``;
- ``POST requests.{fmt}`` with a valid ``api_key`` (bot/opendata/open311_submit.py);
- ``GET media/<tracking code>-<n>.jpg``: a public report's n-th photo, fetched from Telegram
  by this server (the bot's token never leaves it).

Decisions:
- What is published is decided by storage/publication.py alone; a confidential, rejected or
  unknown id answers the same 404, and counts nowhere.
- ``status_notes`` is the latest citizen-visible history step said through the catalog
  (bot/casework/history.describe), never the free text of the step: a staff answer may
  address the reporter by name. Text is in Indonesian unless the ``locale`` extension asks
  for another catalog language (``locale=en``); so are the errors' descriptions.
- Reading needs no key (it is public data); a request that names an ``api_key`` must name a
  valid one and is counted against its rate limit (bot/opendata/rate_limit.py). Anonymous
  reads are limited by the reverse proxy in front (README), not here.
- Errors are the spec's list, in the format asked for (XML where none could be read):
  400 bad input, 403 a missing, invalid or revoked key, 404 unknown, 429 with Retry-After.
- The photo's address uses the report's tracking code and the photo's place among the
  report's published photos, never a database id (ids would count unpublished attachments).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.casework.history import describe
from bot.casework.work import Office
from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.text import plain_text
from bot.opendata import georeport
from bot.opendata.georeport import Format, parse_format
from bot.opendata.open311_params import ApiProblem, parse_filters
from bot.opendata.open311_submit import receive
from bot.opendata.rate_limit import KeyRateLimiter
from bot.sending import DeliveryError, Rejected
from bot.settings import Settings
from storage.api_keys import active_api_key
from storage.database import SessionFactory
from storage.models import Agency, ApiKey
from storage.publication import (
    PublishedReport,
    latest_published_events,
    published_photo,
    published_report,
    published_reports,
)
from storage.reference import active_categories, category_by_code

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
# When this API's shape last changed (the discovery document's changeset).
CHANGESET = "2026-12-01T00:00:00Z"
# A photo may stop being public (privacy is tightened): caches keep it only briefly.
MEDIA_CACHE_SECONDS = 300

Clock = Callable[[], datetime]
Download = Callable[[str], Awaitable[tuple[bytes, str | None]]]
Handler = Callable[[web.Request, Format, str], Awaitable[web.StreamResponse]]


class Open311Site:
    """The Open311 routes of one app (served by bot/runtime.py with the other sites)."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        translator: Translator,
        calendar: WorkingCalendar,
        settings: Settings,
        clock: Clock,
        download: Download | None = None,
        limiter: KeyRateLimiter | None = None,
    ) -> None:
        self.sessions = sessions
        self.translator = translator
        self.calendar = calendar
        self.settings = settings
        self.clock = clock
        # Telegram's getFile + download, on the bot's own client (None: photos are not served).
        self.download = download
        self.limiter = limiter or KeyRateLimiter(settings.open311_requests_per_minute)
        self.office = Office.of(settings, translator, calendar)

    def add_routes(self, app: web.Application) -> None:
        """Every route under ``/open311/v2/`` on ``app``."""
        app.router.add_get(f"{PREFIX}/discovery.{{fmt}}", self._api(self._discovery))
        app.router.add_get(f"{PREFIX}/services.{{fmt}}", self._api(self._services))
        app.router.add_get(f"{PREFIX}/services/{{code}}.{{fmt}}", self._api(self._service))
        app.router.add_get(f"{PREFIX}/requests.{{fmt}}", self._api(self._requests))
        app.router.add_post(f"{PREFIX}/requests.{{fmt}}", self._api(self._submit))
        app.router.add_get(f"{PREFIX}/requests/{{code}}.{{fmt}}", self._api(self._request))
        app.router.add_get(f"{PREFIX}/media/{{name}}.jpg", self._api(self._media))

    def say(self, locale: str, key: str, **values: object) -> str:
        """A catalog text as plain text (the API carries no markup)."""
        return plain_text(self.translator(locale, key, **values))

    def _api(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            locale = self.translator.pick(request.query.get("locale"))
            fmt = parse_format(request.match_info.get("fmt", Format.XML.value))
            if fmt is None:
                return georeport.error(Format.XML, 404, self.say(locale, "open311.error.format"))
            try:
                return await handler(request, fmt, locale)
            except ApiProblem as problem:
                headers = None
                if problem.http_status == 429:
                    headers = {"Retry-After": str(problem.values["seconds"])}
                text = self.say(locale, problem.key, **problem.values)
                return georeport.error(fmt, problem.http_status, text, headers=headers)

        return run

    async def authorise(self, session: AsyncSession, secret: str | None) -> ApiKey:
        """The valid key named by ``secret``, counted against its limit (403, 429 otherwise)."""
        if not secret:
            raise ApiProblem(403, "open311.error.key_required")
        key = await active_api_key(session=session, secret=secret)
        if key is None or key.id is None:
            raise ApiProblem(403, "open311.error.key_invalid")
        wait = self.limiter.take(key.id)
        if wait is not None:
            raise ApiProblem(
                429, "open311.error.rate_limited", seconds=self.limiter.retry_after(wait)
            )
        return key

    async def _reader(self, request: web.Request, session: AsyncSession) -> None:
        # Reading is public; a key, when named, must be valid and is rate-limited.
        if "api_key" in request.query:
            await self.authorise(session, request.query["api_key"])

    # --- documents ---------------------------------------------------------------------

    async def _discovery(self, request: web.Request, fmt: Format, locale: str) -> web.Response:
        body = georeport.discovery(
            base_url=f"{_origin(request)}{PREFIX}",
            changeset=CHANGESET,
            contact=self.say(locale, "open311.contact"),
            key_service=self.say(locale, "open311.key_service"),
        )
        return georeport.respond(fmt, "discovery", body)

    async def _services(self, request: web.Request, fmt: Format, locale: str) -> web.Response:
        async with self.sessions() as session:
            await self._reader(request, session)
            agencies = {a.id: a.name for a in (await session.exec(select(Agency))).all()}
            categories = await active_categories(session=session)
        body = []
        for category in categories:
            agency = agencies.get(category.agency_id) if category.agency_id else None
            name = category.name(locale)
            described = (
                self.say(locale, "open311.service_routed", category=name, agency=agency)
                if agency
                else self.say(locale, "open311.service", category=name)
            )
            body.append(
                {
                    "service_code": category.code,
                    "service_name": name,
                    "description": described,
                    "metadata": False,
                    "type": "realtime",
                    "keywords": "",
                    "group": agency or "",
                }
            )
        return georeport.respond(fmt, "services", body)

    async def _service(self, request: web.Request, fmt: Format, locale: str) -> web.Response:
        code = request.match_info["code"]
        async with self.sessions() as session:
            await self._reader(request, session)
            category = await category_by_code(session=session, code=code)
        if category is None or not category.active:
            raise ApiProblem(404, "open311.error.service_unknown", code=code)
        body = {"service_code": category.code, "attributes": []}
        return georeport.respond(fmt, "service_definition", body)

    async def _requests(self, request: web.Request, fmt: Format, locale: str) -> web.Response:
        filters = parse_filters(request.query, now=self.clock(), calendar=self.calendar)
        async with self.sessions() as session:
            await self._reader(request, session)
            reports = await published_reports(
                session,
                codes=filters.codes,
                category_codes=filters.category_codes,
                is_open=filters.is_open,
                start=filters.start,
                end=filters.end,
                limit=filters.page_size,
                offset=filters.offset,
            )
            body = await self._described(session, request, locale, reports)
        return georeport.respond(fmt, "service_requests", body)

    async def _request(self, request: web.Request, fmt: Format, locale: str) -> web.Response:
        code = request.match_info["code"]
        async with self.sessions() as session:
            await self._reader(request, session)
            report = await published_report(session, code=code)
            if report is None:
                raise ApiProblem(404, "open311.error.request_unknown")
            body = await self._described(session, request, locale, [report])
        return georeport.respond(fmt, "service_requests", body)

    async def _described(
        self,
        session: AsyncSession,
        request: web.Request,
        locale: str,
        reports: list[PublishedReport],
    ) -> list[dict[str, Any]]:
        latest = await latest_published_events(session, codes=[r.tracking_code for r in reports])
        origin = _origin(request)
        body = []
        for report in reports:
            event = latest.get(report.tracking_code)
            notes = (
                plain_text(await describe(session, self.translator, locale, event))
                if event
                else None
            )
            media = (
                f"{origin}{PREFIX}/media/{report.tracking_code}-1.jpg" if report.photo_ids else None
            )
            name = report.category_name_en if locale == "en" else report.category_name_id
            body.append(
                georeport.service_request(
                    report,
                    calendar=self.calendar,
                    service_name=name,
                    status_notes=notes,
                    media_url=media,
                )
            )
        return body

    async def _submit(self, request: web.Request, fmt: Format, locale: str) -> web.Response:
        form = await request.post()
        secret = form.get("api_key") or request.query.get("api_key")
        body = await receive(
            self, dict(form), secret=secret if isinstance(secret, str) else None, locale=locale
        )
        return georeport.respond(fmt, "service_requests", [body])

    async def _media(self, request: web.Request, fmt: Format, locale: str) -> web.StreamResponse:
        code, _, place = request.match_info["name"].rpartition("-")
        async with self.sessions() as session:
            report = await published_report(session, code=code) if place.isdigit() else None
            index = int(place) - 1 if place.isdigit() else -1
            if report is None or not 0 <= index < len(report.photo_ids):
                raise ApiProblem(404, "open311.error.media_unknown")
            photo = await published_photo(session, attachment_id=report.photo_ids[index])
        if photo is None or self.download is None:
            raise ApiProblem(404, "open311.error.media_unknown")
        try:
            data, _path = await self.download(photo.file_id)
        except Rejected:
            raise ApiProblem(404, "open311.error.media_unknown") from None
        except DeliveryError as error:
            log.warning(
                "a published photo could not be fetched from Telegram (%s)", type(error).__name__
            )
            raise ApiProblem(503, "open311.error.media_unavailable") from None
        headers = {"Cache-Control": f"public, max-age={MEDIA_CACHE_SECONDS}"}
        return web.Response(body=data, content_type="image/jpeg", headers=headers)


def _origin(request: web.Request) -> str:
    """Where the caller reached this server (a reverse proxy says so in X-Forwarded-*)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}"
