"""The bots under load as processes of their own: start, CPU and peak memory, stop.

CPU is utime+stime of the process and its descendants (plus their reaped children) from
/proc/<pid>/stat; peak RSS is VmHWM from /proc/<pid>/status (summed over the tree: one process
unless WORKERS > 1). Under ``--profile`` py-spy attaches to the running bot (ptrace) and writes
its samples when it gets SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

from tests.support.bot_process import clean_environment as test_environment

ROOT = Path(__file__).resolve().parents[2]
# The source tree the bot process runs from: this checkout, or another one given in
# ADUAN_BENCH_CODE (e.g. `git worktree add /tmp/before <commit>`), to measure a change before
# and after in the same run against the same baseline.
BOT_CODE = Path(os.environ.get("ADUAN_BENCH_CODE") or ROOT).resolve()
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(*, code: Path = BOT_CODE, **settings: str) -> dict[str, str]:
    """This environment without any Aduan setting (none of the developer's), plus ``settings``;
    Python code comes from ``code`` (the bot's: ``BOT_CODE``; the echo bot's: ``ROOT``)."""
    env = test_environment(**settings)
    env["PYTHONPATH"] = str(code)
    return env


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid``, its descendants and their reaped children."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / TICK


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the tree, in MiB."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


class BotProcess:
    """One bot process with its output in ``log``."""

    def __init__(self, argv: list[str], env: dict[str, str], folder: Path, name: str) -> None:
        self.argv, self.env, self.folder = argv, env, folder
        self.log = folder / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.profiler: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss(self) -> float:
        return peak_rss_mb(self.pid)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def profile(self, output: Path, fmt: str, rate: int, gil: bool = False) -> None:
        """Start ``py-spy record`` on the running bot (stopped, and written, by ``stop``)."""
        spy = Path(sys.executable).with_name("py-spy")
        self.profiler = await asyncio.create_subprocess_exec(
            str(spy) if spy.exists() else "py-spy",
            "record",
            "--pid",
            str(self.pid),
            "--format",
            fmt,
            "--rate",
            str(rate),
            "--output",
            str(output),
            "--nonblocking",
            *(["--gil"] if gil else []),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.folder / "py-spy.log").open("ab"),
        )

    async def stop_profiler(self) -> int | None:
        if self.profiler is None or self.profiler.returncode is not None:
            return None if self.profiler is None else self.profiler.returncode
        self.profiler.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.profiler.wait(), 60)
        except TimeoutError:
            self.profiler.kill()
            return await self.profiler.wait()

    async def stop(self) -> None:
        await self.stop_profiler()
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
