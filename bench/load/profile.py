"""A py-spy ``--format raw`` profile (collapsed stacks) summarised: top functions by own and
cumulative samples, and the samples per area (our code, framework, SQL, JSON, logging …).

Run on its own: python -m bench.load.profile load-profile.txt [top]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]+?)(?::(?P<line>\d+))?\)$")

# The first matching part of the file path names the area of a leaf frame.
AREAS = (
    ("json", "JSON"),
    ("/logging/", "logging"),
    ("bot/logs.py", "logging"),
    ("/aiosqlite/", "SQLite driver"),
    ("sqlite3", "SQLite driver"),
    ("/asyncpg/", "PostgreSQL driver"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/sqlmodel/", "SQLAlchemy"),
    ("/pydantic", "pydantic"),
    ("/aiogram/", "aiogram"),
    ("/telegram/", "python-telegram-bot"),
    ("/aiohttp/", "aiohttp"),
    ("/yarl/", "aiohttp"),
    ("/multidict/", "aiohttp"),
    ("/apscheduler/", "scheduler"),
    ("/prometheus_client/", "metrics"),
    ("/asyncio/", "asyncio"),
    ("/handlers/", "Aduan handlers"),
    ("/storage/", "Aduan storage"),
    ("/bot/", "Aduan bot"),
)


# Leaf frames of a thread that waits (py-spy --nonblocking counts them as samples too).
IDLE = (
    "select (selectors.py",
    "_connection_worker_thread (aiosqlite/core.py:59)",  # aiosqlite's thread: tx.get()
    "Condition.wait (threading.py",
    "Event.wait (threading.py",
    "_wait_for_tstate_lock (threading.py",
)


def _frames(stack: str) -> list[tuple[str, str]]:
    found = []
    for part in stack.split(";"):
        match = FRAME.match(part.strip())
        if match:
            found.append((match["func"], _short(match["file"])))
    return found


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" else tail
    return path


def area(file: str) -> str:
    probe = "/" + file
    return next((name for needle, name in AREAS if needle in probe), "other")


def summarise(path: Path, top: int = 25) -> str:
    own: Counter[tuple[str, str]] = Counter()
    cumulative: Counter[tuple[str, str]] = Counter()
    areas: Counter[str] = Counter()
    total = idle_samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        if not frames:
            continue
        leaf = stack.rsplit(";", 1)[-1].strip()
        if any(idle in leaf for idle in IDLE):
            idle_samples += n
            continue
        total += n
        own[frames[-1]] += n
        areas[area(frames[-1][1])] += n
        for frame in set(frames):
            cumulative[frame] += n
    if not total:
        return f"{path}: no samples"

    def rows(counter: Counter[tuple[str, str]]) -> str:
        return "\n".join(
            f"  {100 * n / total:5.1f}%  {func}  ({file})"
            for (func, file), n in counter.most_common(top)
        )

    by_area = "\n".join(f"  {100 * n / total:5.1f}%  {name}" for name, n in areas.most_common())
    return (
        f"profile {path}: {total} active samples ({idle_samples} idle ones left out: the event"
        " loop's select, aiosqlite's thread waiting for work)\n"
        f"by own time (leaf frame):\n{rows(own)}\n"
        f"by cumulative time (on the stack):\n{rows(cumulative)}\n"
        f"own time by area (leaf frame's package):\n{by_area}"
    )


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
