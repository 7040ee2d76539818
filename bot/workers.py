"""Several webhook workers (``aduan run --workers N`` / ``WORKERS=N``, issue 13).

Process model: ``aduan run`` with N > 1 becomes a small supervisor. It applies the migrations
and loads the reference data once (``prepare_database``), then starts N workers, each
``python -m bot run --worker-index I`` (``subprocess``, not ``multiprocessing``: a worker is a
plain ``aduan run`` in a fresh interpreter with its own event loop, its own engine and
connection pool, and nothing to pickle; ``WORKERS=N`` in its environment keeps its settings
equal to the supervisor's). Each worker builds its app with ``connect_app`` and runs the usual
runtime; its aiohttp site binds ``HTTP_LISTEN`` with ``SO_REUSEPORT`` (bot/runtime.py), so the
kernel spreads Telegram's connections over the workers. A worker's own start-up migrates
nothing new (the supervisor did it) and reloads the same reference data.

- Only worker 0 calls setMyCommands and setWebhook (``connect_app(registers=...)``); the others
  only serve. Worker 0 is bound before it sets the webhook, so the first delivery finds a
  listener; a restarted worker 0 sets the same webhook again, which is harmless.
- Every worker runs the scheduler: outbox rows are claimed with ``FOR UPDATE SKIP LOCKED`` and
  each duty takes its advisory lock (``storage.locks.try_singleton``), so N dispatchers send each
  notification once (tests/e2e/test_workers.py checks it).
- SIGTERM / SIGINT to the supervisor are forwarded to every worker, which stops gracefully
  (drains its pipeline, lets the outbox finish its batch); the supervisor waits for them
  (``STOP_SECONDS``, then SIGKILL) and exits 0. A worker that exits while no stop was asked is
  restarted after 1 s, 2 s, 4 s … up to 30 s; one that ran ``HEALTHY_SECONDS`` before dying
  starts again from the shortest wait. ``MAX_QUICK_DEATHS`` deaths in a row, each sooner than
  ``HEALTHY_SECONDS`` after its start, stop everything: the supervisor exits 1 (systemd or
  Docker then restart the whole service, with their own backoff).
- N > 1 is refused in polling mode (Telegram gives updates to one getUpdates caller) and on
  SQLite (one writer): ``bot.settings.workers_problem`` says why and what to do.

Order within a chat, across workers. Telegram's Bot API server (tdlib/telegram-bot-api,
WebhookActor) queues updates per chat and sends a chat's next update only once the previous
one was answered 2xx, with up to ``max_connections`` (40) chats in flight; Aduan answers only
after processing (ARCHITECTURE rule 9), so in the normal case one chat is never processed by
two workers at once. It still happens when a delivery is answered late or lost (Telegram sends
the update again, possibly to another worker, while the first is still being processed) and
whenever something else delivers concurrently. The emulator (bot/sandbox) delivers one update
at a time over all chats; tests/e2e/test_workers.py delivers as Telegram does (per chat in
order, 40 in flight) and adds a burst mode (three updates of a chat delivered at once) to
measure the two guards (2 workers, PostgreSQL, 2 cores; burst: 60 new chats each sending
/new, /mine and /help at once, 180 updates; Telegram-like: 200 citizens filing a whole report
at once, 1,600 updates, 30 of the reports forwarded):

  guard                               burst: version    burst: generic   Telegram-like:
                                      retries /         error answers    retries, filing time
                                      integrity errors
  conversation version + retry only   2 / 21; 0 / 26    21; 26           0; 18.0 s (1 run)
  + per-chat advisory lock (kept)     0 / 0 (3 runs)    0                0; 21.0 s, 21.9 s

With the version check alone, two workers ran a chat's updates side by side: a new chat's first
updates both inserted its citizen / conversation row (an integrity error, answered with the
generic error: "something went wrong, try again"), and a loser of the version check was rolled
back and run again. The transaction-scoped advisory lock (``storage.locks.lock_chat``, taken
first in ``UpdateProcessor._process_once``) makes the second update wait instead, for one extra
round trip per update (in the Telegram-like run, where Telegram's own per-chat order leaves
nothing to guard, filing took up to ~15% longer; too few runs to tell that from noise). The
version check stays as the backstop. Neither can restore an order lost before the updates
reach the workers: updates of one chat delivered at once are processed in the order they take
the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.app import prepare_database
from bot.settings import Settings
from storage.database import create_engine

log = logging.getLogger("aduan.workers")

# Set in a worker's environment: its index (0 … N-1); worker 0 registers with Telegram.
WORKER_INDEX_ENV = "ADUAN_WORKER_INDEX"
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
HEALTHY_SECONDS = 30.0
MAX_QUICK_DEATHS = 5
# A stop waits this long for the workers (a webhook request waits up to 50 s for its update).
STOP_SECONDS = 70.0


@dataclass
class Worker:
    """One worker process and its restart bookkeeping."""

    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restarts: int = 0
    waiting: asyncio.Task[None] | None = field(default=None, repr=False)


def worker_command(index: int) -> list[str]:
    """The command line of worker ``index``: ``aduan run`` in this interpreter."""
    return [sys.executable, "-m", "bot", "run", "--worker-index", str(index)]


class Supervisor:
    """Starts N workers, restarts the ones that die, stops them all on a signal."""

    def __init__(
        self,
        settings: Settings,
        *,
        command: Sequence[str] | None = None,
        restart_first: float = RESTART_FIRST_SECONDS,
        restart_max: float = RESTART_MAX_SECONDS,
        healthy_seconds: float = HEALTHY_SECONDS,
        max_quick_deaths: int = MAX_QUICK_DEATHS,
        stop_seconds: float = STOP_SECONDS,
    ) -> None:
        self.settings = settings
        self._command = list(command) if command is not None else None
        self.restart_first = restart_first
        self.restart_max = restart_max
        self.healthy_seconds = healthy_seconds
        self.max_quick_deaths = max_quick_deaths
        self.stop_seconds = stop_seconds
        self.workers = [Worker(index) for index in range(settings.workers)]
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self.failed = False
        self._watchers: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """Stop every worker gracefully (safe from a signal handler)."""
        self._stop.set()
        self._changed.set()

    def _environment(self, index: int) -> dict[str, str]:
        env = dict(os.environ)
        env["WORKERS"] = str(self.settings.workers)
        env[WORKER_INDEX_ENV] = str(index)
        return env

    async def _start(self, worker: Worker) -> None:
        command = (
            [*self._command, "--worker-index", str(worker.index)]
            if self._command is not None
            else worker_command(worker.index)
        )
        worker.process = await asyncio.create_subprocess_exec(
            *command, env=self._environment(worker.index)
        )
        worker.started = time.monotonic()
        log.info(
            "worker %s of %s started (pid %s)",
            worker.index,
            len(self.workers),
            worker.process.pid,
        )
        self._watchers.add(asyncio.create_task(self._watch(worker.process)))

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        try:
            await process.wait()
            self._changed.set()
        finally:
            self._watchers.discard(asyncio.current_task())

    async def run(self) -> int:
        """Until stopped (0) or until workers keep dying (1)."""
        for worker in self.workers:
            await self._start(worker)
        while not self._stop.is_set():
            await self._changed.wait()
            self._changed.clear()
            if self._stop.is_set():
                break
            for worker in self.workers:
                process = worker.process
                if process is None or process.returncode is None or worker.waiting is not None:
                    continue
                self._died(worker, process.returncode)
            if self.failed:
                break
        await self._stop_all()
        return 1 if self.failed else 0

    def _died(self, worker: Worker, returncode: int) -> None:
        """A worker ended on its own: restart it after a wait, or give up."""
        lived = time.monotonic() - worker.started
        worker.quick_deaths = worker.quick_deaths + 1 if lived < self.healthy_seconds else 1
        if worker.quick_deaths >= self.max_quick_deaths:
            log.error(
                "worker %s keeps dying (exit code %s, %s times in a row within %g s of its "
                "start): stopping all workers; see the lines above for its error",
                worker.index,
                returncode,
                worker.quick_deaths,
                self.healthy_seconds,
            )
            self.failed = True
            return
        wait = min(self.restart_first * 2 ** (worker.quick_deaths - 1), self.restart_max)
        log.warning(
            "worker %s ended unexpectedly (exit code %s) after %.0f s; restarting in %g s",
            worker.index,
            returncode,
            lived,
            wait,
        )
        worker.waiting = asyncio.create_task(self._restart_later(worker, wait))

    async def _restart_later(self, worker: Worker, wait: float) -> None:
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({stopped}, timeout=wait)
            if not self._stop.is_set():
                worker.restarts += 1
                await self._start(worker)
        finally:
            stopped.cancel()
            worker.waiting = None

    async def _stop_all(self) -> None:
        """SIGTERM to every running worker; SIGKILL to those still running after the wait."""
        running = [
            process
            for process in (w.process for w in self.workers)
            if process is not None and process.returncode is None
        ]
        for worker in self.workers:
            if worker.waiting is not None:
                worker.waiting.cancel()
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if not running:
            return
        _, pending = await asyncio.wait(
            [asyncio.create_task(p.wait()) for p in running], timeout=self.stop_seconds
        )
        if pending:
            log.error(
                "%s worker(s) did not stop within %g s: killed", len(pending), self.stop_seconds
            )
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.wait(pending)
        log.info("all workers stopped")


async def supervise(settings: Settings, *, command: Sequence[str] | None = None) -> int:
    """Migrate once, then run ``settings.workers`` workers until SIGTERM / SIGINT."""
    engine = create_engine(settings.database_url)
    try:
        counts = await prepare_database(settings, engine)
    finally:
        await engine.dispose()
    supervisor = Supervisor(settings, command=command)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stop)
    log.info(
        "Aduan supervisor: %s webhook workers on %s (%s agencies, %s categories)",
        settings.workers,
        ":".join(map(str, settings.http_address or ())),
        counts.agencies,
        counts.categories,
    )
    return await supervisor.run()
