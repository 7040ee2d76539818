"""The fault suite of issue 11: the real `aduan run` process is killed (SIGKILL) while citizens
press Submit at the summary, then started again. Nothing may be lost or doubled.

Each round drives ``ADUAN_KILL_CITIZENS`` (default 20) new citizens to the summary through the
running process, lets them all press Submit at once, kills the process 0.02–0.3 s later (a
random point: some presses processed and answered, some in flight, some not fetched yet),
starts it again and checks, per citizen: exactly one report in the database (none lost, none
doubled) and their tracking code in the chat, from the Submit reply or, when the reply was
lost with the process, by pressing Submit again ("submit_again"; "by_mine": the process died
between clearing the summary's buttons and sending the receipt, so no Submit is left to press
and /mine shows the code). ``ADUAN_KILL_ROUNDS`` rounds (default 2) run
for each runtime and mode; ``make reliability`` runs 20.

The at-least-once window is measured and printed: how many Submit presses the killed process
had fetched and Telegram delivered again after the restart ("redelivered"), how many of those
had already been committed and were skipped by the processor's dedupe ("processed twice":
never applied twice, but the receipt of such a press is not sent again), and how many receipts
were sent twice (expected 0).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.sandbox.emulator import Emulator
from bot.settings import BotMode, Settings
from storage.database import create_engine, session_factory
from storage.models import Citizen, Complaint
from tests.conftest import TEST_TOKEN
from tests.support.live_bot import TelegramChat, inline_buttons
from tests.support.webhooks import webhook_mode

ROUNDS = int(os.environ.get("ADUAN_KILL_ROUNDS", "2"))
CITIZENS = int(os.environ.get("ADUAN_KILL_CITIZENS", "20"))
DESCRIPTION = "Lampu jalan di depan pasar mati sejak seminggu, jalan gelap dan rawan kecelakaan."
CODE = re.compile(r"TPI-\d{4}-\d{6}")
SUBMIT = "Kirim laporan"
START_SECONDS = 60.0


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """Like Telegram, the emulator keeps redelivering a webhook update that was not answered
    2xx, while the bot is down too (the shared fixture gives up after 3 attempts)."""
    async with Emulator(
        TEST_TOKEN, webhook_max_attempts=100_000, webhook_retry_delay=0.1
    ) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@dataclass
class Figures:
    """What the rounds of one runtime and mode found."""

    rounds: int = 0
    presses: int = 0
    lost: int = 0
    doubled: int = 0
    receipts_before_kill: int = 0
    receipts_after_restart: int = 0
    submit_again: int = 0
    by_mine: int = 0
    redelivered: int = 0
    processed_twice: int = 0
    receipts_twice: int = 0
    kill_delays: list[float] = field(default_factory=list)


class BotProcess:
    """`python -m bot run` with the test's settings, its output appended to ``log``."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.folder = folder
        self.log = folder / "bot.log"
        names = {name.upper() for name in Settings.model_fields}
        env = {k: v for k, v in os.environ.items() if k.upper() not in names}
        env.update(
            TELEGRAM_BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=settings.telegram_api_url,
            RUNTIME=settings.runtime.value,
            DATABASE_URL=settings.database_url,
            BOT_MODE=settings.bot_mode.value,
            QUIET_HOURS="",
            ALBUM_WAIT_SECONDS="0.3",
            HTTP_LISTEN="127.0.0.1:0",  # polling: the health server on any free port
        )
        if settings.bot_mode is BotMode.WEBHOOK:
            env.update(
                WEBHOOK_URL=settings.webhook_url,
                WEBHOOK_SECRET=settings.webhook_secret,
                HTTP_LISTEN=settings.webhook_listen,
            )
        self.env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        with self.log.open("a") as out:
            out.write("\n==== SIGKILL ====\n")

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


async def _to_summary(chat: TelegramChat) -> dict[str, Any]:
    await chat.say("/new", "Langkah 1 dari 6")
    await chat.press("Pengaduan", "Langkah 2 dari 6")
    await chat.press("Jalan", "Langkah 3 dari 6")
    await chat.say(DESCRIPTION, "Langkah 4 dari 6")
    await chat.act(
        lambda: chat.emulator.press_reply_button(chat.user_id, "⏭ Lewati"), "Langkah 5 dari 6"
    )
    await chat.press("Lewati", "Langkah 6 dari 6")
    return await chat.press("Biasa", "Periksa kembali")


def _submit_data(summary: dict[str, Any]) -> str:
    return next(b["callback_data"] for b in inline_buttons(summary) if SUBMIT in b["text"])


def _receipts(emulator: Emulator, user_id: int, after: int) -> list[str]:
    """The tracking codes the bot sent after message ``after`` (one per receipt)."""
    return [
        match.group(0)
        for m in emulator.messages(user_id)
        if int(m["message_id"]) > after and (match := CODE.search(_text(m)))
    ]


def _fetched(emulator: Emulator, since: int, until: int) -> set[int]:
    """Update ids handed to the bot by the emulator's calls/deliveries in [since, until)."""
    ids: set[int] = set()
    for call in emulator.calls[since:until]:
        if call.method == "getUpdates" and call.ok and isinstance(call.result, list):
            ids.update(int(u["update_id"]) for u in call.result)
    return ids


async def _reports_per_citizen(settings: Settings, users: list[int]) -> dict[int, list[str]]:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.exec(
                select(Citizen.telegram_id, Complaint.tracking_code)
                .join(Complaint, col(Complaint.citizen_id) == col(Citizen.id))
                .where(col(Citizen.telegram_id).in_(users))
            )
            found: dict[int, list[str]] = {user: [] for user in users}
            for telegram_id, code in rows.all():
                assert telegram_id is not None
                found[telegram_id].append(code)
            return found
    finally:
        await engine.dispose()


