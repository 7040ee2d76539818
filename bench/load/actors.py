"""Who sends the updates: citizens filing a report, a city admin and an agency officer.

Every actor is a simulated Telegram user of the emulator. An action (a text, or a press of a
button the bot really showed: the callback data is read from the bot's message) is followed by
a wait for the bot's message that makes the next action possible (the next step's buttons, the
location keyboard, the tracking code). The ``Recorder`` is told by the emulator when each update
was queued, delivered and first answered, and wakes the one actor waiting in that chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.load.emulator import ANSWERS, LoadEmulator

DESCRIPTION = "Lampu jalan mati di Jl. Ganet sejak Senin malam, gelap dan rawan kecelakaan."
ADDRESS = "Jl. Ganet No. 12, Tanjungpinang Timur"
ADMIN, OFFICER = 9001, 9002
FIRST_CITIZEN = 100_001
STEP_TIMEOUT = 60.0
STAFF_TIMEOUT = 60.0

Predicate = Callable[[Any, int], bool]  # (result of a sending call, chat id) -> ready?


@dataclass(slots=True)
class Sample:
    """One update: when it was queued, delivered, first answered, and when its actor could
    go on (the awaited message arrived)."""

    chat: int
    role: str
    queued: float
    delivered: float | None = None
    answered: float | None = None
    ready: float | None = None


@dataclass(slots=True)
class Waiter:
    predicate: Predicate
    done: Callable[[Any], None]
    sample: Sample | None = None


class Recorder:
    """The emulator's ``Tracker``: samples of every update, and the waiting actors."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._by_update: dict[int, Sample] = {}
        self._unanswered: dict[int, Sample] = {}
        self.waiters: dict[int, Waiter] = {}
        self.roles: dict[int, str] = {}

    def queued(self, update: dict[str, Any], chat: int, now: float) -> None:
        sample = Sample(chat, self.roles.get(chat, "other"), now)
        self.samples.append(sample)
        self._by_update[int(update["update_id"])] = sample
        self._unanswered[chat] = sample
        waiter = self.waiters.get(chat)
        if waiter is not None and waiter.sample is None:
            waiter.sample = sample

    def delivered(self, update_id: int, now: float) -> None:
        sample = self._by_update.get(update_id)
        if sample is not None and sample.delivered is None:
            sample.delivered = now

    def answered(self, chat: int, method: str, result: Any, now: float) -> None:
        if method in ANSWERS:
            sample = self._unanswered.get(chat)
            if sample is not None and sample.delivered is not None:
                sample.answered = now
                del self._unanswered[chat]
        waiter = self.waiters.get(chat)
        if waiter is not None and waiter.predicate(result, chat):
            del self.waiters[chat]
            if waiter.sample is not None:
                waiter.sample.ready = time.perf_counter()
            waiter.done(result)


# ------------------------------------------------------------------------------ predicates
def buttons(message: Any) -> list[tuple[str, str]]:
    """(label, callback data) of a message's inline buttons."""
    if not isinstance(message, dict):
        return []
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [
        (b.get("text", ""), b["callback_data"]) for row in rows for b in row if "callback_data" in b
    ]


def has_button(prefix: str) -> Predicate:
    return lambda result, _chat: any(data.startswith(prefix) for _, data in buttons(result))


def text_has(needle: str) -> Predicate:
    return lambda result, _chat: isinstance(result, dict) and needle in str(result.get("text"))


def any_message(result: Any, _chat: int) -> bool:
    return isinstance(result, dict)


Choose = Callable[[Any], str | None]  # the callback data to press in a message, or None


def exact(data: str) -> Choose:
    return lambda message: data if any(d == data for _, d in buttons(message)) else None


def prefer(prefix: str, label: str) -> Choose:
    """The first button with ``prefix`` whose label holds ``label``, else the first one."""

    def choose(message: Any) -> str | None:
        found = [
            (text, data)
            for text, data in buttons(message)
            if data.startswith(prefix) and not data.endswith((":back", ":cancel"))
        ]
        return next((d for t, d in found if label in t), found[0][1] if found else None)

    return choose


@dataclass(frozen=True)
class Step:
    kind: str  # "text" | "click"
    what: str | Choose
    ready: Predicate


def aduan_script(emulator: LoadEmulator) -> list[Step]:
    """The whole filing flow, as the bot's buttons carry it (bot/core/callbacks.py)."""

    def location_keys_shown(_result: Any, chat: int) -> bool:
        state = emulator.world.chats.get(chat)
        return state is not None and state.reply_keyboard is not None

    return [
        Step("text", "/new", has_button("i:kind:")),
        Step("click", exact("i:kind:complaint"), has_button("i:category:")),
        Step("click", prefer("i:category:", "Jalan"), has_button("i:description:")),
        Step("text", DESCRIPTION, location_keys_shown),
        Step("text", ADDRESS, has_button("i:attachments:done")),
        Step("click", exact("i:attachments:done"), has_button("i:privacy:")),
        Step("click", exact("i:privacy:public"), has_button("i:summary:submit")),
        Step("click", exact("i:summary:submit"), text_has("TPI-")),
    ]


