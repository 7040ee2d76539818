"""Random sequences of Telegram updates, driven as a stateful property (issue 11).

Citizens, a city admin and an agency officer send text of every length and script (RTL,
zero-width, emoji, NUL, 4,096+ characters), commands with odd arguments, valid, stale and
forged button presses, every media type, albums, locations on and off the map, edits, group and
channel messages and update kinds Aduan never asked for; time passes, the duties run and the
outbox is delivered. Each update is built as Telegram's JSON, validated into aiogram's
``Update`` and turned into an ``Event`` by ``bot.updates.to_event`` (the real boundary, where
text is cleaned), then run through the real ``UpdatePipeline`` (albums gathered, per-chat order)
and processor on a fresh SQLite database per example. After every step:

1. nothing raised, nothing logged an error, and no reply is the generic error message;
2. every private message, command or edit got an answer in its chat;
3. everything sent would be accepted by the Bot API (the emulator's HTML parser and limits:
   text 1-4,096 characters after entity parsing, captions 1,024, buttons, albums 2-10 items,
   pop-ups 200 characters, edits only of the bot's own messages, only known file ids);
4. no report changed except by an allowed transition: every new history event is allowed by
   the lifecycle table for its actor and status, statuses chain from event to event, and a
   report never changes without a new event.

``ADUAN_PROPERTY_EXAMPLES`` (default 25) and ``ADUAN_PROPERTY_STEPS`` (default 30) set the size;
a failure prints the shrunk sequence of steps and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import shutil
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiogram.types import Update
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import select

from bot.app import App, build_app
from bot.core.events import Event
from bot.core.lifecycle import (
    Action,
    Actor,
    Channel,
    Party,
    Role,
    Status,
    may,
    next_status,
)
from bot.core.replies import (
    ClearButtons,
    EditMessage,
    Keyboard,
    KeyboardKey,
    Message,
    Notice,
    Reply,
    Sendable,
    Upload,
)
from bot.core.text import escape_caption, plain_text
from bot.outbox import OutboxDispatcher
from bot.pipeline import UpdatePipeline
from bot.sandbox.validation import ApiError, check_reply_markup, format_caption, format_text
from bot.sending import media_batches
from bot.updates import to_event
from storage.models import Agency, Complaint, ComplaintEvent, Staff
from storage.models import Citizen as CitizenRow
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.flow_driver import FakeClock

EXAMPLES = int(os.environ.get("ADUAN_PROPERTY_EXAMPLES", "25"))
STEPS = int(os.environ.get("ADUAN_PROPERTY_STEPS", "30"))

CITIZENS = (1001, 1002, 1003)
ADMIN = 9001
OFFICER = 9002  # agency_admin of "pupr"
USERS = (*CITIZENS, ADMIN, OFFICER)
GROUPS = ((-100500, "group"), (-1001500, "supergroup"))
CHANNEL = -1001600
BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Aduan", "username": "AduanBot"}

CALLBACK_MAX_BYTES = 64
NOTICE_MAX = 200  # answerCallbackQuery text
KEYBOARD_MAX_BUTTONS = 100

# ---- what users type ---------------------------------------------------------------------------
DESCRIPTIONS = (
    "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu belum diperbaiki.",
    "Lampu jalan di Jl. Sudirman mati sejak Senin, gelap sekali & rawan <kecelakaan>.",
    "الشارع مكسور منذ أسبوعين أمام المدرسة، الرجاء الإصلاح بسرعة من فضلكم",
    "הכביש שבור כבר שבועיים ליד בית הספר, בבקשה לתקן במהירות האפשרית",
    "Sampah menumpuk 👨‍👩‍👧‍👦🗑️ di pasar\u200b\u200d sejak seminggu, bau sekali dan banyak lalat.",
)
PIECES = (
    *DESCRIPTIONS,
    "سلام",
    "שלום",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u202e",
    "\u200f",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🇮🇩",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x85",
    "\ud800",
    "\U0010ffff",
    "\ufffe",
    "e\u0301",
    "𝕳𝖊𝖑𝖑𝖔",
    "中文投诉",
    "<b>",
    "</b>",
    '<a href="javascript:alert(1)">',
    "<tg-spoiler>",
    "&",
    "&amp;",
    "&#0;",
    "&lt;",
    ">",
    "\n",
    "\t",
    "   ",
    "TPI-2026-000001",
    "/start",
    "@AduanBot",
    "Ya",
    "Lewati",
    "Skip",
)


def _long(piece: str, length: int) -> str:
    return (piece * (length // len(piece) + 1))[:length]


TEXTS = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join),
    st.builds(_long, st.sampled_from(PIECES), st.integers(4000, 5000)),
)
SHORT_TEXTS = st.one_of(st.text(max_size=20), st.sampled_from(PIECES))
NAMES = st.one_of(
    st.sampled_from(
        ("Siti", "John", "محمد", "דוד", "<b>Budi</b> & co", "\x00", "👩🏽‍💻", "a" * 64)
    ),
    st.text(min_size=1, max_size=64),
)
LANGUAGES = st.sampled_from(("id", "en", "en-GB", None, "ar", "zh-hans", "xx-\x00"))
COMMANDS = (
    "start",
    "new",
    "lapor",
    "mine",
    "status",
    "cancel",
    "batal",
    "help",
    "lang",
    "intake",
    "inbox",
    "outbox",
    "case",
    "staff",
    "reply",
    "note",
    "progress",
    "resolve",
    "stats",
    "export",
    "xyz",
    "START",
    "",
)
ODD_ARGS = st.one_of(
    st.just(""),
    st.sampled_from(
        (
            "TPI-2026-000001",
            "tpi-2026-000001",
            "TPI-2026-000001 Teks yang cukup panjang untuk sebuah catatan.",
            "-1",
            "0",
            "99999999999999999999",
            "en",
            "id",
            "xx",
            "week",
            "month",
            "csv",
            "xlsx 2026-01",
            "claim_AAAAAAAAAAAAAAAAAAAAAAAA",
            "inv_zzz",
            "📎",
            "\u200b",
            "a:b:c",
        )
    ),
    TEXTS,
)
UNSUPPORTED: dict[str, Any] = {
    "sticker": {
        "file_id": "s",
        "file_unique_id": "su",
        "type": "regular",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
    },
    "poll": {
        "id": "p",
        "question": "q",
        "options": [{"text": "a", "voter_count": 0, "persistent_id": "0"}],
        "allows_revoting": False,
        "members_only": False,
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
    },
    "contact": {"phone_number": "+62 812 0000 0000", "first_name": "Siti"},
    "dice": {"emoji": "🎲", "value": 3},
    "venue": {"location": {"latitude": 1.0, "longitude": 1.0}, "title": "t", "address": "a"},
    "video_note": {"file_id": "n", "file_unique_id": "nu", "length": 1, "duration": 1},
    "audio": {"file_id": "au", "file_unique_id": "auu", "duration": 1},
    "story": {"chat": {"id": 5, "type": "channel"}, "id": 1},
    "game": {
        "title": "g",
        "description": "d",
        "photo": [{"file_id": "g", "file_unique_id": "gu", "width": 1, "height": 1}],
    },
    "new_chat_title": "x",
}
MEDIA_KINDS = ("photo", "document", "video", "voice")
LATITUDES = st.one_of(
    st.floats(-90, 90), st.sampled_from((90.0001, -91.0, 1e308, math.nan, math.inf, -math.inf))
)
LONGITUDES = st.one_of(
    st.floats(-180, 180), st.sampled_from((180.5, -181.0, math.nan, math.inf, -1e308))
)
VERBS = (
    "fwd",
    "fwdto",
    "rej",
    "rejr",
    "rejgo",
    "ask",
    "prog",
    "note",
    "res",
    "resgo",
    "back",
    "ack",
    "ackf",
    "cat",
    "catto",
    "kind",
    "kindto",
    "priv",
    "privto",
    "case",
    "in",
    "off",
    "abort",
    "zzz",
)
# Buttons that move a report along its lifecycle (preferred now and then, to reach its end).
ONWARD = ("s:fwd", "s:ack", "s:res", "c:ans", "v:")
CHOICES = st.one_of(
    st.sampled_from(
        (
            "",
            "0",
            "1",
            "2",
            "abusive",
            "duplicate",
            "confidential",
            "anonymous",
            "public",
            "information",
            "aspiration",
            "fixed",
            "partly",
            "not_fixed",
            "r0",
            "r5",
            "r9",
            "cskip",
            "back",
            "cancel",
            "submit",
            "done",
            "all",
            "mine",
        )
    ),
    st.text(max_size=12),
)


def _fit(data: str) -> str:
    """Callback data as Telegram carries it: at most 64 bytes."""
    return data.encode()[:CALLBACK_MAX_BYTES].decode(errors="ignore")


# ---- the Telegram side: what each chat shows, and the Bot API's rules --------------------------
@dataclass
class Shown:
    """A message in a chat."""

    by_bot: bool
    text: bool
    buttons: tuple[str, ...] = ()


@dataclass
class Chats:
    """Every chat as Telegram keeps it, and every request that Telegram would refuse."""

    messages: dict[int, dict[int, Shown]] = field(default_factory=lambda: defaultdict(dict))
    counters: dict[int, Iterator[int]] = field(default_factory=dict)
    seen_buttons: list[tuple[int, int, str]] = field(default_factory=list)
    reply_keys: dict[int, tuple[KeyboardKey, ...]] = field(default_factory=dict)
    keys_message: dict[int, int] = field(default_factory=dict)
    file_ids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def new_id(self, chat_id: int) -> int:
        counter = self.counters.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def user_message(self, chat_id: int) -> int:
        message_id = self.new_id(chat_id)
        self.messages[chat_id][message_id] = Shown(by_bot=False, text=True)
        return message_id

    def bot_message(self, chat_id: int, *, text: bool, buttons: Keyboard = ()) -> int:
        message_id = self.new_id(chat_id)
        data = tuple(b.callback for row in buttons for b in row if b.callback is not None)
        self.messages[chat_id][message_id] = Shown(by_bot=True, text=text, buttons=data)
        self.seen_buttons.extend((chat_id, message_id, d) for d in data)
        return message_id

    def current_buttons(self, chat_id: int) -> list[tuple[int, str]]:
        """The buttons on the chat's messages, newest first."""
        return [
            (message_id, data)
            for message_id, shown in sorted(self.messages[chat_id].items(), reverse=True)
            for data in shown.buttons
        ]

    def bot_messages(self, chat_id: int) -> list[int]:
        return sorted((i for i, m in self.messages[chat_id].items() if m.by_bot), reverse=True)


