"""Several webhook workers (issue 13): the real `aduan run --workers N` on PostgreSQL, behind
the emulator delivering webhook updates as Telegram does.

``ADUAN_WORKER_CITIZENS`` (default 200) citizens file a report at once through
``ADUAN_WORKERS`` (default 2) worker processes sharing one listening port, while a city admin
forwards ``ADUAN_WORKER_FORWARDS`` (default 30) of the reports; every worker runs the outbox
dispatcher. Checked: one report per citizen with a unique tracking code, each citizen's steps
answered in order with none skipped or doubled, every notification sent once, a killed worker
restarted by the supervisor, and a graceful stop (exit 0).

Telegram (tdlib/telegram-bot-api, WebhookActor) keeps one update per chat in flight and up to
``max_connections`` chats at once; the emulator itself delivers one update at a time over all
chats, so ``TelegramLikeEmulator`` delivers as Telegram does. With ``per_chat_order=False`` it
also delivers a chat's updates side by side (what a late answer or a lost connection causes):
the burst test measures the per-chat lock with that (figures in bot/workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.sandbox.emulator import Emulator, chat_of
from storage.database import async_url, create_engine, session_factory
from storage.models import Citizen, Complaint, Notification
from tests.conftest import TEST_TOKEN
from tests.support.bot_process import BotProcess, clean_environment
from tests.support.databases import postgres_database
from tests.support.live_bot import TelegramChat
from tests.support.webhooks import free_port

pytestmark = pytest.mark.postgres

CITIZENS = int(os.environ.get("ADUAN_WORKER_CITIZENS", "200"))
WORKERS = int(os.environ.get("ADUAN_WORKERS", "2"))
FORWARDS = min(int(os.environ.get("ADUAN_WORKER_FORWARDS", "30")), CITIZENS)
BURST_CHATS = int(os.environ.get("ADUAN_WORKER_BURST_CHATS", "60"))
ADMIN = 9001
DESCRIPTION = "Lampu jalan di depan pasar mati sejak seminggu, jalan gelap dan rawan kecelakaan."
CODE = re.compile(r"TPI-\d{4}-\d{6}")
GENERIC_ERROR = "terjadi gangguan di sistem kami"
# The questions of the intake flow, in order, as the citizen must see them.
STEPS = [
    "Langkah 1 dari 6",
    "Langkah 2 dari 6",
    "Langkah 3 dari 6",
    "Langkah 4 dari 6",
    "Langkah 5 dari 6",
    "Langkah 6 dari 6",
    "Periksa kembali",
    "Kode pelacakan",
]
START_SECONDS = 60.0


class TelegramLikeEmulator(Emulator):
    """Delivers webhook updates as Telegram's Bot API server does: up to ``max_connections``
    at once, one per chat at a time (the next after a 2xx), each chat in update order.
    ``per_chat_order=False``: a chat's updates go out side by side too."""

    per_chat_order = True
    max_in_flight = 40

    async def _webhook_worker(self) -> None:
        world = self.world
        busy: set[int] = set()
        in_flight: set[int] = set()
        tasks: set[asyncio.Task[None]] = set()

        def next_ready() -> list[dict[str, Any]]:
            ready, seen = [], set()
            for update in world.pending:
                uid, chat = int(update["update_id"]), chat_of(update)
                if uid in in_flight:
                    seen.add(chat)
                    continue
                if self.per_chat_order and (chat in busy or chat in seen):
                    seen.add(chat)
                    continue
                seen.add(chat)
                ready.append(update)
                if len(in_flight) + len(ready) >= self.max_in_flight:
                    break
            return ready

        def has_work() -> bool:
            return world.stopping or (world.webhook is not None and bool(next_ready()))

        async def deliver(update: dict[str, Any], chat: int) -> None:
            try:
                webhook = world.webhook
                if webhook is not None:
                    await self._deliver_with_retries(webhook, update)
            finally:
                busy.discard(chat)
                in_flight.discard(int(update["update_id"]))
                world.signal.notify()

        try:
            while True:
                await world.signal.wait_for(has_work, None)
                if world.stopping:
                    return
                for update in next_ready():
                    chat = chat_of(update)
                    busy.add(chat)
                    in_flight.add(int(update["update_id"]))
                    task = asyncio.create_task(deliver(update, chat))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the bot processes (skips when there is no server)."""
    async with postgres_database("aduan_workers") as url:
        yield url


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramLikeEmulator]:
    async with TelegramLikeEmulator(
        TEST_TOKEN, webhook_max_attempts=100_000, webhook_retry_delay=0.1, webhook_timeout=60
    ) as emulator:
        yield emulator
        assert emulator.internal_errors == []


class Workers(BotProcess):
    """`python -m bot run --workers N` against the emulator, its output in ``log``."""

    def __init__(self, emulator: Emulator, database_url: str, folder: Path, runtime: str) -> None:
        port = free_port()
        env = clean_environment(
            TELEGRAM_BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=emulator.base_url,
            RUNTIME=runtime,
            DATABASE_URL=database_url,
            BOT_MODE="webhook",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/hook",
            WEBHOOK_SECRET="right-secret-0123456789",
            HTTP_LISTEN=f"127.0.0.1:{port}",
            ADMIN_IDS=str(ADMIN),
            QUIET_HOURS="",
            ALBUM_WAIT_SECONDS="0.3",
            OUTBOX_INTERVAL_SECONDS="0.2",
        )
        super().__init__(folder, env, "--workers", str(WORKERS))

    async def ready(self, emulator: Emulator) -> None:
        """Every worker serves and one of them set the webhook."""

        def serving() -> bool:
            return (
                self.output().count("HTTP server on") >= WORKERS
                and bool(emulator.calls_to("setWebhook"))
            ) or (self.process is not None and self.process.returncode is not None)

        await _poll(serving, START_SECONDS, "the workers")
        assert self.process is not None and self.process.returncode is None, self.output()


@pytest.fixture
async def workers(
    emulator: TelegramLikeEmulator, database_url: str, tmp_path: Path
) -> AsyncIterator[Workers]:
    bot = Workers(emulator, database_url, tmp_path, os.environ.get("ADUAN_RUNTIME", "aiogram"))
    await bot.start()
    try:
        await bot.ready(emulator)
        yield bot
    except BaseException:
        print(bot.output()[-6000:])
        raise
    finally:
        # After a failed test: SIGTERM (the workers go with the supervisor), killed if it hangs.
        with contextlib.suppress(TimeoutError):
            await bot.stop(90)


async def _poll(condition: Callable[[], bool], within: float, what: str) -> None:
    """Wait for something the emulator is not told about (the bot's log)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.1)


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


async def _file(chat: TelegramChat) -> str:
    """One whole report, each step waiting for its question; returns the tracking code."""
    await chat.say("/new", STEPS[0])
    await chat.press("Pengaduan", STEPS[1])
    await chat.press("Jalan", STEPS[2])
    await chat.say(DESCRIPTION, STEPS[3])
    await chat.say("Jl. Merdeka No. 5, Tanjungpinang", STEPS[4])
    await chat.press("Lewati", STEPS[5])
    await chat.press("Biasa", STEPS[6])
    done = await chat.press("Kirim laporan", STEPS[7])
    match = CODE.search(_text(done))
    assert match, _text(done)
    return match.group(0)


async def _forward(admin: TelegramChat, codes: asyncio.Queue[str | None]) -> int:
    """The admin forwards each code put in the queue to PUPR, until None."""
    forwarded = 0
    while (code := await codes.get()) is not None:
        await admin.say(f"/case {code}", "Pelapor")
        await admin.press("Teruskan", "ke OPD mana")
        await admin.press("PUPR", "diteruskan")
        forwarded += 1
    return forwarded


def _steps_in_order(emulator: Emulator, user: int) -> list[str]:
    """The step questions the citizen saw, in the order they came, one entry per message."""
    seen = []
    for message in emulator.messages(user):
        text = _text(message)
        seen.extend(step for step in STEPS if step in text)
    return seen


async def _rows(database_url: str) -> tuple[list[tuple[int, str]], list[Notification]]:
    engine = create_engine(async_url(database_url))
    try:
        async with session_factory(engine)() as session:
            reports = await session.exec(
                select(Citizen.telegram_id, Complaint.tracking_code).join(
                    Complaint, col(Complaint.citizen_id) == col(Citizen.id)
                )
            )
            notes = await session.exec(select(Notification).order_by(col(Notification.id)))
            return [(int(t or 0), c) for t, c in reports.all()], list(notes.all())
    finally:
        await engine.dispose()


@pytest.mark.timeout(420)
async def test_workers_file_every_report_once_in_order_and_notify_once(
    emulator: TelegramLikeEmulator, workers: Workers, database_url: str
) -> None:
    users = [100_000 + i for i in range(CITIZENS)]
    for user in users:
        emulator.add_user(user, f"Warga {user}", language_code="id")
    emulator.add_user(ADMIN, "Admin", language_code="id")
    admin = TelegramChat(emulator, ADMIN)
    to_forward: asyncio.Queue[str | None] = asyncio.Queue()
    forwarded_users: dict[str, int] = {}

    async def citizen(user: int) -> str:
        code = await _file(TelegramChat(emulator, user))
        if len(forwarded_users) < FORWARDS:
            forwarded_users[code] = user
            to_forward.put_nowait(code)
        return code

    started = time.monotonic()
    forwarding = asyncio.create_task(_forward(admin, to_forward))
    codes = await asyncio.gather(*(citizen(user) for user in users))
    filed_in = time.monotonic() - started
    to_forward.put_nowait(None)
    assert await forwarding == FORWARDS
    await emulator.wait_idle(timeout=120)

    # Every report stored once, codes unique, each citizen's steps answered in order.
    reports, _ = await _rows(database_url)
    per_user: dict[int, list[str]] = {}
    for user, code in reports:
        per_user.setdefault(user, []).append(code)
    assert {user: per_user.get(user) for user in users} == {
        user: [code] for user, code in zip(users, codes, strict=True)
    }
    assert len(set(codes)) == CITIZENS
    for user in users:
        assert _steps_in_order(emulator, user) == STEPS, (user, _steps_in_order(emulator, user))
        assert not any(GENERIC_ERROR in _text(m) for m in emulator.messages(user))

    # Every notification sent once, by whichever worker claimed it.
    async def outbox_done() -> list[Notification]:
        deadline = time.monotonic() + 60
        while True:
            _, notes = await _rows(database_url)
            if all(n.status not in {"pending", "sending"} for n in notes) or (
                time.monotonic() > deadline
            ):
                return notes
            await asyncio.sleep(0.2)

    notes = await outbox_done()
    assert notes and all(n.status == "sent" for n in notes), [(n.id, n.status) for n in notes]
    keys = [n.dedupe_key for n in notes if n.dedupe_key]
    assert len(keys) == len(set(keys))
    for code, user in forwarded_users.items():
        told = [m for m in emulator.messages(user) if "diteruskan ke" in _text(m)]
        assert len(told) == 1 and code in _text(told[0]), (user, [_text(m) for m in told])
        rows = [n for n in notes if n.chat_id == user]
        assert len(rows) == 1
    for note in notes:
        delivered = [
            m for m in emulator.messages(note.chat_id) if m["message_id"] == note.message_id
        ]
        assert len(delivered) == 1

    # A worker killed outright is started again; the others go on meanwhile.
    output = workers.output()
    pids = re.findall(r"worker 1 of \d+ started \(pid (\d+)\)", output)
    assert pids, output[-3000:]
    os.kill(int(pids[-1]), signal.SIGKILL)
    await _poll(
        lambda: (
            len(re.findall(r"worker 1 of \d+ started", workers.output())) == 2
            and workers.output().count("HTTP server on") > WORKERS
        ),
        START_SECONDS,
        "worker 1 restarted",
    )
    late = 100_000 + CITIZENS
    emulator.add_user(late, "Warga terakhir", language_code="id")
    assert CODE.fullmatch(await _file(TelegramChat(emulator, late)))

    assert await workers.stop(90) == 0, workers.output()[-3000:]
    retries = workers.output().count("raced another process")
    print(
        "\nWORKERS "
        + json.dumps(
            {
                "workers": WORKERS,
                "citizens": CITIZENS,
                "updates": CITIZENS * len(STEPS),
                "filed_seconds": round(filed_in, 1),
                "forwarded": FORWARDS,
                "notifications": len(notes),
                "concurrent_update_retries": retries,
            }
        )
    )
    assert "integrity error" not in workers.output()


@pytest.mark.timeout(240)
async def test_a_chat_delivered_side_by_side_is_processed_one_update_at_a_time(
    emulator: TelegramLikeEmulator, workers: Workers, database_url: str
) -> None:
    """Three updates of each new chat handed to the workers at once (Telegram resending to
    another worker while the first is still busy): each answered, none with the generic error,
    and no conversation race left for the version check."""
    emulator.per_chat_order = False
    users = [200_000 + i for i in range(BURST_CHATS)]
    for user in users:
        emulator.add_user(user, f"Warga {user}", language_code="id")
    for user in users:
        emulator.send_text(user, "/new")
        emulator.send_text(user, "/mine")
        emulator.send_text(user, "/help")
    await emulator.wait_idle(timeout=120)

    def answered() -> bool:
        return all(len(emulator.messages(user)) >= 3 for user in users)

    await emulator.wait_until(answered, 30, what="three answers in every chat")
    errors = sum(1 for user in users for m in emulator.messages(user) if GENERIC_ERROR in _text(m))
    assert await workers.stop(90) == 0, workers.output()[-3000:]
    output = workers.output()
    figures = {
        "workers": WORKERS,
        "chats": BURST_CHATS,
        "concurrent_update_retries": output.count("raced another process"),
        "integrity_errors": output.count("integrity error"),
        "generic_error_answers": errors,
    }
    print("\nWORKERS-BURST " + json.dumps(figures))
    assert errors == 0 and figures["integrity_errors"] == 0
    assert figures["concurrent_update_retries"] == 0