def echo_script() -> list[Step]:
    """The same mix of updates for the echo bot: 3 texts and 5 presses, in the same order."""
    text, press = has_button("e:"), exact("e:next")
    return [
        Step("text", "/new", text),
        Step("click", press, text),
        Step("click", press, text),
        Step("text", DESCRIPTION, text),
        Step("text", ADDRESS, text),
        Step("click", press, text),
        Step("click", press, text),
        Step("click", press, text),
    ]


# ---------------------------------------------------------------------------------- actors
@dataclass
class Counters:
    stalls: int = 0
    failures: list[str] = field(default_factory=list)
    forwarded: int = 0
    acknowledged: int = 0
    filed: int = 0


class Actor:
    """One simulated user; one action in flight at a time."""

    def __init__(
        self, emulator: LoadEmulator, recorder: Recorder, user_id: int, role: str, name: str
    ) -> None:
        self.emulator = emulator
        self.recorder = recorder
        self.id = user_id
        self.think = 0.0  # seconds before each action (``do``)
        emulator.add_user(user_id, name, language_code="id")
        recorder.roles[user_id] = role

    def start(self, kind: str, what: Any, ready: Predicate, done: Callable[[Any], None]) -> None:
        """Do one action; ``done(result)`` once a message satisfying ``ready`` arrived."""
        self.recorder.waiters[self.id] = Waiter(ready, done)
        if kind == "text":
            self.emulator.send_text(self.id, what)
        else:
            message, data = what
            self.emulator.click(self.id, message, data)

    async def do(self, kind: str, what: Any, ready: Predicate, within: float) -> Any:
        """``start`` and wait; None when nothing came ``within`` seconds."""
        if self.think:
            await asyncio.sleep(self.think)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.start(kind, what, ready, lambda r: future.done() or future.set_result(r))
        try:
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            self.recorder.waiters.pop(self.id, None)
            return None

    async def say(self, text: str, ready: Predicate) -> Any:
        return await self.do("text", text, ready, STAFF_TIMEOUT)

    async def press(self, message: Any, data: str, ready: Predicate) -> Any:
        return await self.do("click", (message, data), ready, STAFF_TIMEOUT)


class Citizen(Actor):
    """Walks a script step by step (``advance``), from the last awaited message."""

    def __init__(
        self, emulator: LoadEmulator, recorder: Recorder, user_id: int, script: list[Step]
    ) -> None:
        super().__init__(emulator, recorder, user_id, "citizen", f"Warga {user_id}")
        self.script = script
        self.position = 0
        self.last: Any = None

    @property
    def finished(self) -> bool:
        return self.position >= len(self.script)

    def advance(self, counters: Counters, then: Callable[[Citizen], None]) -> bool:
        """Start the next step; ``then(self)`` when it is answered. False: cannot (no button)."""
        step = self.script[self.position]
        what: Any = step.what
        if step.kind == "click":
            assert callable(step.what)
            data = step.what(self.last)
            if data is None:
                counters.failures.append(f"step {self.position + 1}: no button to press")
                return False
            what = (self.last, data)

        def done(result: Any) -> None:
            self.last = result
            self.position += 1
            if self.finished:
                counters.filed += 1
            then(self)

        self.start(step.kind, what, step.ready, done)
        return True

    async def file(self, counters: Counters) -> None:
        """The whole script, each step after the previous one was answered (closed loop)."""
        while not self.finished:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def answered(_person: Citizen, future: asyncio.Future[None] = future) -> None:
                if not future.done():
                    future.set_result(None)

            if not self.advance(counters, answered):
                return
            try:
                await asyncio.wait_for(future, STEP_TIMEOUT)
            except TimeoutError:
                self.recorder.waiters.pop(self.id, None)
                counters.stalls += 1
                return


# ----------------------------------------------------------------------------------- staff
CODE = re.compile(r"[A-Z]{2,6}-\d{4}-\d{6}")