def _api(check: Any, *args: Any, **kwargs: Any) -> str | None:
    try:
        check(*args, **kwargs)
    except ApiError as error:
        return error.description
    return None


def _markup(buttons: Keyboard) -> list[str]:
    problems = []
    markup = {
        "inline_keyboard": [
            [
                {"text": b.text, "callback_data": b.callback}
                if b.callback is not None
                else {"text": b.text, "url": b.url}
                for b in row
            ]
            for row in buttons
        ]
    }
    if error := _api(check_reply_markup, markup):
        problems.append(f"inline keyboard refused: {error}")
    if sum(len(row) for row in buttons) > KEYBOARD_MAX_BUTTONS:
        problems.append("REPLY_MARKUP_TOO_LONG")
    problems += [
        f"empty button text in {b!r}" for row in buttons for b in row if not b.text.strip()
    ]
    return problems


class TelegramSender:
    """Sends replies the way Telegram would take them: records them, refuses what it would."""

    def __init__(self, chats: Chats, soft: set[str]) -> None:
        self.chats = chats
        self.soft = soft

    def _problem(self, chat_id: int, what: str, detail: object) -> None:
        self.chats.problems.append(f"chat {chat_id}: {what}: {detail!r:.400}")

    async def answer_callback(self, callback_id: str, notice: Notice | None) -> None:
        if notice is None:
            return
        if len(notice.text) > NOTICE_MAX:
            self.chats.problems.append(f"pop-up over {NOTICE_MAX} characters: {notice.text!r}")
        if plain_text(notice.text) != notice.text:
            self.soft.add(f"a pop-up (plain text) shows markup: {notice.text!r:.200}")

    async def send(self, chat_id: int, reply: Sendable) -> int | None:
        if isinstance(reply, Message):
            return self._message(chat_id, reply)
        if isinstance(reply, EditMessage):
            self._editable(chat_id, reply.message_id, reply, text=True)
            if error := _api(format_text, reply.text, "HTML"):
                self._problem(chat_id, f"edit refused: {error}", reply.text)
            for problem in _markup(reply.buttons):
                self._problem(chat_id, problem, reply)
            shown = self.chats.messages[chat_id].get(reply.message_id)
            if shown is not None and shown.by_bot:
                data = tuple(b.callback for row in reply.buttons for b in row if b.callback)
                shown.buttons = data
                self.chats.seen_buttons.extend((chat_id, reply.message_id, d) for d in data)
            return None
        if isinstance(reply, ClearButtons):
            self._editable(chat_id, reply.message_id, reply, text=False)
            shown = self.chats.messages[chat_id].get(reply.message_id)
            if shown is not None and shown.by_bot:
                shown.buttons = ()
            return None
        assert isinstance(reply, Upload)
        if not reply.data or not reply.filename.strip():
            self._problem(chat_id, "empty upload", reply.filename)
        if error := _api(format_caption, reply.caption or None, "HTML"):
            self._problem(chat_id, f"upload caption refused: {error}", reply.caption)
        return self.chats.bot_message(chat_id, text=False)

    def _editable(self, chat_id: int, message_id: int, reply: Sendable, *, text: bool) -> None:
        shown = self.chats.messages[chat_id].get(message_id)
        if shown is None:
            self._problem(chat_id, "message to edit not found", reply)
        elif not shown.by_bot:
            self._problem(chat_id, "message can't be edited (not the bot's)", reply)
        elif text and not shown.text:
            self._problem(chat_id, "there is no text in the message to edit", reply)

    def _message(self, chat_id: int, reply: Message) -> int:
        for batch in media_batches(reply.media):
            if not 1 <= len(batch) <= 10:
                self._problem(chat_id, "media group of a wrong size", len(batch))
            for item in batch:
                if item.file_id not in self.chats.file_ids:
                    self._problem(chat_id, "wrong file identifier", item.file_id)
                caption = escape_caption(item.caption)
                if error := _api(format_caption, caption, "HTML"):
                    self._problem(chat_id, f"caption refused: {error}", caption)
                self.chats.bot_message(chat_id, text=False)
        if error := _api(format_text, reply.text, "HTML"):
            self._problem(chat_id, f"message refused: {error}", reply.text)
        for problem in _markup(reply.buttons):
            self._problem(chat_id, problem, reply)
        for keys in reply.reply_keys:
            for key in keys:
                if not key.text.strip():
                    self._problem(chat_id, "empty keyboard key", reply)
                if plain_text(key.text) != key.text:
                    self.soft.add(f"a reply key (plain text) shows markup: {key.text!r:.200}")
        for row in reply.buttons:
            for b in row:
                if plain_text(b.text) != b.text:
                    self.soft.add(f"a button (plain text) shows markup: {b.text!r:.200}")
        message_id = self.chats.bot_message(chat_id, text=True, buttons=reply.buttons)
        if reply.reply_keys:
            self.chats.reply_keys[chat_id] = tuple(k for row in reply.reply_keys for k in row)
            self.chats.keys_message[chat_id] = message_id
        elif reply.remove_keys:
            self.chats.reply_keys.pop(chat_id, None)
            self.chats.keys_message.pop(chat_id, None)
        return message_id