async def _ready(emulator: Emulator, settings: Settings, calls_before: int) -> None:
    """The restarted process has taken over (polling: it polls; webhook: it set the hook)."""
    method = "setWebhook" if settings.bot_mode is BotMode.WEBHOOK else "getUpdates"

    def taken_over() -> bool:
        return any(c.method == method for c in emulator.calls[calls_before:])

    await emulator.wait_until(taken_over, START_SECONDS, what="the restarted bot")


async def _kill_round(
    emulator: Emulator,
    settings: Settings,
    bot: BotProcess,
    round_no: int,
    figures: Figures,
) -> None:
    users = [10_000 * (round_no + 1) + i for i in range(CITIZENS)]
    chats = [TelegramChat(emulator, user) for user in users]
    for user in users:
        emulator.add_user(user, f"Warga {user}", language_code="id")
    summaries = await asyncio.gather(*(_to_summary(chat) for chat in chats))
    await emulator.wait_idle()

    # Everyone presses Submit at once; the process dies a random moment later.
    marks = {user: int(s["message_id"]) for user, s in zip(users, summaries, strict=True)}
    presses = {}
    for user, summary in zip(users, summaries, strict=True):
        presses[user] = emulator.click(user, summary, _submit_data(summary))["update_id"]
    delay = random.uniform(0.02, 0.3)
    figures.kill_delays.append(round(delay, 3))
    await asyncio.sleep(delay)
    await bot.kill()
    killed_at = len(emulator.calls)
    first_deliveries = len(emulator.webhook_deliveries)
    before = {user: _receipts(emulator, user, marks[user]) for user in users}
    log_mark = len(bot.output())

    await bot.start()
    await _ready(emulator, settings, killed_at)
    pressed = set(presses.values())

    def all_confirmed() -> bool:
        pending = {int(u["update_id"]) for u in emulator.pending_updates}
        return not (pending & pressed) and emulator.world.webhook_in_flight is None

    await emulator.wait_until(all_confirmed, 60, what="every Submit confirmed")
    await emulator.wait_idle()

    after = {user: _receipts(emulator, user, marks[user]) for user in users}
    reports = await _reports_per_citizen(settings, users)
    figures.rounds += 1
    figures.presses += len(users)
    figures.lost += sum(1 for user in users if not reports[user])
    figures.doubled += sum(1 for user in users if len(reports[user]) > 1)
    figures.receipts_before_kill += sum(1 for user in users if before[user])
    figures.receipts_after_restart += sum(1 for user in users if after[user] and not before[user])
    figures.receipts_twice += sum(1 for user in users if len(after[user]) > 1)

    # Delivered to the killed process and again to the new one; skipped as already committed.
    if settings.bot_mode is BotMode.WEBHOOK:
        first = {d.update_id for d in emulator.webhook_deliveries[:first_deliveries]}
        second = {d.update_id for d in emulator.webhook_deliveries[first_deliveries:]}
    else:
        first = _fetched(emulator, 0, killed_at)
        second = _fetched(emulator, killed_at, len(emulator.calls))
    figures.redelivered += len(first & second & pressed)
    skipped = set(
        map(int, re.findall(r"skipping redelivered update (\d+)", bot.output()[log_mark:]))
    )
    figures.processed_twice += len(skipped & pressed)

    lost_reports = [user for user in users if len(reports[user]) != 1]
    assert not lost_reports, f"reports lost or doubled: { {u: reports[u] for u in lost_reports} }"
    for user, chat in zip(users, chats, strict=True):
        code = reports[user][0]
        if after[user]:
            assert set(after[user]) == {code}
            continue
        # The receipt died with the process: pressing Submit again shows the same code. If
        # the process died after the summary lost its buttons but before the receipt went
        # out, there is no Submit left to press: /mine lists the report with its code.
        summary = summaries[users.index(user)]
        current = next(m for m in emulator.messages(user) if m["message_id"] == marks[user])
        if inline_buttons(current):
            figures.submit_again += 1
            again = await chat.act(
                lambda user=user, summary=summary: emulator.click(
                    user, summary, _submit_data(summary)
                ),
                code,
            )
            assert CODE.search(_text(again)).group(0) == code  # type: ignore[union-attr]
        else:
            figures.by_mine += 1
            await chat.say("/mine", code)
    assert await _reports_per_citizen(settings, users) == reports  # and nothing new was filed


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.timeout(90 + 60 * ROUNDS)
async def test_a_killed_bot_loses_and_doubles_no_report(
    emulator: Emulator, live_settings: Settings, mode: str, tmp_path: Path
) -> None:
    settings = webhook_mode(live_settings) if mode == "webhook" else live_settings
    bot = BotProcess(settings, tmp_path)
    figures = Figures()
    await bot.start()
    try:
        await _ready(emulator, settings, 0)
        for round_no in range(ROUNDS):
            await _kill_round(emulator, settings, bot, round_no, figures)
        assert await bot.stop() == 0, bot.output()[-3000:]
    except BaseException:
        print(bot.output()[-5000:])
        raise
    finally:
        if bot.process is not None and bot.process.returncode is None:
            bot.process.kill()
            await bot.process.wait()
    summary = {"runtime": settings.runtime.value, "mode": mode, **figures.__dict__}
    print(f"\nCRASH-RECOVERY {json.dumps(summary)}")
    assert figures.lost == 0 and figures.doubled == 0 and figures.receipts_twice == 0
