"""Load benchmark: the real bot process under many concurrent citizens, against the emulator.

For each configuration (mode × database × runtime) it starts the emulator (in this process,
with the load generator), the bot as a separate process (``python -m bot run``), files a few
warm-up reports, then measures two loads:

- closed loop: ``--citizens`` citizens at once, each sending its next update as soon as the
  last was answered (the maximum throughput), while a city admin forwards new reports from
  /inbox and an agency officer acknowledges them;
- open loop: updates injected at ``--rate`` per second for ``--seconds`` whatever the answers
  (the next step of an idle citizen, or a new citizen), and whether the bot kept up.

Latency: from the emulator's delivery of an update (getUpdates answer or webhook POST) to the
first sendMessage / editMessageText / answerCallbackQuery of the bot in that chat (citizens'
updates). CPU: utime+stime of the bot's process tree over the window, per answered update. RSS:
VmHWM. The same run measures a bare aiogram echo bot (bench/load/echo_bot.py) per mode, and
Aduan's figures are also printed as ratios of it. "gen CPU" is this process (emulator + load
generator) as a share of one core: near 100 % means the emulator, not the bot, is the limit.

Run: make load ARGS="--citizens 50 --mode polling --db sqlite --runtime aiogram"
     .venv/bin/python -m bench.load --profile   (py-spy on the first configuration)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.load.actors import (
    ADMIN,
    FIRST_CITIZEN,
    Counters,
    Crowd,
    OpenLoopResult,
    Recorder,
    Sample,
    Staff,
    aduan_script,
    closed_loop,
    echo_script,
    open_loop,
)
from bench.load.emulator import LoadEmulator
from bench.load.processes import (
    ROOT,
    BotProcess,
    clean_environment,
    free_port,
)
from tests.support.databases import postgres_database

TOKEN = "123456:LOAD-TEST-TOKEN"
SECRET = "load-secret-0123456789"
GOALS = (
    "goals: ≥50% of the echo bot's updates/s · ≤2.5 ms CPU/update · p99 ≤50 ms at 150 updates/s"
    " offered · RSS ≤ echo + 60 MB · PostgreSQL ≥ SQLite updates/s"
)


@dataclass(frozen=True)
class Config:
    bot: str  # "aduan" | "echo"
    mode: str
    db: str = "-"
    runtime: str = "aiogram"

    @property
    def label(self) -> str:
        if self.bot == "echo":
            return f"echo    {self.mode:<8}"
        return f"{self.runtime:<8}{self.mode:<8}{self.db}"


@dataclass
class Window:
    load: str
    seconds: float
    updates: int
    cpu: float
    gen_cpu: float
    latencies: list[float]  # delivered -> first answer, citizens, seconds
    queued_latencies: list[float]  # queued -> first answer (includes waiting to be fetched)
    staff_updates: int
    counters: Counters
    open: OpenLoopResult | None = None
    calls: Counter[str] = field(default_factory=Counter)  # Bot API calls in the window

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.updates if self.updates else math.nan

    def kept_up(self, rate: float) -> bool:
        assert self.open is not None
        return self.open.backlog_at_end <= max(5, rate * 0.25) and self.open.drain_seconds < 2


@dataclass
class Result:
    config: Config
    windows: list[Window] = field(default_factory=list)
    rss: float = math.nan
    error: str | None = None
    emulator_errors: str = ""


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@asynccontextmanager
async def database(config: Config, folder: Path) -> AsyncIterator[str]:
    if config.db == "postgresql":
        async with postgres_database("aduan_load") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{folder / 'aduan.db'}"


def bot_process(config: Config, emulator: LoadEmulator, url: str, folder: Path) -> BotProcess:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    if config.bot == "echo":
        argv = [sys.executable, "-m", "bench.load.echo_bot", "--api", emulator.base_url]
        argv += ["--token", TOKEN]
        if config.mode == "webhook":
            argv += ["--webhook", hook, "--listen", f"127.0.0.1:{port}", "--secret", SECRET]
        return BotProcess(argv, clean_environment(code=ROOT), folder, "echo")
    settings = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": url,
        "BOT_MODE": config.mode,
        "RUNTIME": config.runtime,
        "ADMIN_IDS": str(ADMIN),
        "QUIET_HOURS": "",
        "REPORTS_PER_DAY": "100000",
        "HTTP_LISTEN": f"127.0.0.1:{port}",
    }
    if config.mode == "webhook":
        settings |= {"WEBHOOK_URL": hook, "WEBHOOK_SECRET": SECRET}
    argv = [sys.executable, "-m", "bot", "run"]
    return BotProcess(argv, clean_environment(**settings), folder, "bot")


async def wait_ready(emulator: LoadEmulator, bot: BotProcess, mode: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not bot.alive():
            raise RuntimeError(f"the bot exited during start-up:\n{bot.tail()}")
        if mode == "polling" and emulator.world.waiting_polls > 0:
            return
        if mode == "webhook" and emulator.world.webhook is not None:
            await asyncio.sleep(0.2)  # the webhook route is served before setWebhook
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the bot did not become ready:\n{bot.tail()}")


async def measure(
    load: str,
    emulator: LoadEmulator,
    bot: BotProcess,
    recorder: Recorder,
    staff: Staff | None,
    work: Callable[[Counters], Awaitable[OpenLoopResult | None]],
) -> Window:
    counters = Counters()
    first = len(recorder.samples)
    staff_task = asyncio.create_task(staff.run(counters)) if staff else None
    calls0 = Counter(emulator.stats.calls)
    cpu0, own0, started = bot.cpu(), time.process_time(), time.perf_counter()
    outcome = await work(counters)
    ended = time.perf_counter()
    cpu1, own1 = bot.cpu(), time.process_time()
    calls = Counter(emulator.stats.calls)
    calls.subtract(calls0)
    if staff is not None and staff_task is not None:
        staff.running = False
        staff_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await staff_task
        recorder.waiters.clear()
    samples: list[Sample] = [
        s for s in recorder.samples[first:] if s.answered is not None and s.answered <= ended
    ]
    citizens = [s for s in samples if s.role == "citizen" and s.delivered is not None]
    seconds = ended - started
    if outcome is not None:  # open loop: the rate while injecting, the tail in the latencies
        seconds = outcome.inject_seconds + outcome.drain_seconds
    return Window(
        load=load,
        seconds=seconds,
        updates=len(samples),
        cpu=cpu1 - cpu0,
        gen_cpu=(own1 - own0) / (ended - started),
        latencies=[s.answered - s.delivered for s in citizens],  # type: ignore[operator]
        queued_latencies=[s.answered - s.queued for s in citizens],  # type: ignore[operator]
        staff_updates=sum(1 for s in samples if s.role == "staff"),
        counters=counters,
        open=outcome,
        calls=calls,
    )


async def run_config(config: Config, args: argparse.Namespace, profile: Path | None) -> Result:
    result = Result(config)
    recorder = Recorder()
    emulator = LoadEmulator(
        recorder, token=TOKEN, webhook_timeout=60, webhook_max_attempts=5, webhook_retry_delay=0.1
    )
    with tempfile.TemporaryDirectory(prefix="aduan-load-") as tmp:
        folder = Path(tmp)
        async with emulator, database(config, folder) as url:
            bot = bot_process(config, emulator, url, folder)
            await bot.start()
            try:
                await wait_ready(emulator, bot, config.mode)
                staff = None
                if config.bot == "aduan":
                    staff = Staff(emulator, recorder, args.staff_pause)
                    await staff.join()
                    script = aduan_script(emulator)
                else:
                    script = echo_script()
                crowd = Crowd(emulator, recorder, script, FIRST_CITIZEN)
                await closed_loop(crowd, args.warmup, Counters())
                if profile is not None:
                    await bot.profile(
                        profile, args.profile_format, args.profile_rate, args.profile_gil
                    )
                    await asyncio.sleep(1)  # py-spy attaches
                n = args.citizens
                result.windows.append(
                    await measure(
                        "closed",
                        emulator,
                        bot,
                        recorder,
                        staff,
                        lambda c: _none(closed_loop(crowd, n, c)),
                    )
                )
                if profile is not None:
                    code = await bot.stop_profiler()
                    print(f"py-spy exited with {code}; profile: {profile}", file=sys.stderr)
                if args.seconds > 0:
                    result.windows.append(
                        await measure(
                            f"open {args.rate:g}/s",
                            emulator,
                            bot,
                            recorder,
                            staff,
                            lambda c: open_loop(crowd, args.rate, args.seconds, c),
                        )
                    )
                result.rss = bot.peak_rss()
            except Exception as error:
                result.error = f"{type(error).__name__}: {error}"
                print(f"{config.label}: FAILED {result.error}\n{bot.tail()}", file=sys.stderr)
            finally:
                emulator.drop_backlog()
                await bot.stop()
                codes = ", ".join(f"{n}× {code}" for code, n in emulator.stats.errors.items())
                if codes or emulator.webhook_failures:
                    result.emulator_errors = (
                        f"Bot API errors: {codes or 'none'}; failed webhook POSTs (retried): "
                        f"{dict(emulator.webhook_failure_reasons) or 0}"
                    )
    return result


async def _none(work: Awaitable[None]) -> None:
    await work


# ------------------------------------------------------------------------------------ table
def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{1000 * value:.1f}"


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    baselines = {
        (r.config.mode, w.load): (w, r.rss)
        for r in results
        if r.config.bot == "echo"
        for w in r.windows
    }
    header = (
        f"{'runtime mode    db':<28}{'load':<13}{'upd/s':>7}{'p50':>7}{'p95':>7}{'p99':>7}"
        f"{'CPU ms/upd':>11}{'RSS MB':>8}{'gen CPU':>8}   vs echo: upd/s  CPU   RSS"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.error:
            print(f"{r.config.label:<28}FAILED: {r.error}")
            continue
        for w in r.windows:
            p50, p95, p99 = (_ms(percentile(w.latencies, p)) for p in (50, 95, 99))
            line = (
                f"{r.config.label:<28}{w.load:<13}{w.rate:>7.0f}{p50:>7}{p95:>7}{p99:>7}"
                f"{w.cpu_ms:>11.2f}{r.rss:>8.0f}{100 * w.gen_cpu:>7.0f}%"
            )
            base = baselines.get((r.config.mode, w.load))
            if base is not None and r.config.bot == "aduan" and base[0].updates:
                echo, echo_rss = base
                share = f"{100 * w.rate / echo.rate:.0f}%" if w.open is None else "(offered)"
                line += f"   {share:>11} {w.cpu_ms / echo.cpu_ms:>4.1f}× {r.rss - echo_rss:>+5.0f}"
            print(line)
    print()
    print("latency = update delivered (getUpdates answer / webhook POST) → first answer in the")
    print("chat (sendMessage/editMessageText/answerCallbackQuery), citizens' updates, ms.")
    print(GOALS)
    for r in results:
        if r.config.bot != "aduan" or r.error or not r.windows:
            continue
        closed = r.windows[0]
        verdicts = []
        base = baselines.get((r.config.mode, "closed"))
        if base is not None and base[0].updates:
            share = closed.rate / base[0].rate
            verdicts.append(_goal(f"{100 * share:.0f}% of echo", share >= 0.5))
            verdicts.append(_goal(f"RSS {r.rss - base[1]:+.0f} MB", r.rss - base[1] <= 60))
        verdicts.append(_goal(f"{closed.cpu_ms:.2f} ms CPU", closed.cpu_ms <= 2.5))
        for w in r.windows[1:]:
            p99 = percentile(w.latencies, 99)
            kept = w.kept_up(args.rate)
            verdicts.append(_goal(f"p99 {_ms(p99)} ms", p99 <= 0.050))
            verdicts.append(_goal("kept up" if kept else "fell behind", kept))
        print(f"  {r.config.label:<24}" + " · ".join(verdicts))
    _compare_databases(results)
    print()
    for r in results:
        for w in r.windows:
            c = w.counters
            notes = [f"{w.updates} updates in {w.seconds:.1f} s"]
            if w.updates:
                polls = w.calls["getUpdates"] / w.updates
                others = (sum(w.calls.values()) - w.calls["getUpdates"]) / w.updates
                notes.append(f"Bot API calls/update {others:.2f} (+ getUpdates {polls:.2f})")
            if r.config.bot == "aduan":
                notes.append(
                    f"filed {c.filed}, staff {w.staff_updates} updates "
                    f"(forwarded {c.forwarded}, acknowledged {c.acknowledged})"
                )
            if w.open is not None:
                o = w.open
                notes.append(
                    f"injected {o.injected} in {o.inject_seconds:.1f} s "
                    f"(schedule lag max {1000 * o.max_lag:.0f} ms), backlog at end "
                    f"{o.backlog_at_end}, drained in {o.drain_seconds:.1f} s, queued→answer p99 "
                    f"{_ms(percentile(w.queued_latencies, 99))} ms"
                )
            if c.stalls or c.failures:
                reasons = Counter(c.failures).most_common(3)
                notes.append(f"STALLS {c.stalls} {reasons if reasons else ''}")
            print(f"  {r.config.label} {w.load}: " + "; ".join(notes))
        if r.emulator_errors:
            print(f"  {r.config.label}: {r.emulator_errors}")


def _goal(text: str, ok: bool) -> str:
    return f"{'✓' if ok else '✗'} {text}"


def _compare_databases(results: list[Result]) -> None:
    rates = {
        (r.config.mode, r.config.runtime, r.config.db): r.windows[0].rate
        for r in results
        if r.config.bot == "aduan" and r.windows
    }
    for (mode, runtime, db), rate in rates.items():
        if db != "postgresql" or (mode, runtime, "sqlite") not in rates:
            continue
        sqlite = rates[(mode, runtime, "sqlite")]
        print(
            f"  {runtime} {mode}: PostgreSQL {rate:.0f} vs SQLite {sqlite:.0f} updates/s "
            + _goal("PostgreSQL ≥ SQLite", rate >= sqlite)
        )


# ---------------------------------------------------------------------------------- command
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--citizens", type=int, default=500, help="closed loop (default 500)")
    parser.add_argument("--rate", type=float, default=150, help="open loop updates/s (150)")
    parser.add_argument("--seconds", type=float, default=20, help="open loop length; 0: none")
    parser.add_argument("--warmup", type=int, default=10, help="citizens before measuring")
    parser.add_argument(
        "--staff-pause", type=float, default=1.0, help="staff think time per action (1 s)"
    )
    parser.add_argument("--mode", choices=["polling", "webhook"], action="append")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--runtime", choices=["aiogram", "ptb"], action="append")
    parser.add_argument("--no-baseline", action="store_true", help="skip the echo bot")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="load-profile",
        help="py-spy the first Aduan configuration's closed loop into this file (no extension)",
    )
    parser.add_argument("--profile-format", choices=["raw", "speedscope", "flamegraph"])
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument(
        "--profile-gil", action="store_true", help="py-spy --gil: only the GIL holder (CPU)"
    )
    args = parser.parse_args(argv)
    args.profile_format = args.profile_format or "raw"
    extension = {"raw": "txt", "speedscope": "json", "flamegraph": "svg"}[args.profile_format]
    args.profile_path = Path(f"{args.profile}.{extension}").resolve() if args.profile else None
    return args


def configurations(args: argparse.Namespace) -> list[Config]:
    modes = args.mode or ["polling", "webhook"]
    dbs = args.db or ["sqlite", "postgresql"]
    runtimes = args.runtime or ["aiogram", "ptb"]
    configs: list[Config] = []
    for mode in modes:
        if not args.no_baseline:
            configs.append(Config("echo", mode))
        configs += [Config("aduan", mode, db, rt) for db in dbs for rt in runtimes]
    return configs


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = []
    profile_pending = args.profile is not None
    print(
        f"load: {args.citizens} citizens closed loop, {args.rate:g} updates/s for "
        f"{args.seconds:g} s open loop; {os.cpu_count()} CPUs (shared with anything else running)"
    )
    for config in configurations(args):
        profile = None
        if profile_pending and config.bot == "aduan":
            profile = args.profile_path
            profile_pending = False
        started = time.perf_counter()
        result = await run_config(config, args, profile)
        results.append(result)
        print(f"  done {config.label} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if profile is not None and args.profile_format == "raw" and profile.exists():
            from bench.load.profile import summarise

            print(summarise(profile), file=sys.stderr)
    print()
    print_table(results, args)


if __name__ == "__main__":
    asyncio.run(main())
