"""The Open311 GeoReport v2 API against its spec, on SQLite and PostgreSQL, over real HTTP.

The app is built on the ``engine`` fixture with the open-data fixture (tests/support/
open_data.py); the site is served by aiohttp's test server on 127.0.0.1 and fetches photos
through a real Telegram client from the fake Bot API (bot/sandbox/emulator.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import App, build_app
from bot.core.text import plain_text
from bot.opendata.open311 import Open311Site
from bot.opendata.rate_limit import KeyRateLimiter
from bot.runtime import TelegramClient
from bot.sandbox.emulator import Emulator
from storage.api_keys import issue_api_key, revoke_api_key
from storage.models import Attachment, Complaint
from tests.conftest import make_settings
from tests.support.flow_driver import Citizen, FakeClock
from tests.support.open_data import ADMIN_ID, OpenData, seed_open_data

REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
PHOTO = b"\xff\xd8\xff\xe0 a public photo \xff\xd9"
V2 = "/open311/v2"


@dataclass
class Served:
    """The running API and what the tests check it against."""

    app: App
    http: TestClient[Any, Any]
    data: OpenData
    key: str
    revoked_key: str


async def serve(app: App, site: Open311Site) -> TestClient[Any, Any]:
    """The site on a real HTTP server on 127.0.0.1."""
    web_app = web.Application()
    site.add_routes(web_app)
    client: TestClient[Any, Any] = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def served(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Served]:
    async with Emulator() as emulator:
        settings = make_settings(tmp_path, telegram_api_url=emulator.base_url)
        app = await build_app(settings, engine=engine, clock=FakeClock())
        client = _telegram_client(settings)
        await client.open()
        async with app.sessions() as session:
            data = await seed_open_data(session)
            # The public report's photo is a file the fake Telegram can hand over.
            stored = emulator.world.files.add("photo", PHOTO)
            attachment = await session.get(Attachment, data.photos["public_new"][0])
            assert attachment is not None
            attachment.file_id = stored.file_id
            session.add(attachment)
            data.secrets += [stored.file_id, stored.file_unique_id]
            key = (
                await issue_api_key(session=session, name="Mitra", created_by=None, now=app.clock())
            )[1]
            old, revoked = await issue_api_key(
                session=session, name="Lama", created_by=None, now=app.clock()
            )
            await revoke_api_key(session=session, key_id=old.id or 0, now=app.clock())
            await session.commit()
        site = Open311Site(
            sessions=app.sessions,
            translator=app.translator,
            calendar=app.calendar,
            settings=settings,
            clock=app.clock,
            download=client.sender.download,
        )
        http = await serve(app, site)
        try:
            yield Served(app, http, data, key, revoked)
        finally:
            await http.close()
            await client.close()
            await app.close()


def _telegram_client(settings: Any) -> TelegramClient:
    from bot.app import telegram_client

    return telegram_client(settings)


async def get_json(served: Served, path: str, expect: int = 200, **params: str) -> Any:
    response = await served.http.get(f"{V2}/{path}", params=params)
    assert response.status == expect, await response.text()
    assert response.content_type == "application/json" and response.charset == "utf-8"
    return json.loads(await response.read())


async def get_xml(
    served: Served, path: str, expect: int = 200, **params: str
) -> ElementTree.Element:
    response = await served.http.get(f"{V2}/{path}", params=params)
    assert response.status == expect, await response.text()
    assert response.content_type == "text/xml"
    body = await response.read()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(body)


def codes_of(body: list[dict[str, Any]]) -> list[str]:
    return [item["service_request_id"] for item in body]


async def test_discovery_and_services_in_both_formats(served: Served) -> None:
    discovery = await get_json(served, "discovery.json")
    endpoint = discovery["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = await get_xml(served, "discovery.xml")
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]
    services = await get_json(served, "services.json")
    by_code = {s["service_code"]: s for s in services}
    assert len(by_code) == 13 and set(services[0]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert by_code["roads"]["group"] == "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert by_code["roads"]["service_name"] == "Jalan & jembatan"
    assert by_code["roads"]["metadata"] is False and by_code["roads"]["type"] == "realtime"
    english = await get_json(served, "services.json", locale="en")
    assert {s["service_name"] for s in english} >= {"Roads & bridges"}
    root = await get_xml(served, "services.xml")
    assert root.tag == "services" and len(root.findall("service")) == 13
    first = root.find("service")
    assert first is not None and [c.tag for c in first] == list(services[0])
    assert first.findtext("metadata") == "false"
    definition = await get_json(served, "services/roads.json")
    assert definition == {"service_code": "roads", "attributes": []}
    root = await get_xml(served, "services/roads.xml")
    assert root.tag == "service_definition" and root.findtext("service_code") == "roads"
    missing = await get_json(served, "services/nope.json", 404)
    assert missing[0]["code"] == 404 and missing[0]["description"]
    root = await get_xml(served, "services/nope.xml", 404)
    assert root.tag == "errors" and root.findtext("error/code") == "404"
    root = await get_xml(served, "services.csv", 404)
    assert root.findtext("error/code") == "404" and root.findtext("error/description")


async def test_requests_filters_and_pages(served: Served) -> None:
    codes = served.data.codes
    newest_first = [
        codes[label]
        for label in (
            "anon_info",
            "walk_in",
            "anon_work",
            "public_fixed",
            "public_new",
            "public_work",
            "public_done",
        )
    ]
    # Default: the last 90 days (public_old, from August, is outside), newest first.
    assert codes_of(await get_json(served, "requests.json")) == newest_first
    root = await get_xml(served, "requests.xml")
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == newest_first
    closed = await get_json(served, "requests.json", status="closed")
    assert codes_of(closed) == [codes["public_fixed"], codes["public_done"]]
    assert {item["status"] for item in closed} == {"closed"}
    opened = await get_json(served, "requests.json", status="open")
    assert codes_of(opened) == [c for c in newest_first if c not in codes_of(closed)]
    both = await get_json(served, "requests.json", status="open,closed")
    assert codes_of(both) == newest_first
    health = await get_json(served, "requests.json", service_code="health")
    assert codes_of(health) == [codes["public_fixed"]]
    ranged = await get_json(
        served,
        "requests.json",
        start_date="2026-11-15T00:00:00+07:00",
        end_date="2026-11-25T00:00:00+07:00",
    )
    assert codes_of(ranged) == [codes["walk_in"], codes["anon_work"], codes["public_fixed"]]
    august = await get_json(served, "requests.json", start_date="2026-08-01", end_date="2026-09-01")
    assert codes_of(august) == [codes["public_old"]]
    # service_request_id: a list; everything else is ignored; hidden codes are simply absent.
    asked = ",".join([codes["public_old"], *served.data.hidden_codes, codes["public_new"]])
    listed = await get_json(served, "requests.json", service_request_id=asked, status="closed")
    assert codes_of(listed) == [codes["public_new"], codes["public_old"]]
    pages = [
        codes_of(await get_json(served, "requests.json", page=str(n), page_size="3"))
        for n in (1, 2, 3, 4)
    ]
    assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:], []]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "pending"},
        {"start_date": "yesterday"},
        {"end_date": "2026-13-01T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
        {"start_date": "2026-11-20T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
        {"page": "0"},
        {"page_size": "1001"},
        {"page_size": "ten"},
    ],
)
async def test_bad_filters_are_400_in_both_formats(served: Served, params: dict[str, str]) -> None:
    body = await get_json(served, "requests.json", 400, **params)
    assert body[0]["code"] == 400 and body[0]["description"]
    root = await get_xml(served, "requests.xml", 400, **params)
    assert root.tag == "errors" and root.findtext("error/code") == "400"


async def test_one_request_carries_the_spec_fields(served: Served) -> None:
    codes = served.data.codes
    [work] = await get_json(served, f"requests/{codes['public_work']}.json")
    assert set(work) == REQUEST_FIELDS
    assert work["status"] == "open" and work["service_code"] == "roads"
    assert work["service_name"] == "Jalan & jembatan"
    assert work["agency_responsible"] == "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert work["status_notes"] == "Perkembangan penanganan"  # the catalog, not the staff's text
    assert work["requested_datetime"] == "2026-11-05T10:00:00+07:00"
    assert work["updated_datetime"] == "2026-11-20T11:00:00+07:00"
    assert work["expected_datetime"] == "2026-11-23T23:00:00+07:00"  # completion, running
    assert work["address"] == "Jl. Merdeka 5" and work["lat"] is None
    assert work["media_url"].endswith(f"/open311/v2/media/{codes['public_work']}-1.jpg")
    root = await get_xml(served, f"requests/{codes['public_work']}.xml")
    request = root.find("request")
    assert request is not None and {child.tag for child in request} == REQUEST_FIELDS
    assert request.findtext("status") == "open" and request.findtext("address_id") == ""
    [new] = await get_json(served, f"requests/{codes['public_new']}.json")
    assert (new["lat"], new["long"]) == (0.9186, 104.4554) and new["agency_responsible"] is None
    [anon] = await get_json(served, f"requests/{codes['anon_work']}.json")
    assert anon["media_url"] is None  # an anonymous report's photo is never published
    [done] = await get_json(served, f"requests/{codes['public_done']}.json", locale="en")
    assert done["status"] == "closed" and done["expected_datetime"] is None
    t = served.app.translator
    closed = t(
        "en", "event.with_detail", what=t("en", "event.close"), detail=t("en", "verdict.fixed")
    )
    assert done["status_notes"] == plain_text(closed)
    unknown = await served.http.get(f"{V2}/requests/TPI-2026-999999.json")
    assert unknown.status == 404
    for code in served.data.hidden_codes:
        hidden = await served.http.get(f"{V2}/requests/{code}.json")
        assert hidden.status == 404 and await hidden.read() == await unknown.read()


async def test_post_creates_a_report_the_superadmin_sees_in_the_inbox(served: Served) -> None:
    form = {
        "api_key": served.key,
        "service_code": "drainage",
        "description": "Saluran air tersumbat sampah di depan sekolah dasar sejak kemarin.",
        "lat": "0.92",
        "long": "104.45",
        "first_name": "Wiryawanqx",
        "last_name": "Pelapor",
        "phone": "0813-0000-4455",
        "email": "wiryawanqx@example.org",
    }
    response = await served.http.post(f"{V2}/requests.json", data=form)
    assert response.status == 200, await response.text()
    [answer] = await response.json()
    assert set(answer) == {"service_request_id", "token", "service_notice", "account_id"}
    code = answer["service_request_id"]
    assert answer["account_id"] is None and answer["token"] and code in answer["service_notice"]
    async with served.app.sessions() as session:
        stored = (
            await session.exec(select(Complaint).where(Complaint.tracking_code == code))
        ).one()
    assert stored.channel == "open311" and stored.status == "submitted"
    assert stored.reporter_name == "Wiryawanqx Pelapor" and stored.privacy == "anonymous"
    assert stored.reporter_contact == "0813-0000-4455 / wiryawanqx@example.org"
    assert stored.verify_due_at is not None and stored.claim_token == answer["token"]
    admin = Citizen(served.app, user_id=ADMIN_ID)
    await admin.say("/inbox")
    assert code in admin.text
    [published] = await get_json(served, f"requests/{code}.json")
    assert "Wiryawanqx" not in json.dumps(published) and "0813" not in json.dumps(published)
    assert published["status_notes"] and published["service_code"] == "drainage"
    xml_form = {**form, "address_string": "Jl. Pos 3", "privacy": "public"}
    del xml_form["lat"], xml_form["long"]
    response = await served.http.post(f"{V2}/requests.xml", data=xml_form)
    assert response.status == 200
    root = ElementTree.fromstring(await response.read())
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None and [c.tag for c in request] == [
        "service_request_id",
        "token",
        "service_notice",
        "account_id",
    ]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"api_key": None}, 403),
        ({"api_key": "aduan_not-a-key"}, 403),
        ({"api_key": "revoked"}, 403),
        ({"description": None}, 400),
        ({"description": "terlalu pendek"}, 400),
        ({"service_code": "nope"}, 400),
        ({"lat": None, "long": None}, 400),
        ({"lat": "95"}, 400),
        ({"privacy": "secret"}, 400),
    ],
)
async def test_post_refusals(served: Served, change: dict[str, str | None], status: int) -> None:
    form: dict[str, str | None] = {
        "api_key": served.key,
        "service_code": "roads",
        "description": "Jalan berlubang besar di tikungan dekat masjid raya.",
        "lat": "0.9",
        "long": "104.4",
        **change,
    }
    if form["api_key"] == "revoked":
        form["api_key"] = served.revoked_key
    sent = {k: v for k, v in form.items() if v is not None}
    for fmt in ("json", "xml"):
        response = await served.http.post(f"{V2}/requests.{fmt}", data=sent)
        assert response.status == status
        body = await response.read()
        if fmt == "json":
            assert json.loads(body)[0]["code"] == status
        else:
            assert ElementTree.fromstring(body).findtext("error/code") == str(status)
    async with served.app.sessions() as session:
        found = await session.exec(select(Complaint).where(Complaint.channel == "open311"))
        assert found.all() == []


async def test_a_key_over_its_limit_gets_429_with_retry_after(
    served: Served,
) -> None:
    app = served.app
    site = Open311Site(
        sessions=app.sessions,
        translator=app.translator,
        calendar=app.calendar,
        settings=app.settings,
        clock=app.clock,
        limiter=KeyRateLimiter(2),
    )
    http = await serve(app, site)
    try:
        for _ in range(2):
            ok = await http.get(f"{V2}/services.json", params={"api_key": served.key})
            assert ok.status == 200
        limited = await http.get(f"{V2}/services.xml", params={"api_key": served.key})
        assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
        root = ElementTree.fromstring(await limited.read())
        assert root.findtext("error/code") == "429"
        posted = await http.post(f"{V2}/requests.json", data={"api_key": served.key})
        assert posted.status == 429 and (await posted.json())[0]["code"] == 429
        assert (await http.get(f"{V2}/services.json")).status == 200  # reading needs no key
    finally:
        await http.close()


async def test_media_proxy_serves_only_public_photos(served: Served) -> None:
    codes = served.data.codes
    photo = await served.http.get(f"{V2}/media/{codes['public_new']}-1.jpg")
    assert photo.status == 200 and photo.content_type == "image/jpeg"
    assert await photo.read() == PHOTO
    for name in (
        f"{codes['anon_work']}-1",
        f"{codes['secret_work']}-1",
        f"{codes['public_work']}-2",  # sent with a follow-up, not with the report
        f"{codes['public_new']}-2",
        f"{codes['public_new']}-x",
        "TPI-2026-999999-1",
    ):
        refused = await served.http.get(f"{V2}/media/{name}.jpg")
        assert refused.status == 404, name
        assert ElementTree.fromstring(await refused.read()).findtext("error/code") == "404"


async def test_no_published_byte_names_a_reporter_or_a_hidden_report(served: Served) -> None:
    codes = served.data.codes
    paths = ["discovery", "services", "services/roads", "services/nope", "requests", "x/y"]
    paths += [f"requests/{code}" for code in served.data.published_codes]
    queries: list[dict[str, str]] = [
        {},
        {"status": "open"},
        {"status": "closed"},
        {"start_date": "2026-08-01", "end_date": "2026-10-01"},
        {"service_request_id": ",".join(served.data.published_codes)},
        {"locale": "en"},
    ]
    bodies: list[bytes] = []
    for path in paths:
        for fmt in ("json", "xml"):
            for query in queries:
                response = await served.http.get(f"{V2}/{path}.{fmt}", params=query)
                bodies.append(await response.read() + str(dict(response.headers)).encode())
    for code in served.data.published_codes:
        for n in (1, 2):
            response = await served.http.get(f"{V2}/media/{code}-{n}.jpg")
            bodies.append(await response.read() + str(dict(response.headers)).encode())
    posted = await served.http.post(
        f"{V2}/requests.json",
        data={
            "api_key": served.key,
            "service_code": "roads",
            "description": "Lampu jalan padam di sepanjang jalan utama pasar.",
            "address_string": "Jl. Pasar 1",
            "first_name": "Zulkarnaenqx",
            "phone": "0812-7788-9911",
        },
    )
    bodies.append(await posted.read())
    assert len(bodies) > 100 and any(body[: len(PHOTO)] == PHOTO for body in bodies)
    assert any(codes["public_work"].encode() in body for body in bodies)
    for body in bodies:
        text = body.decode("utf-8", errors="replace")
        for secret in served.data.secrets:
            assert secret not in text, secret
