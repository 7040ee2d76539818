"""The training sandbox over HTTP: the page, the act-as-a-user API, the live websocket, the
scenario and the command that starts it when there is no token."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlmodel import select

from bot.core.lifecycle import Status
from bot.sandbox.pictures import sample_photo
from bot.sandbox.training import Sandbox, SandboxOptions
from storage.models import Complaint, Staff
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings

# Reports are numbered per local year, and the sandbox runs on the real clock.
THIS_YEAR_CODE = f"TPI-{datetime.now(ZoneInfo('Asia/Jakarta')).year}-"

CITIZEN, ADMIN, OFFICER = 1001, 9001, 9002
WAIT = 10.0


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    options = SandboxOptions(port=0, database=tmp_path / "sandbox.db")
    async with Sandbox(make_settings(tmp_path), options) as sandbox:
        yield sandbox
        assert sandbox.emulator.internal_errors == []


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        yield session


async def act(
    http: aiohttp.ClientSession, sandbox: Sandbox, user: int, action: str, body: object
) -> tuple[int, dict[str, Any]]:
    """POST an action as a user; (status, JSON answer)."""
    async with http.post(f"{sandbox.url}api/users/{user}/{action}", json=body) as response:
        return response.status, await response.json()


async def chat(http: aiohttp.ClientSession, sandbox: Sandbox, user: int) -> dict[str, Any]:
    async with http.get(f"{sandbox.url}api/chats/{user}") as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def bot_says(sandbox: Sandbox, user: int, needle: str) -> dict[str, Any]:
    """Wait for the bot's message containing ``needle`` in a user's chat."""
    return await sandbox.emulator.wait_for_message(
        user,
        after=0,
        predicate=lambda m: needle in str(m.get("text") or m.get("caption") or ""),
        timeout=WAIT,
    )


def button(message: dict[str, Any], label: str) -> str:
    rows = message["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if label in b["text"])


async def test_the_page_its_files_and_the_session_are_served(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(sandbox.url) as response:
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
    assert '<script src="/static/sandbox.js"' in page
    for name, kind in (("sandbox.js", "javascript"), ("sandbox.css", "text/css")):
        async with http.get(f"{sandbox.url}static/{name}") as response:
            assert response.status == 200 and kind in response.content_type
    async with http.get(f"{sandbox.url}api/session") as response:
        session = await response.json()
    roles = {p["role"]: p for p in session["participants"]}
    assert [roles[r]["user_id"] for r in ("citizen", "admin", "officer")] == [
        CITIZEN,
        ADMIN,
        OFFICER,
    ]
    assert roles["officer"]["detail"] == "Dinas PUPR"
    assert session["scenario"] == []


async def test_the_sandbox_makes_its_admin_and_officer_in_its_own_database(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    assert sandbox.app is not None
    assert sandbox.app.settings.database_url.endswith(str(tmp_path / "sandbox.db"))
    assert sandbox.app.settings.telegram_api_url == sandbox.emulator.base_url
    assert sandbox.app.settings.quiet_hours == ""  # training happens at any hour
    async with UnitOfWork(sandbox.app.sessions) as uow:
        staff = {s.telegram_id: s.role for s in (await uow.session.exec(select(Staff))).all()}
    assert staff == {ADMIN: "superadmin", OFFICER: "agency_admin"}


async def test_the_websocket_pushes_each_chat_as_it_changes(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{sandbox.url}api/live") as live:
        first = [await live.receive_json(timeout=WAIT) for _ in range(3)]
        assert sorted(c["user_id"] for c in first) == [CITIZEN, ADMIN, OFFICER]
        assert all(c["messages"] == [] for c in first)
        status, answer = await act(http, sandbox, CITIZEN, "text", {"text": "/start"})
        assert status == 200 and answer["ok"] and answer["update_id"] > 0

        def greeted(view: dict[str, Any]) -> bool:
            return any("Halo, Siti" in m.get("html", "") for m in view["messages"])

        view = await receive_until(live, lambda v: v["user_id"] == CITIZEN and greeted(v))
    mine, reply = view["messages"][0], view["messages"][-1]
    assert mine["out"] is True and mine["html"] == "/start"
    assert reply["out"] is False
    assert [b["data"] for row in reply["buttons"] for b in row] == ["m:new", "m:mine:0", "m:help"]


async def receive_until(
    live: aiohttp.ClientWebSocketResponse, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first pushed chat that satisfies ``wanted`` (each receive is bounded)."""
    for _ in range(100):
        view: dict[str, Any] = await live.receive_json(timeout=WAIT)
        if wanted(view):
            return view
    raise AssertionError("the chat never got there")