# ---- the database side: reports and their history ------------------------------------------------
@dataclass
class Snapshot:
    """All reports, their history and the staff, at one moment."""

    complaints: dict[int, dict[str, Any]]
    events: list[dict[str, Any]]
    staff: dict[int, dict[str, Any]]
    telegram_ids: dict[int, int | None] = field(default_factory=dict)  # citizen row -> user


async def snapshot(app: App) -> Snapshot:
    async with UnitOfWork(app.sessions) as uow:
        session = uow.session
        complaints = (await session.exec(select(Complaint))).all()
        events = (await session.exec(select(ComplaintEvent).order_by(ComplaintEvent.id))).all()  # type: ignore[arg-type]
        staff = (await session.exec(select(Staff))).all()
        people = (await session.exec(select(CitizenRow))).all()
        return Snapshot(
            complaints={c.id: c.model_dump() for c in complaints if c.id is not None},
            events=[e.model_dump() for e in events],
            staff={s.id: s.model_dump() for s in staff if s.id is not None},
            telegram_ids={c.id: c.telegram_id for c in people if c.id is not None},
        )


def _party(event: dict[str, Any], after: Snapshot) -> Party | None:
    if event["actor"] == Actor.STAFF:
        member = after.staff.get(event["actor_id"])
        return Role(member["role"]) if member else None
    return Actor(event["actor"])


