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

Two more scenarios kill the process the same way, with the same rounds, runtimes and modes,
both in ``test_a_killed_bot_resolves_once_and_delivers_every_notice`` (one process per runtime
and mode for both: its start is most of the time a round takes):

- Staff actions: ``ADUAN_KILL_CITIZENS`` reports forwarded to PUPR (rows inserted, as the
  suite's fixtures do), the agency's liaison officer sends ``/resolve CODE …`` for each in quick
  succession and the process dies 0.02–0.3 s into the burst. After the restart every report is
  resolved exactly once (one ``resolve`` event, status resolved); the officer has a "done" reply
  for each, or, sending the command again, gets the refusal and nothing changes; every citizen
  got the follow-up with the verdict buttons at least once (how many twice is measured).
- Outbox delivery: ``ADUAN_KILL_NOTICES`` (default 30) progress notices are queued at once by
  casework (the officer's ``progress`` action, one transaction), and the process dies 0.02–0.3 s
  after the emulator saw the dispatcher's first sendMessage. After the restart every row ends
  ``sent`` and every notice reached its chat at least once. A notice sent but not yet marked
  sent when the process died is sent again: the documented at-least-once window. Such duplicates
  are counted and may be at most the rows the dead dispatcher had claimed ("in flight").

Rows the killed dispatcher had claimed (``sending``) are due again only when their 60-second
lease runs out. The scenarios move that lease into the past right after the kill (what a minute
of waiting would do) so a round does not idle for a minute; ``ADUAN_KILL_WAIT_LEASE=1`` waits
for the real lease instead. The count of such rows is printed ("in_flight_at_kill").
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from bot.casework import Office, StaffActor, Work, handling
from bot.core.calendar import WorkingCalendar, load_holidays
from bot.core.i18n import Translator
from bot.sandbox.emulator import Emulator
from bot.settings import BotMode, Settings
from storage.database import SessionFactory, create_engine, session_factory
from storage.models import Agency, Category, Citizen, Complaint, ComplaintEvent, Notification, Staff
from storage.unit_of_work import UnitOfWork
from tests.conftest import TEST_TOKEN
from tests.support.bot_process import BotProcess, clean_environment
from tests.support.live_bot import TelegramChat, inline_buttons
from tests.support.webhooks import webhook_mode

ROUNDS = int(os.environ.get("ADUAN_KILL_ROUNDS", "2"))
CITIZENS = int(os.environ.get("ADUAN_KILL_CITIZENS", "20"))
DESCRIPTION = "Lampu jalan di depan pasar mati sejak seminggu, jalan gelap dan rawan kecelakaan."
CODE = re.compile(r"TPI-\d{4}-\d{6}")
SUBMIT = "Kirim laporan"
START_SECONDS = 60.0
NOTICES = int(os.environ.get("ADUAN_KILL_NOTICES", "30"))
WAIT_LEASE = os.environ.get("ADUAN_KILL_WAIT_LEASE", "") not in ("", "0")
# How long the restarted process may take to deliver everything (the lease is 60 s).
DRAIN_SECONDS = 120.0 if WAIT_LEASE else 60.0
OFFICER = 9_002
RESOLUTION = "Lampu sudah diganti dan menyala kembali sejak tadi malam."
DONE = "dikirim; pelapor sudah diberi tahu"  # staff.done.resolve
REFUSED = "tidak berwenang"  # denied: "not allowed (or the status does not allow it)"
FOLLOW_UP = "menyampaikan tindak lanjut"  # notify.resolved, under it the verdict buttons
PROGRESS = "Tim sudah dijadwalkan memeriksa lokasi besok pagi, putaran {round}."


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


def bot_process(settings: Settings, folder: Path) -> BotProcess:
    """`python -m bot run` with the test's settings."""
    env = clean_environment(
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
    return BotProcess(folder, env)


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


def _redelivered_and_skipped(
    settings: Settings,
    emulator: Emulator,
    bot: BotProcess,
    *,
    first_deliveries: int,
    killed_at: int,
    log_mark: int,
) -> tuple[set[int], set[int]]:
    """Updates handed to the killed process and again to the new one, and those the new one
    logged as skipped (already committed)."""
    if settings.bot_mode is BotMode.WEBHOOK:
        first = {d.update_id for d in emulator.webhook_deliveries[:first_deliveries]}
        second = {d.update_id for d in emulator.webhook_deliveries[first_deliveries:]}
    else:
        first = _fetched(emulator, 0, killed_at)
        second = _fetched(emulator, killed_at, len(emulator.calls))
    skipped = set(
        map(int, re.findall(r"skipping redelivered update (\d+)", bot.output()[log_mark:]))
    )
    return first & second, skipped


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
        if any(c.method == method for c in emulator.calls[calls_before:]):
            return True
        # At the first start no other process polls, so a waiting long poll is the new one's
        # (its call is recorded only when it returns: with nothing to fetch, after its timeout).
        return calls_before == 0 and method == "getUpdates" and emulator.polling

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
    redelivered, skipped = _redelivered_and_skipped(
        settings,
        emulator,
        bot,
        first_deliveries=first_deliveries,
        killed_at=killed_at,
        log_mark=log_mark,
    )
    figures.redelivered += len(redelivered & pressed)
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
    bot = bot_process(settings, tmp_path)
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
        await bot.kill_if_running()
    summary = {"runtime": settings.runtime.value, "mode": mode, **figures.__dict__}
    print(f"\nCRASH-RECOVERY {json.dumps(summary)}")
    assert figures.lost == 0 and figures.doubled == 0 and figures.receipts_twice == 0


# --- staff actions and outbox delivery -------------------------------------------------------


@dataclass
class StaffFigures:
    """What the staff-action rounds of one runtime and mode found."""

    rounds: int = 0
    actions: int = 0
    lost: int = 0  # reports not resolved after the restart
    doubled: int = 0  # reports with more than one resolve event
    resolved_before_kill: int = 0
    done_before_kill: int = 0
    done_after_restart: int = 0
    refused_on_resend: int = 0  # the "done" reply died with the process: sent again, refused
    done_twice: int = 0
    redelivered: int = 0
    processed_twice: int = 0
    in_flight_at_kill: int = 0  # follow-ups claimed by the dead dispatcher, not marked sent
    notices_lost: int = 0
    notices_twice: int = 0
    kill_delays: list[float] = field(default_factory=list)


@dataclass
class OutboxFigures:
    """What the outbox rounds of one runtime and mode found."""

    rounds: int = 0
    notices: int = 0
    reached_before_kill: int = 0  # in the chat when the process died
    marked_before_kill: int = 0  # rows recorded as sent when the process died
    in_flight_at_kill: int = 0  # rows claimed (sending) by the dead dispatcher
    pending_at_kill: int = 0  # rows not claimed yet
    sent_unmarked: int = 0  # in the chat but not recorded: the at-least-once window
    lost: int = 0
    delivered_twice: int = 0
    kill_delays: list[float] = field(default_factory=list)


def _last_id(emulator: Emulator, chat_id: int) -> int:
    last = emulator.last_message(chat_id)
    return int(last["message_id"]) if last else 0


def _count_texts(emulator: Emulator, chat_id: int, *needles: str, after: int = 0) -> int:
    """How many bot messages in the chat after ``after`` contain every needle."""
    return sum(
        1
        for m in emulator.messages(chat_id)
        if int(m["message_id"]) > after and all(n in _text(m) for n in needles)
    )


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Wait, bounded, for database state (nothing to await there: polled)."""
    try:
        async with asyncio.timeout(seconds):
            while not await check():  # noqa: ASYNC110 - database state, no event to await
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what} not reached within {seconds} s") from None


async def _seed_reports(
    sessions: SessionFactory, users: list[int], *, status: str, first: int
) -> dict[int, str]:
    """One report per citizen, forwarded to PUPR (rows, as the suite's fixtures insert them),
    and the PUPR liaison officer; returns each citizen's tracking code."""
    now = datetime.now(UTC)
    async with UnitOfWork(sessions) as uow:
        session = uow.session
        pupr = (await session.exec(select(Agency).where(Agency.code == "pupr"))).one()
        category = (await session.exec(select(Category))).first()
        assert pupr.id is not None and category is not None and category.id is not None
        officer = (await session.exec(select(Staff).where(Staff.telegram_id == OFFICER))).first()
        if officer is None:
            session.add(
                Staff(telegram_id=OFFICER, name="Petugas", role="agency_admin", agency_id=pupr.id)
            )
        citizens = [Citizen(telegram_id=user, first_name="Warga", locale="id") for user in users]
        session.add_all(citizens)
        await session.flush()
        codes: dict[int, str] = {}
        for number, citizen in enumerate(citizens):
            assert citizen.telegram_id is not None
            sequence = first + number
            codes[citizen.telegram_id] = f"TPI-{now.year}-{sequence:06d}"
            acknowledged = status == "in_progress"
            session.add(
                Complaint(
                    tracking_code=codes[citizen.telegram_id],
                    year=now.year,
                    sequence=sequence,
                    kind="complaint",
                    category_id=category.id,
                    description=DESCRIPTION,
                    privacy="public",
                    channel="telegram",
                    citizen_id=citizen.id,
                    agency_id=pupr.id,
                    status=status,
                    submitted_at=now - timedelta(hours=2),
                    verify_due_at=now + timedelta(days=3),
                    assigned_at=now - timedelta(hours=1),
                    first_response_due_at=now + timedelta(days=7),
                    acknowledged_at=now - timedelta(minutes=30) if acknowledged else None,
                    field_inspection=False if acknowledged else None,
                    completion_due_at=now + timedelta(days=14) if acknowledged else None,
                )
            )
        await uow.commit()
    return codes


async def _statuses(sessions: SessionFactory, codes: list[str]) -> dict[str, str]:
    async with UnitOfWork(sessions) as uow:
        rows = await uow.session.exec(
            select(Complaint.tracking_code, Complaint.status).where(
                col(Complaint.tracking_code).in_(codes)
            )
        )
        return dict(rows.all())


async def _resolve_events(sessions: SessionFactory, codes: list[str]) -> Counter[str]:
    async with UnitOfWork(sessions) as uow:
        rows = await uow.session.exec(
            select(Complaint.tracking_code, func.count(col(ComplaintEvent.id)))
            .join(ComplaintEvent, col(ComplaintEvent.complaint_id) == col(Complaint.id))
            .where(col(Complaint.tracking_code).in_(codes), ComplaintEvent.action == "resolve")
            .group_by(col(Complaint.tracking_code))
        )
        return Counter(dict(rows.all()))


async def _notice_rows(sessions: SessionFactory, codes: list[str]) -> dict[str, list[str]]:
    """The statuses of each report's outbox rows."""
    async with UnitOfWork(sessions) as uow:
        rows = await uow.session.exec(
            select(Complaint.tracking_code, Notification.status)
            .join(Notification, col(Notification.complaint_id) == col(Complaint.id))
            .where(col(Complaint.tracking_code).in_(codes))
            .order_by(col(Notification.id))
        )
        found: dict[str, list[str]] = {code: [] for code in codes}
        for code, status in rows.all():
            found[code].append(status)
        return found


async def _all_sent(sessions: SessionFactory, codes: list[str]) -> bool:
    rows = await _notice_rows(sessions, codes)
    return all(states and set(states) == {"sent"} for states in rows.values())


async def _expire_leases(sessions: SessionFactory) -> None:
    """The killed process's claims run out now instead of in 60 s (``ADUAN_KILL_WAIT_LEASE``
    waits the real minute): what a minute of waiting would do, nothing else."""
    if WAIT_LEASE:
        return
    async with UnitOfWork(sessions) as uow:
        await uow.session.exec(
            update(Notification)
            .where(col(Notification.status) == "sending")
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        await uow.commit()


async def _kill_at_random(bot: BotProcess, delays: list[float]) -> None:
    delay = random.uniform(0.02, 0.3)
    delays.append(round(delay, 3))
    await asyncio.sleep(delay)
    await bot.kill()


async def _restart(
    emulator: Emulator, settings: Settings, bot: BotProcess, sessions: SessionFactory
) -> None:
    killed_at = len(emulator.calls)
    await _expire_leases(sessions)
    await bot.start()
    await _ready(emulator, settings, killed_at)


async def _staff_round(
    emulator: Emulator,
    settings: Settings,
    bot: BotProcess,
    sessions: SessionFactory,
    round_no: int,
    figures: StaffFigures,
) -> None:
    users = [100_000 + 1_000 * round_no + i for i in range(CITIZENS)]
    for user in users:
        emulator.add_user(user, f"Warga {user}", language_code="id")
    codes = await _seed_reports(sessions, users, status="assigned", first=users[0])
    code_list = list(codes.values())
    officer_mark = _last_id(emulator, OFFICER)

    # The officer resolves every report in quick succession; the process dies in the burst.
    commands = {
        int(emulator.send_text(OFFICER, f"/resolve {code} {RESOLUTION}")["update_id"])
        for code in code_list
    }
    await _kill_at_random(bot, figures.kill_delays)
    killed_at = len(emulator.calls)
    first_deliveries = len(emulator.webhook_deliveries)
    done_before = {
        c: _count_texts(emulator, OFFICER, c, DONE, after=officer_mark) for c in codes.values()
    }
    statuses_before = await _statuses(sessions, code_list)
    rows_before = await _notice_rows(sessions, code_list)
    log_mark = len(bot.output())

    await _restart(emulator, settings, bot, sessions)

    def all_confirmed() -> bool:
        pending = {int(u["update_id"]) for u in emulator.pending_updates}
        return not (pending & commands) and emulator.world.webhook_in_flight is None

    await emulator.wait_until(all_confirmed, 60, what="every /resolve confirmed")
    await emulator.wait_idle()

    def follow_ups_delivered() -> bool:
        return all(_count_texts(emulator, user, code, FOLLOW_UP) for user, code in codes.items())

    await emulator.wait_until(follow_ups_delivered, DRAIN_SECONDS, what="every follow-up")
    await _eventually(lambda: _all_sent(sessions, code_list), DRAIN_SECONDS, "every row sent")

    events = await _resolve_events(sessions, code_list)
    statuses = await _statuses(sessions, code_list)
    done_after = {
        c: _count_texts(emulator, OFFICER, c, DONE, after=officer_mark) for c in code_list
    }
    follow_ups = {
        user: _count_texts(emulator, user, code, FOLLOW_UP) for user, code in codes.items()
    }
    figures.rounds += 1
    figures.actions += len(code_list)
    figures.lost += sum(1 for c in code_list if events[c] == 0 or statuses[c] != "resolved")
    figures.doubled += sum(1 for c in code_list if events[c] > 1)
    figures.resolved_before_kill += sum(1 for c in code_list if statuses_before[c] == "resolved")
    figures.done_before_kill += sum(1 for c in code_list if done_before[c])
    figures.done_after_restart += sum(1 for c in code_list if done_after[c] and not done_before[c])
    figures.done_twice += sum(1 for c in code_list if done_after[c] > 1)
    figures.in_flight_at_kill += sum(1 for c in code_list if "sending" in rows_before[c])
    figures.notices_lost += sum(1 for n in follow_ups.values() if n == 0)
    figures.notices_twice += sum(1 for n in follow_ups.values() if n > 1)
    redelivered, skipped = _redelivered_and_skipped(
        settings,
        emulator,
        bot,
        first_deliveries=first_deliveries,
        killed_at=killed_at,
        log_mark=log_mark,
    )
    figures.redelivered += len(redelivered & commands)
    figures.processed_twice += len(skipped & commands)

    wrong = {
        c: (statuses[c], events[c])
        for c in code_list
        if (statuses[c], events[c]) != ("resolved", 1)
    }
    assert not wrong, f"reports not resolved exactly once (status, resolve events): {wrong}"
    for user, code in codes.items():
        for message in emulator.messages(user):
            if code in _text(message) and FOLLOW_UP in _text(message):
                assert len(inline_buttons(message)) == 3, message  # fixed / partly / not fixed
    # A "done" reply that died with the process: the officer sends the command again and is
    # refused; nothing changes.
    officer = TelegramChat(emulator, OFFICER)
    for code in code_list:
        if not done_after[code]:
            figures.refused_on_resend += 1
            await officer.say(f"/resolve {code} {RESOLUTION}", REFUSED)
    assert await _resolve_events(sessions, code_list) == events


async def _outbox_round(
    emulator: Emulator,
    settings: Settings,
    bot: BotProcess,
    sessions: SessionFactory,
    round_no: int,
    figures: OutboxFigures,
) -> None:
    users = [500_000 + 1_000 * round_no + i for i in range(NOTICES)]
    for user in users:
        emulator.add_user(user, f"Warga {user}", language_code="id")
    codes = await _seed_reports(sessions, users, status="in_progress", first=users[0])
    code_list = list(codes.values())
    text = PROGRESS.format(round=round_no)
    office = Office.of(
        settings,
        Translator.load(default=settings.default_locale),
        WorkingCalendar(timezone=settings.timezone, holidays=load_holidays(settings.holidays_file)),
    )

    # The officer's progress notes, one transaction: every notice is queued at once.
    calls_mark = len(emulator.calls)
    async with UnitOfWork(sessions) as uow:
        staff = (await uow.session.exec(select(Staff).where(Staff.telegram_id == OFFICER))).one()
        work = Work(office, StaffActor(staff), uow.session, datetime.now(UTC))
        for code in code_list:
            await handling.progress(work, code, text)
        await uow.commit()
    chats = {str(user) for user in users}

    def dispatching() -> bool:
        return any(
            c.method == "sendMessage" and str(c.params.get("chat_id")) in chats
            for c in emulator.calls[calls_mark:]
        )

    await emulator.wait_until(dispatching, 30, what="the dispatcher's first notice")
    await _kill_at_random(bot, figures.kill_delays)
    reached = {user: _count_texts(emulator, user, code, text) for user, code in codes.items()}
    rows = await _notice_rows(sessions, code_list)
    assert all(len(states) == 1 for states in rows.values()), rows
    at_kill = {user: rows[code][0] for user, code in codes.items()}
    unmarked = {user for user in users if reached[user] and at_kill[user] != "sent"}

    await _restart(emulator, settings, bot, sessions)
    await _eventually(lambda: _all_sent(sessions, code_list), DRAIN_SECONDS, "every row sent")
    await emulator.wait_idle()

    delivered = {user: _count_texts(emulator, user, code, text) for user, code in codes.items()}
    twice = {user for user, n in delivered.items() if n > 1}
    in_flight = sum(1 for state in at_kill.values() if state == "sending")
    figures.rounds += 1
    figures.notices += len(users)
    figures.reached_before_kill += sum(1 for n in reached.values() if n)
    figures.marked_before_kill += sum(1 for state in at_kill.values() if state == "sent")
    figures.in_flight_at_kill += in_flight
    figures.pending_at_kill += sum(1 for state in at_kill.values() if state == "pending")
    figures.sent_unmarked += len(unmarked)
    figures.lost += sum(1 for n in delivered.values() if n == 0)
    figures.delivered_twice += len(twice)

    lost = [user for user, n in delivered.items() if n == 0]
    assert not lost, f"notices never delivered: {lost} (at the kill: {at_kill})"
    # Every duplicate is a notice the dead process sent but had not recorded, and no more
    # than it had claimed.
    assert twice == unmarked, (twice, unmarked, at_kill)
    assert len(twice) <= in_flight


async def _rounds_with_a_bot(
    emulator: Emulator,
    settings: Settings,
    folder: Path,
    one_round: Callable[[BotProcess, SessionFactory, int], Awaitable[None]],
) -> None:
    """Start the bot, run the rounds (each kills and restarts it), stop it gracefully."""
    bot = bot_process(settings, folder)
    engine = None
    await bot.start()
    try:
        await _ready(emulator, settings, 0)  # the database is migrated by now
        engine = create_engine(settings.database_url)
        emulator.add_user(OFFICER, "Petugas", language_code="id")
        for round_no in range(ROUNDS):
            await one_round(bot, session_factory(engine), round_no)
        assert await bot.stop() == 0, bot.output()[-3000:]
    except BaseException:
        print(bot.output()[-5000:])
        raise
    finally:
        await bot.kill_if_running()
        if engine is not None:
            await engine.dispose()


TIMEOUT = 90 + 120 * ROUNDS + (240 * ROUNDS if WAIT_LEASE else 0)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.timeout(TIMEOUT)
async def test_a_killed_bot_resolves_once_and_delivers_every_notice(
    emulator: Emulator, live_settings: Settings, mode: str, tmp_path: Path
) -> None:
    """The staff-action and the outbox scenario on one process per runtime and mode (starting
    one is most of a round's cost): each round kills it in the officer's burst, restarts it,
    then kills it while its dispatcher sends and restarts it again."""
    settings = webhook_mode(live_settings) if mode == "webhook" else live_settings
    staff, outbox = StaffFigures(), OutboxFigures()

    async def one_round(bot: BotProcess, sessions: SessionFactory, round_no: int) -> None:
        await _staff_round(emulator, settings, bot, sessions, round_no, staff)
        await _outbox_round(emulator, settings, bot, sessions, round_no, outbox)

    await _rounds_with_a_bot(emulator, settings, tmp_path, one_round)
    combination = {"runtime": settings.runtime.value, "mode": mode}
    print(f"\nCRASH-RECOVERY-STAFF {json.dumps({**combination, **staff.__dict__})}")
    print(f"CRASH-RECOVERY-OUTBOX {json.dumps({**combination, **outbox.__dict__})}")
    assert staff.lost == 0 and staff.doubled == 0 and staff.notices_lost == 0
    assert outbox.lost == 0 and outbox.delivered_twice <= outbox.in_flight_at_kill