class Staff:
    """A superadmin (``ADMIN_IDS``) forwarding new reports to PUPR from /inbox, and an agency
    admin of PUPR (joined by the admin's invite) acknowledging them."""

    def __init__(self, emulator: LoadEmulator, recorder: Recorder, pause: float) -> None:
        self.admin = Actor(emulator, recorder, ADMIN, "staff", "Admin Kota")
        self.officer = Actor(emulator, recorder, OFFICER, "staff", "Petugas PUPR")
        self.pause = pause  # think time before each staff action, and between empty inboxes
        self.handled: set[int] = set()
        self.forwarded: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.running = False

    async def join(self) -> None:
        """The admin invites the officer (before any measurement)."""
        invite = await self.admin.say("/staff invite agency_admin pupr", text_has("start=join_"))
        token = re.search(r"start=(join_[\w-]+)", str((invite or {}).get("text")))
        if token is None:
            raise RuntimeError("no staff invite came back: is ADMIN_IDS set?")
        if await self.officer.say(f"/start {token.group(1)}", any_message) is None:
            raise RuntimeError("the officer's /start join_… got no answer")

    async def run(self, counters: Counters) -> None:
        self.running = True
        self.admin.think = self.officer.think = self.pause
        try:
            await asyncio.gather(self._admin(counters), self._officer(counters))
        finally:
            self.admin.think = self.officer.think = 0.0

    async def _admin(self, counters: Counters) -> None:
        admin = self.admin
        while self.running:
            inbox = await admin.say("/inbox", has_button("s:in:"))
            cases = [
                (label, int(data.rsplit(":", 1)[1]))
                for label, data in buttons(inbox)
                if data.startswith("s:case:") and int(data.rsplit(":", 1)[1]) not in self.handled
            ]
            if not cases:
                await asyncio.sleep(self.pause)
                continue
            code, case = cases[0]
            self.handled.add(case)
            card = await admin.press(inbox, f"s:case:{case}", has_button(f"s:fwd:{case}"))
            if card is None:
                counters.stalls += 1
                continue
            picker = await admin.press(card, f"s:fwd:{case}", has_button(f"s:fwdto:{case}:"))
            target = prefer(f"s:fwdto:{case}:", "PUPR")(picker)
            if target is None or not await admin.press(picker, target, has_button("s:case:")):
                counters.stalls += 1
                continue
            counters.forwarded += 1
            self.forwarded.put_nowait((case, code))

    async def _officer(self, counters: Counters) -> None:
        officer = self.officer
        while self.running:
            try:
                case, code = await asyncio.wait_for(self.forwarded.get(), 0.5)
            except TimeoutError:
                continue
            inbox = await officer.say("/inbox", has_button("s:in:"))
            ackable = has_button(f"s:ack:{case}")
            if any(data == f"s:case:{case}" for _, data in buttons(inbox)):
                card = await officer.press(inbox, f"s:case:{case}", ackable)
            else:
                card = await officer.say(f"/case {code}", ackable)
            if card is None:
                counters.stalls += 1
                continue
            picker = await officer.press(card, f"s:ack:{case}", has_button(f"s:ackf:{case}:"))
            choice = prefer(f"s:ackf:{case}:", "")(picker)
            if choice is None or not await officer.press(picker, choice, has_button("s:case:")):
                counters.stalls += 1
                continue
            counters.acknowledged += 1


# ------------------------------------------------------------------------------------ loads
class Crowd:
    """Makes citizens with fresh ids."""

    def __init__(
        self, emulator: LoadEmulator, recorder: Recorder, script: list[Step], start: int
    ) -> None:
        self.emulator, self.recorder, self.script = emulator, recorder, script
        self.next_id = start

    def citizen(self) -> Citizen:
        self.next_id += 1
        return Citizen(self.emulator, self.recorder, self.next_id, self.script)


async def closed_loop(crowd: Crowd, citizens: int, counters: Counters) -> None:
    """``citizens`` at once, each sending its next update as soon as the last was answered."""
    people = [crowd.citizen() for _ in range(citizens)]
    await asyncio.gather(*(person.file(counters) for person in people))


@dataclass
class OpenLoopResult:
    injected: int
    inject_seconds: float
    drain_seconds: float
    backlog_at_end: int
    max_lag: float  # how far the injector fell behind its schedule (generator saturation)


async def open_loop(
    crowd: Crowd, rate: float, seconds: float, counters: Counters, drain: float = 30.0
) -> OpenLoopResult:
    """Updates injected on a schedule (``rate`` per second) whatever the answers: each tick
    the next step of a citizen whose last update was answered, or a new citizen's /new."""
    idle: deque[Citizen] = deque()
    in_flight: set[Citizen] = set()
    drained = asyncio.Event()

    def answered(person: Citizen) -> None:
        in_flight.discard(person)
        if not person.finished:
            idle.append(person)
        if not in_flight:
            drained.set()

    started = time.perf_counter()
    injected, max_lag = 0, 0.0
    total = int(rate * seconds)
    while injected < total:
        due = started + injected / rate
        lag = time.perf_counter() - due
        if lag < 0:
            await asyncio.sleep(-lag)
        else:
            max_lag = max(max_lag, lag)
            if injected % 20 == 0:
                await asyncio.sleep(0)  # let the emulator's server run when behind
        person = idle.popleft() if idle else crowd.citizen()
        if person.advance(counters, answered):
            in_flight.add(person)
        injected += 1
    ended = time.perf_counter()
    backlog = len(in_flight)
    if in_flight:
        drained.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained.wait(), drain)
    for person in in_flight:
        crowd.recorder.waiters.pop(person.id, None)
    counters.stalls += len(in_flight)
    return OpenLoopResult(injected, ended - started, time.perf_counter() - ended, backlog, max_lag)