def transition_problems(before: Snapshot, after: Snapshot) -> list[str]:
    """Every way the reports changed other than by allowed transitions, in words."""
    problems: list[str] = []
    old_ids = {e["id"] for e in before.events}
    if [e for e in after.events if e["id"] in old_ids] != before.events:
        problems.append("the history (append-only) was changed or shortened")
    problems += [f"report {i} disappeared" for i in before.complaints if i not in after.complaints]
    new_events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in after.events:
        if event["id"] not in old_ids:
            new_events[event["complaint_id"]].append(event)
    for case_id, row in after.complaints.items():
        old = before.complaints.get(case_id)
        events = new_events.get(case_id, [])
        if not events:
            if old is None:
                problems.append(f"report {case_id} appeared without a submission event")
            elif row != old:
                changed = sorted(k for k in row if row[k] != old[k])
                problems.append(f"report {case_id} changed {changed} without a history event")
            continue
        problems += _chain_problems(case_id, old, row, events, after)
    return problems


def _chain_problems(
    case_id: int,
    old: dict[str, Any] | None,
    row: dict[str, Any],
    events: list[dict[str, Any]],
    after: Snapshot,
) -> list[str]:
    problems: list[str] = []
    status = Status(old["status"]) if old else None
    asked_from = old["status_before_question"] if old else None
    agency = old["agency_id"] if old else None
    for event in events:
        where = f"report {case_id} event {event['id']} ({event['action']} by {event['actor']})"
        try:
            action = Action(event["action"])
        except ValueError:
            problems.append(f"{where}: unknown action")
            continue
        party = _party(event, after)
        source, target = event["from_status"], event["to_status"]
        if party is Actor.CITIZEN and event["actor_id"] != row["citizen_id"]:
            problems.append(f"{where}: a citizen acted on someone else's report")
        if action is Action.SUBMIT:
            by_staff = party is Role.SUPERADMIN and row["channel"] != Channel.TELEGRAM
            by_citizen = party is Actor.CITIZEN and row["channel"] == Channel.TELEGRAM
            if old is not None or source is not None or target != Status.SUBMITTED:
                problems.append(f"{where}: submitted twice or {source} -> {target}")
            if not (by_staff or by_citizen):
                problems.append(f"{where}: submitted by {party} over {row['channel']}")
            status = Status.SUBMITTED
            continue
        if action is Action.CLAIM:
            if party is not Actor.CITIZEN or source is not None or target != status:
                problems.append(f"{where}: claim by {party} moved {status} to {target}")
            continue
        if status is None or source != status:
            problems.append(f"{where}: leaves {source} but the report was {status}")
            continue
        if party is None or not may(action, party, status):
            problems.append(f"{where}: {party} may not {action.value} a {status.value} report")
        if party is Role.AGENCY_ADMIN:
            member = after.staff.get(event["actor_id"]) or {}
            if agency is None or member.get("agency_id") != agency:
                problems.append(f"{where}: an officer acted on another agency's report")
        expected = next_status(action, status, Status(asked_from) if asked_from else None)
        if target != expected:
            problems.append(f"{where}: went {source} -> {target}, the lifecycle says {expected}")
        if action is Action.ASK:
            asked_from = status
        if action in (Action.FORWARD, Action.REOPEN, Action.HAND_BACK):
            agency = row["agency_id"]
        status = Status(target) if target else status
    if status != row["status"]:
        problems.append(f"report {case_id} is {row['status']} but its history ends at {status}")
    return problems