async def test_buttons_keys_locations_and_photos_act_as_the_user(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    await act(http, sandbox, CITIZEN, "text", {"text": "/new"})
    question = await bot_says(sandbox, CITIZEN, "Langkah 1 dari 6")
    status, answer = await act(
        http,
        sandbox,
        CITIZEN,
        "click",
        {"message_id": question["message_id"], "data": button(question, "Pengaduan")},
    )
    assert status == 200 and "answer" in answer  # returned once the bot answered the press
    category = await bot_says(sandbox, CITIZEN, "Langkah 2 dari 6")
    await act(
        http,
        sandbox,
        CITIZEN,
        "click",
        {"message_id": category["message_id"], "data": button(category, "Jalan")},
    )
    await bot_says(sandbox, CITIZEN, "Langkah 3 dari 6")
    await act(
        http,
        sandbox,
        CITIZEN,
        "text",
        {"text": "Lampu jalan mati <b>di</b> Jl. Merdeka sejak dua minggu."},
    )
    await bot_says(sandbox, CITIZEN, "Langkah 4 dari 6")
    view = await chat(http, sandbox, CITIZEN)
    assert view["keyboard"][0][0] == {"text": "📍 Kirim lokasi saya", "location": True}
    status, _ = await act(http, sandbox, CITIZEN, "key", {"text": "📍 Kirim lokasi saya"})
    assert status == 200
    await bot_says(sandbox, CITIZEN, "Langkah 5 dari 6")
    picture = base64.b64encode(sample_photo(7)).decode()
    status, _ = await act(
        http,
        sandbox,
        CITIZEN,
        "photo",
        {"data": f"data:image/png;base64,{picture}", "caption": "Foto"},
    )
    assert status == 200
    await bot_says(sandbox, CITIZEN, "1 dari 5")
    status, _ = await act(
        http, sandbox, CITIZEN, "location", {"latitude": 0.92, "longitude": 104.46}
    )
    assert status == 200

    view = await chat(http, sandbox, CITIZEN)
    sent = [m for m in view["messages"] if m["out"]]
    assert sent[0]["html"] == "/new"
    assert sent[1]["html"] == "Lampu jalan mati &lt;b&gt;di&lt;/b&gt; Jl. Merdeka sejak dua minggu."
    assert sent[2]["location"] == {"latitude": 0.9186, "longitude": 104.4554}  # the city's
    assert sent[3]["media"]["kind"] == "photo" and sent[3]["html"] == "Foto"
    assert sent[4]["location"] == {"latitude": 0.92, "longitude": 104.46}
    async with http.get(sandbox.url.rstrip("/") + sent[3]["media"]["url"]) as response:
        assert response.status == 200 and response.content_type == "image/png"
        assert await response.read() == sample_photo(7)
    assert view["keyboard"] == []  # the location keyboard closed after the step
    bot_html = "".join(m.get("html", "") for m in view["messages"] if not m["out"])
    assert "<b>" in bot_html and "<script" not in bot_html


async def test_a_sample_photo_is_drawn_when_none_is_uploaded(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, _ = await act(http, sandbox, CITIZEN, "photo", {})
    assert status == 200
    await bot_says(sandbox, CITIZEN, "laporan baru dengan ini")
    photo = next(m for m in (await chat(http, sandbox, CITIZEN))["messages"] if m.get("media"))
    async with http.get(sandbox.url.rstrip("/") + photo["media"]["url"]) as response:
        assert response.content_type == "image/png"


async def test_requests_the_page_should_not_send_are_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    assert (await act(http, sandbox, 4242, "text", {"text": "hi"}))[0] == 404
    assert (await act(http, sandbox, CITIZEN, "shout", {"text": "hi"}))[0] == 404
    assert (await act(http, sandbox, CITIZEN, "text", {"text": "  "}))[0] == 400
    assert (await act(http, sandbox, CITIZEN, "text", ["hi"]))[0] == 400
    assert (await act(http, sandbox, CITIZEN, "text", {"text": "x" * 4097}))[0] == 400
    bad_photo = {"data": base64.b64encode(b"not an image").decode()}
    assert (await act(http, sandbox, CITIZEN, "photo", bad_photo))[0] == 400
    assert (await act(http, sandbox, CITIZEN, "location", {"latitude": 91, "longitude": 0}))[
        0
    ] == 400
    status, answer = await act(http, sandbox, CITIZEN, "click", {"message_id": 1, "data": "m:new"})
    assert status == 409 and "no bot message" in answer["error"]
    status, answer = await act(http, sandbox, CITIZEN, "key", {"text": "📍 Kirim lokasi saya"})
    assert status == 409 and "no reply keyboard" in answer["error"]
    async with http.post(f"{sandbox.url}api/users/{CITIZEN}/text", data={"text": "hi"}) as response:
        assert response.status == 415  # a plain cross-site form cannot act as a user
    async with http.get(f"{sandbox.url}api/files/unknown") as response:
        assert response.status == 404
    assert sandbox.emulator.messages(CITIZEN) == []


async def test_the_scenario_loads_reports_in_every_status(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    options = SandboxOptions(port=0, database=tmp_path / "sandbox.db", scenario=True)
    async with Sandbox(make_settings(tmp_path), options) as sandbox:
        assert sandbox.app is not None
        async with UnitOfWork(sandbox.app.sessions) as uow:
            reports = (await uow.session.exec(select(Complaint))).all()
        assert {r.status for r in reports} == set(Status)
        assert sorted(r.tracking_code for r in reports) == sandbox.scenario_codes
        assert any(r.reopen_count for r in reports)
        # The notifications the scenario caused reach the trainees' chats once the bot runs.
        await bot_says(sandbox, OFFICER, THIS_YEAR_CODE)
        async with http.get(f"{sandbox.url}api/session") as response:
            session = await response.json()
        assert session["scenario"] == sandbox.scenario_codes
        samples = [p for p in session["participants"] if p["role"] == "sample"]
        assert {p["language"] for p in samples} == {"id", "en"}
        await bot_says(sandbox, samples[0]["user_id"], THIS_YEAR_CODE)
        assert sandbox.emulator.internal_errors == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_without_a_token_can_start_the_sandbox_instead(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--sandbox-if-no-token", "--sandbox-port", str(port)],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the sandbox is up (or the process ends)
        assert f"open http://127.0.0.1:{port}/" in line, line
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as page:
            page.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert page.recv(64).startswith(b"HTTP/1.0 200 OK")
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "TELEGRAM_BOT_TOKEN is not set" in stderr and "/newbot" in stderr
    assert "training sandbox" in stderr
    assert (tmp_path / "data" / "sandbox.db").exists()
    assert not (tmp_path / "data" / "aduan.db").exists()