# ---- the machine -------------------------------------------------------------------------------
class ErrorLog(logging.Handler):
    """Every error logged while a step runs (a handler that failed, a duty, the outbox …)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(logging.Formatter().format(record))


@contextmanager
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class RandomUpdates(RuleBasedStateMachine):
    """Several people, one bot, random updates; the invariants are checked after every step."""

    runner: ClassVar[asyncio.Runner]
    template: ClassVar[Path]
    workdir: ClassVar[Path]
    soft: ClassVar[set[str]]
    tally: ClassVar[Counter[str]]
    examples: ClassVar[Iterator[int]] = itertools.count(1)

    def __init__(self) -> None:
        super().__init__()
        self.folder = self.workdir / f"example-{next(self.examples)}"
        self.folder.mkdir()
        shutil.copy(self.template, self.folder / "aduan.db")
        self.clock = FakeClock()
        self.settings = make_settings(self.folder, admin_ids=str(ADMIN), album_wait_seconds=0.01)
        self.app = self.runner.run(build_app(self.settings, clock=self.clock))
        self.chats = Chats()
        self.sender = TelegramSender(self.chats, self.soft)
        self.pipeline = UpdatePipeline(
            processor=self._process, sender=self.sender, album_wait=0.01, send_attempts=1
        )
        self.dispatcher = OutboxDispatcher(
            sessions=self.app.sessions,
            sender=self.sender,
            clock=self.clock,
            worker_id="property",
            rate_per_second=1000,
        )
        self.update_ids = itertools.count(1)
        self.file_numbers = itertools.count(1)
        self.names: dict[int, str] = {}
        self.languages: dict[int, str | None] = {}
        self.processed: list[tuple[Event, list[Reply] | BaseException]] = []
        self.last_update: dict[str, Any] | None = None
        self.user_messages: dict[int, list[int]] = defaultdict(list)
        self.reports: list[tuple[int, str]] = []
        self.cases: list[tuple[str, str, int | None, int | None]] = []
        self.pupr = 0
        self.agencies: list[int] = []
        self.staff_ids: list[int] = []
        self.errors = set(self.app.translator.all_variants("common.error"))

    def teardown(self) -> None:
        try:
            self.runner.run(self.pipeline.drain())
            self.runner.run(self.dispatcher.close())
        finally:
            self.runner.run(self.app.close())
            shutil.rmtree(self.folder, ignore_errors=True)

    # ---- plumbing ------------------------------------------------------------------------------
    async def _process(self, event: Event) -> list[Reply]:
        try:
            replies = await self.app.processor.process(event)
        except BaseException as error:
            self.processed.append((event, error))
            raise
        self.processed.append((event, replies))
        return replies

    def _user(self, user_id: int) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": self.names[user_id]}
        if self.languages[user_id] is not None:
            user["language_code"] = self.languages[user_id]
        return user

    def _message(self, user_id: int, chat: tuple[int, str] | None = None, **content: Any) -> Any:
        chat_id, chat_type = chat or (user_id, "private")
        data = {
            "message_id": self.chats.user_message(chat_id),
            "date": int(self.clock.now.timestamp()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": self._user(user_id),
            **content,
        }
        if chat is None:
            self.user_messages[user_id].append(data["message_id"])
        return data

    def _update(self, **kind: Any) -> dict[str, Any]:
        return {"update_id": next(self.update_ids), **kind}

    def _file(self, kind: str, caption: str | None = None) -> dict[str, Any]:
        n = next(self.file_numbers)
        file: dict[str, Any] = {
            "file_id": f"{kind}-{n}",
            "file_unique_id": f"u{kind}-{n}",
            "file_size": 1000 + n,
        }
        self.chats.file_ids.add(file["file_id"])
        if kind == "photo":
            small = {**file, "file_id": f"{kind}-{n}-small", "width": 90, "height": 90}
            self.chats.file_ids.add(small["file_id"])
            content: dict[str, Any] = {"photo": [small, {**file, "width": 1280, "height": 960}]}
        elif kind == "document":
            content = {
                "document": {**file, "file_name": "lapor.pdf", "mime_type": "application/pdf"}
            }
        elif kind == "video":
            content = {"video": {**file, "width": 640, "height": 480, "duration": 3}}
        else:
            content = {"voice": {**file, "duration": 2}}
        return {**content, **({"caption": caption} if caption is not None else {})}

    def send(self, *updates: dict[str, Any], answered: bool = True) -> None:
        """Deliver updates as Telegram would, then check every invariant."""
        self.runner.run(self._send(updates, answered=answered))

    async def _send(self, updates: Sequence[dict[str, Any]], *, answered: bool) -> None:
        before = await snapshot(self.app)
        self.processed = []
        self.chats.problems = []
        with errors_logged() as log:
            for data in updates:
                self.last_update = data
                event = to_event(Update.model_validate(data))
                if event is not None:
                    self.pipeline.submit(event)
            await self.pipeline.drain()
        await self._check(before, log, answered=answered)

    async def _check(self, before: Snapshot, log: ErrorLog, *, answered: bool) -> None:
        failures: list[str] = []
        for event, outcome in self.processed:
            if isinstance(outcome, BaseException):
                trace = "".join(traceback.format_exception(outcome))
                failures.append(f"process raised for {event!r}:\n{trace}")
                continue
            texts = [r.text for r in outcome if isinstance(r, Message | EditMessage | Notice)]
            if any(text in self.errors for text in texts):
                failures.append(f"the generic error answered {event!r}")
            told = [
                r
                for r in outcome
                if not isinstance(r, Notice)
                and getattr(r, "chat_id", None) in (None, event.chat_id)
            ]
            if answered and event.chat_type == "private" and not event.is_callback and not told:
                failures.append(f"no answer to {event!r}: {outcome!r}")
        failures += [f"logged: {record}" for record in log.records]
        failures += self.chats.problems
        after = await snapshot(self.app)
        failures += transition_problems(before, after)
        known = {e["id"] for e in before.events}
        for new in (e for e in after.events if e["id"] not in known):
            self.tally[f"{new['action']} by {new['actor']} -> {new['to_status']}"] += 1
        self.reports = sorted((i, c["tracking_code"]) for i, c in after.complaints.items())
        self.cases = [
            (
                c["tracking_code"],
                c["status"],
                c["agency_id"],
                after.telegram_ids.get(c["citizen_id"]),
            )
            for _, c in sorted(after.complaints.items())
        ]
        self.staff_ids = sorted(after.staff)
        assert not failures, "\n".join(failures)

    # ---- setup ---------------------------------------------------------------------------------
    @initialize(data=st.data())
    def people(self, data: st.DataObject) -> None:
        for user_id in USERS:
            self.names[user_id] = data.draw(NAMES, label=f"name of {user_id}")
            self.languages[user_id] = data.draw(LANGUAGES, label=f"language of {user_id}")
        self.agencies, self.pupr = self.runner.run(self._agencies())

    async def _agencies(self) -> tuple[list[int], int]:
        async with UnitOfWork(self.app.sessions) as uow:
            agencies = (await uow.session.exec(select(Agency))).all()
        pupr = next(a.id for a in agencies if a.code == "pupr" and a.id)
        return [a.id for a in agencies if a.id], pupr

    # ---- rules ---------------------------------------------------------------------------------
    @rule(user=st.sampled_from(USERS), text=TEXTS)
    def send_text(self, user: int, text: str) -> None:
        self.send(self._update(message=self._message(user, text=text)))

    @rule(user=st.sampled_from(USERS), data=st.data())
    def send_command(self, user: int, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(COMMANDS), label="command")
        suffix = data.draw(st.sampled_from(("", "@AduanBot", "@OtherBot")), label="suffix")
        codes = [code for _, code in self.reports] + [str(i) for i, _ in self.reports]
        args = data.draw(
            st.one_of(
                ODD_ARGS, st.sampled_from(codes).map(lambda c: f"{c} Teks catatan yang jelas.")
            )
            if codes
            else ODD_ARGS,
            label="args",
        )
        text = f"/{name}{suffix}" + (f" {args}" if args else "")
        self.send(self._update(message=self._message(user, text=text)))

    @rule(user=st.sampled_from(USERS), data=st.data())
    def press_current_button(self, user: int, data: st.DataObject) -> None:
        """A button the user sees now (the newest ones are drawn first)."""
        buttons = self.chats.current_buttons(user)
        if not buttons:
            self.send(self._update(message=self._message(user, text="/start")))
            return
        message_id, callback = data.draw(st.sampled_from(buttons), label="button")
        self.press(user, message_id, callback)

    @rule(user=st.sampled_from(USERS), data=st.data())
    def press_stale_or_forged_button(self, user: int, data: st.DataObject) -> None:
        """A button from an older message, someone else's button, or data no button had."""
        own = self.chats.bot_messages(user)
        if not own:
            self.send(self._update(message=self._message(user, text="/start")))
            return
        how = data.draw(st.sampled_from(("seen", "forged", "random")), label="how")
        message_id = data.draw(st.sampled_from(own), label="under message")
        if how == "seen" and self.chats.seen_buttons:
            chat_id, seen_id, callback = data.draw(st.sampled_from(self.chats.seen_buttons))
            if chat_id == user:
                message_id = seen_id
        elif how == "random":
            callback = _fit(data.draw(st.text(max_size=70), label="data"))
        else:
            callback = self._forged(data)
        self.press(user, message_id, callback)

    def _forged(self, data: st.DataObject) -> str:
        ids = [i for i, _ in self.reports] or [1]
        report = data.draw(st.one_of(st.sampled_from(ids), st.integers(-1, 10**19)), label="id")
        choice = data.draw(CHOICES, label="choice")
        agency = data.draw(st.sampled_from([*self.agencies, 999999]), label="agency")
        staff = data.draw(st.sampled_from([*self.staff_ids, 0]), label="staff")
        code = data.draw(st.sampled_from([c for _, c in self.reports] or ["TPI-2026-000001"]))
        verb = data.draw(st.sampled_from(VERBS), label="verb")
        n = data.draw(st.integers(-1, 3), label="n")
        shape = data.draw(
            st.sampled_from(
                (
                    f"s:{verb}:{report}",
                    f"s:{verb}:{report}:{choice}",
                    f"s:fwdto:{report}:{agency}",
                    f"v:{report}:{n}:{choice}",
                    f"c:ans:{report}",
                    "c:abort",
                    f"s:case:{report}",
                    f"s:off:{staff}",
                    f"s:in:{choice}:{n}:{choice}",
                    "s:abort:0",
                    f"m:st:{code}",
                    f"m:mine:{n}",
                    f"m:{choice}",
                    f"l:{choice}",
                    f"i:{choice}:{choice}",
                    f"x:{choice}",
                    f"o:{choice}",
                )
            ),
            label="shape",
        )
        return _fit(shape)

    def press(
        self, user: int, message_id: int, callback: str, chat: tuple[int, str] | None = None
    ) -> None:
        chat_id, chat_type = chat or (user, "private")
        pressed = {
            "message_id": message_id,
            "date": int(self.clock.now.timestamp()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": BOT_USER,
            "text": "…",
        }
        query = {
            "id": f"cb-{next(self.update_ids)}",
            "from": self._user(user),
            "chat_instance": str(chat_id),
            "message": pressed,
            "data": callback,
        }
        self.send(self._update(callback_query=query))

    @rule(user=st.sampled_from(USERS), data=st.data())
    def tap_reply_key(self, user: int, data: st.DataObject) -> None:
        """A key of the reply keyboard the chat shows (share location sends a point)."""
        keys = self.chats.reply_keys.get(user)
        if not keys:
            return
        key = data.draw(st.sampled_from(keys), label="key")
        if key.request_location:
            point = {"latitude": 0.9186, "longitude": 104.4554}
            self.send(self._update(message=self._message(user, location=point)))
        else:
            self.send(self._update(message=self._message(user, text=key.text)))

    @rule(
        user=st.sampled_from(USERS),
        kinds=st.one_of(
            st.lists(st.sampled_from(MEDIA_KINDS), min_size=1, max_size=1),
            # What Telegram lets a user group: photos with videos, or documents alone.
            st.lists(st.sampled_from(("photo", "video")), min_size=2, max_size=10),
            st.lists(st.just("document"), min_size=2, max_size=10),
        ),
        captions=st.lists(st.one_of(st.none(), SHORT_TEXTS, TEXTS), min_size=1, max_size=10),
        album=st.booleans(),
    )
    def send_media(
        self, user: int, kinds: list[str], captions: list[str | None], album: bool
    ) -> None:
        """One item, or an album (items sharing a media_group_id, arriving one by one)."""
        if len(kinds) == 1 or not album:
            content = self._file(kinds[0], captions[0])
            self.send(self._update(message=self._message(user, **content)))
            return
        group = f"album-{next(self.file_numbers)}"
        updates = [
            self._update(
                message=self._message(
                    user, media_group_id=group, **self._file(kind, captions[n % len(captions)])
                )
            )
            for n, kind in enumerate(kinds)
        ]
        self.send(*updates)

    @rule(user=st.sampled_from(USERS), what=st.sampled_from(sorted(UNSUPPORTED)))
    def send_unsupported(self, user: int, what: str) -> None:
        self.send(self._update(message=self._message(user, **{what: UNSUPPORTED[what]})))

    @rule(user=st.sampled_from(USERS), latitude=LATITUDES, longitude=LONGITUDES)
    def send_location(self, user: int, latitude: float, longitude: float) -> None:
        point = {"latitude": latitude, "longitude": longitude}
        self.send(self._update(message=self._message(user, location=point)))

    @rule(user=st.sampled_from(USERS), text=TEXTS, data=st.data())
    def edit_message(self, user: int, text: str, data: st.DataObject) -> None:
        """The user edits one of their earlier messages (or one Telegram says they sent)."""
        earlier = self.user_messages[user]
        message_id = data.draw(st.sampled_from(earlier), label="edited") if earlier else 1
        message = {
            "message_id": message_id,
            "date": int(self.clock.now.timestamp()) - 60,
            "edit_date": int(self.clock.now.timestamp()),
            "chat": {"id": user, "type": "private"},
            "from": self._user(user),
            "text": text,
        }
        self.send(self._update(edited_message=message))

    @rule(
        user=st.sampled_from(USERS),
        chat=st.sampled_from(GROUPS),
        what=st.sampled_from(("text", "command", "photo", "edit", "press", "album")),
        text=TEXTS,
    )
    def group_message(self, user: int, chat: tuple[int, str], what: str, text: str) -> None:
        """Someone added the bot to a group: only commands get an answer (use a private chat)."""
        if what == "press":
            bot_messages = self.chats.bot_messages(chat[0]) or [1]
            self.press(user, bot_messages[0], "m:new", chat)
            return
        if what == "album":
            group = f"album-{next(self.file_numbers)}"
            self.send(
                *(
                    self._update(
                        message=self._message(
                            user, chat, media_group_id=group, **self._file("photo")
                        )
                    )
                    for _ in range(3)
                ),
                answered=False,
            )
            return
        content: dict[str, Any] = {
            "text": {"text": text},
            "command": {"text": f"/new@AduanBot {text[:30]}"},
            "photo": self._file("photo", text[:100]),
            "edit": {"text": text, "edit_date": int(self.clock.now.timestamp())},
        }[what]
        kind = "edited_message" if what == "edit" else "message"
        self.send(self._update(**{kind: self._message(user, chat, **content)}), answered=False)

    @rule(
        what=st.sampled_from(
            (
                "channel_post",
                "edited_channel_post",
                "inline_query",
                "poll_answer",
                "my_chat_member",
                "anonymous",
            )
        ),
        user=st.sampled_from(USERS),
        text=SHORT_TEXTS,
    )
    def unknown_update(self, what: str, user: int, text: str) -> None:
        """Updates Aduan never asked for, or that carry no sender: nothing happens."""
        post = {
            "message_id": self.chats.user_message(CHANNEL),
            "date": int(self.clock.now.timestamp()),
            "chat": {"id": CHANNEL, "type": "channel", "title": "Kota"},
            "text": text or "x",
        }
        sender = self._user(user)
        kinds: dict[str, dict[str, Any]] = {
            "channel_post": {"channel_post": post},
            "edited_channel_post": {"edited_channel_post": {**post, "edit_date": post["date"]}},
            "inline_query": {
                "inline_query": {"id": "q", "from": sender, "query": text, "offset": ""}
            },
            "poll_answer": {
                "poll_answer": {
                    "poll_id": "p",
                    "option_ids": [0],
                    "option_persistent_ids": ["0"],
                    "user": sender,
                }
            },
            "my_chat_member": {
                "my_chat_member": {
                    "chat": {"id": user, "type": "private"},
                    "from": sender,
                    "date": post["date"],
                    "old_chat_member": {"status": "member", "user": BOT_USER},
                    "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0},
                }
            },
            # A message in a group sent on behalf of the group: no ``from``.
            "anonymous": {"message": {**post, "chat": {"id": GROUPS[1][0], "type": "supergroup"}}},
        }
        self.send(self._update(**kinds[what]), answered=False)

    @precondition(lambda self: self.last_update is not None)
    @rule()
    def redeliver(self) -> None:
        """Telegram sends the last update again (its update_id too): it is skipped."""
        assert self.last_update is not None
        self.runner.run(self._redeliver(self.last_update))

    async def _redeliver(self, data: dict[str, Any]) -> None:
        before = await snapshot(self.app)
        event = to_event(Update.model_validate(data))
        if event is None or event.media_group_id is not None:
            return
        replies = await self.app.processor.process(event)
        assert replies == [], f"a redelivered update was answered: {replies!r}"
        after = await snapshot(self.app)
        assert after == before, "a redelivered update changed the reports"

    @rule(user=st.sampled_from(CITIZENS), data=st.data())
    def file_a_report(self, user: int, data: st.DataObject) -> None:
        """A citizen walks the filing flow with mostly sensible answers (the rest is random)."""
        self.send(self._update(message=self._message(user, text="/new")))
        for _ in range(12):
            buttons = [b for b in self.chats.current_buttons(user) if b[1].startswith("i:")]
            keys_at = self.chats.keys_message.get(user, 0) if self.chats.reply_keys.get(user) else 0
            if keys_at and (not buttons or keys_at > buttons[0][0]):
                self.tap_reply_key(user, data)
                continue
            if not buttons:
                return
            newest = [b for b in buttons if b[0] == buttons[0][0]]
            step = newest[0][1].split(":")[1]
            if step == "description":
                text = data.draw(
                    st.one_of(
                        st.sampled_from(DESCRIPTIONS),
                        st.builds(str.__add__, st.sampled_from(DESCRIPTIONS), TEXTS),
                    ),
                    label="description",
                )
                self.send(self._update(message=self._message(user, text=text)))
                continue
            sensible = [b for b in newest if b[1].split(":")[-1] not in ("back", "cancel", "edit")]
            message_id, callback = data.draw(st.sampled_from(sensible or newest), label=step)
            self.press(user, message_id, callback)
            if callback.endswith(":submit"):
                return

    @rule(user=st.sampled_from(USERS), data=st.data())
    def follow_the_buttons(self, user: int, data: st.DataObject) -> None:
        """Someone follows the bot's newest buttons with mostly sensible moves: a citizen
        answers a question or gives a verdict, staff act on a notice."""
        self.deliver_outbox()
        codes = [code for _, code in self.reports]
        opening = ["/inbox", "/mine", *(f"/status {c}" for c in codes)]
        self._converse(user, data.draw(st.sampled_from(["", *opening]), label="opening"), data)

    @precondition(lambda self: bool(self.reports))
    @rule(user=st.sampled_from((ADMIN, OFFICER)), data=st.data())
    def work_a_case(self, user: int, data: st.DataObject) -> None:
        """A city admin or the officer opens a case and acts on it."""
        self.deliver_outbox()
        code = data.draw(st.sampled_from([code for _, code in self.reports]), label="case")
        self._converse(user, f"/case {code}", data)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def move_a_case_on(self, data: st.DataObject) -> None:
        """Whoever holds a report's next move makes it, preferring moves that take the report
        on along its lifecycle (to reach answers, verdicts, ratings and closing)."""
        code, status, agency, citizen = data.draw(st.sampled_from(self.cases), label="case")
        self.deliver_outbox()
        if status in (Status.NEEDS_INFO, Status.RESOLVED, Status.CLOSED) and citizen:
            self._converse(citizen, "", data, onward=True)
        elif status in (Status.ASSIGNED, Status.IN_PROGRESS) and agency == self.pupr:
            self._converse(OFFICER, f"/case {code}", data, onward=True)
        else:
            self._converse(ADMIN, f"/case {code}", data, onward=True)

    def _converse(self, user: int, first: str, data: st.DataObject, onward: bool = False) -> None:
        if first:
            self.send(self._update(message=self._message(user, text=first)))
        for _ in range(8):
            shown = self.chats.current_buttons(user)
            if not shown:
                return
            message_id = shown[0][0]
            newest = [d for i, d in shown if i == message_id]
            typing = any(d in ("s:abort:0", "c:abort") or d.endswith(":cskip") for d in newest)
            if typing and data.draw(st.booleans(), label="type an answer"):
                text = data.draw(
                    st.one_of(
                        st.sampled_from(DESCRIPTIONS),
                        st.builds(str.__add__, st.sampled_from(DESCRIPTIONS), TEXTS),
                    ),
                    label="answer",
                )
                self.send(self._update(message=self._message(user, text=text)))
                continue
            quitting = ("s:abort:0", "c:abort", "x:no")
            sensible = [d for d in newest if d not in quitting and not d.endswith(":cancel")]
            forward = [d for d in sensible if d.startswith(ONWARD)]
            if forward and (onward or data.draw(st.booleans(), label="move the case on")):
                ours = [
                    d for d in forward if d.startswith("s:fwdto:") and d.endswith(f":{self.pupr}")
                ]
                sensible = ours or forward
            callback = data.draw(st.sampled_from(sensible or newest), label="press")
            self.press(user, message_id, callback)

    @rule(
        delta=st.sampled_from(
            (
                {"seconds": 5},
                {"minutes": 30},
                {"hours": 6},
                {"hours": 49},
                {"days": 4},
                {"days": 15},
            )
        )
    )
    def time_passes(self, delta: dict[str, float]) -> None:
        """Time passes: the duties run and the outbox delivers what is due."""
        self.clock.advance(**delta)
        self.runner.run(self._duties())
        self.deliver_outbox()

    async def _duties(self) -> None:
        before = await snapshot(self.app)
        self.chats.problems = []
        with errors_logged() as log:
            now = self.clock()
            duties = self.app.duties
            for duty in (
                duties.scan_deadlines,
                duties.send_citizen_updates,
                duties.auto_close,
                duties.expire_drafts,
                duties.send_digests,
            ):
                await duty(now)
        self.processed = []
        await self._check(before, log, answered=False)

    @rule()
    def deliver_outbox(self) -> None:
        """The dispatcher delivers what is due, a second apart per chat."""
        self.runner.run(self._outbox())

    async def _outbox(self) -> None:
        before = await snapshot(self.app)
        self.chats.problems = []
        with errors_logged() as log:
            for _ in range(10):
                report = await self.dispatcher.run_once()
                self.clock.advance(seconds=1.5)
                if not report.claimed:
                    break
        self.processed = []
        await self._check(before, log, answered=False)


# ---- the test ----------------------------------------------------------------------------------
async def _template(folder: Path) -> Path:
    """A migrated database with the reference data, the admin and the PUPR officer."""
    app = await build_app(make_settings(folder, admin_ids=str(ADMIN)), clock=FakeClock())
    try:
        async with UnitOfWork(app.sessions) as uow:
            pupr = (await uow.session.exec(select(Agency).where(Agency.code == "pupr"))).one()
            uow.session.add(Staff(telegram_id=OFFICER, role=Role.AGENCY_ADMIN, agency_id=pupr.id))
            await uow.commit()
    finally:
        await app.close()
    return folder / "aduan.db"


@pytest.mark.timeout(max(60, EXAMPLES * STEPS // 3))
def test_random_updates_keep_every_invariant(tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    soft: set[str] = set()
    tally: Counter[str] = Counter()
    with asyncio.Runner() as runner:
        RandomUpdates.runner = runner
        RandomUpdates.template = runner.run(_template(template))
        RandomUpdates.workdir = tmp_path
        RandomUpdates.soft = soft
        RandomUpdates.tally = tally
        run_state_machine_as_test(
            RandomUpdates,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                print_blob=True,
                suppress_health_check=[
                    HealthCheck.too_slow,
                    HealthCheck.data_too_large,
                    HealthCheck.filter_too_much,
                ],
            ),
        )
    print("history events:", dict(sorted(tally.items())))
    for finding in sorted(soft):
        print(f"note: {finding}")
