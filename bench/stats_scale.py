"""Benchmark: /stats for a month and for a year, and a year's export, on N synthetic reports.

A generator fills a fresh database (SQLite file, or a throw-away PostgreSQL schema filled with
COPY) with ``--reports`` reports spread over 2026 with realistic shapes: more on weekdays and
office hours, a few categories taking most reports, 85 % through Telegram, 8 % rejected,
verification / first follow-up / resolution lags drawn from log-normal distributions (some
past their deadlines), 10 % reopened, verdicts and ratings for most closed reports. Each
measurement then runs in a fresh child process (so its peak RSS is its own): the runner's
``stats`` job for June 2026 and for 2026 (figures, overdue list and chart, through a sender
that discards), and the export of June 2026 and of 2026 as XLSX and as CSV (``build_export``
streaming the rows into parts under ``MAX_PART_BYTES``, then every part read and "uploaded"
to a sender that only measures it, as the runner does). Prints wall-clock seconds, CPU
seconds of the process (less sensitive to a busy machine), peak memory (MB), and what was
uploaded: total size, number of files, the largest file against the part limit and
Telegram's 50 MB (a line with ``!!`` if one was over). Goals: a month's stats under 2 s, a
year's export under 60 s, every uploaded file under 50 MB, and an export's memory not growing
with the rows it streams (at most one part is held, to upload it).

Run: .venv/bin/python bench/stats_scale.py --reports 1000000 [--postgres]
     (make bench runs it with the default 100,000 reports on SQLite).
     ``--keep /tmp/1m.db`` (or, with --postgres, ``--keep SCHEMA``) generates the database once
     and keeps it, later runs reuse it; ``--only stats-month export-xlsx export-csv-month``
     and ``--repeat 3`` pick measurements and repeat them (on a shared machine, take the best).

Measured (issue 12, 1,000,000 reports, SQLite, a 2-core machine shared with other jobs, load
average 5 to 9, so wall seconds are inflated; CPU seconds compare better):
  before  export-xlsx (year)  160.8 s (CPU 71.1 s)  peak 393 MB  one 233.4 MB file (undeliverable)
  before  export-csv  (year)  108.1 s (CPU 59.6 s)  peak 352 MB  one 464.5 MB file (undeliverable)
  after   export-xlsx (year)  106.0 s (CPU 57.3 s)  peak 432 MB  4 files, 162.4 MB, largest 49.0 MB
  after   export-csv  (year)  212.4 s (CPU 64.4 s)  peak 400 MB  3 zips, 125.5 MB, largest 49.0 MB
  after   export-xlsx-month     8.6 s (CPU  4.3 s)  peak 226 MB  1 file, 13.7 MB
  after   export-csv-month      6.9 s (CPU  4.4 s)  peak 205 MB  1 zip, 10.6 MB
The CSV's extra CPU is its compression (a helper thread): 464 MB of text that could not be sent
before. The peak grows with the period because the figures keep every duration (medians);
an export holds at most one part (< 49 MB) in memory, to upload it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import prepare_database
from bot.core.calendar import WorkingCalendar, load_holidays
from bot.core.i18n import Translator
from bot.core.periods import parse_period
from bot.reports.files import MAX_PART_BYTES, TELEGRAM_UPLOAD_LIMIT
from bot.reports.runner import ReportRunner
from bot.settings import Settings
from storage.database import create_engine, session_factory
from storage.models import Category, ReportJob, Staff
from storage.unit_of_work import UnitOfWork
from tests.support.databases import POSTGRES_URL, postgres_schema

ADMIN = 9001
MB = 1000 * 1000  # as Telegram counts its 50 MB
NOW = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)  # the first working Monday after the year
WORDS = (  # noqa: SIM905
    "jalan rusak berlubang lampu mati sampah menumpuk banjir saluran tersumbat pelayanan "
    "lambat puskesmas sekolah izin antrean pungutan parkir liar pohon tumbang air bersih "
    "macet trotoar jembatan retak dekat pasar kantor kelurahan warga mohon segera ditindak"
).split()


@asynccontextmanager
async def database(
    postgres: bool, keep: str | None = None
) -> AsyncIterator[tuple[str, str | None, str | None]]:
    """A fresh database: (url, PostgreSQL schema, SQLite path); ``keep`` names one to reuse."""
    if keep is not None:
        if postgres:
            yield POSTGRES_URL, keep, None
        else:
            yield f"sqlite+aiosqlite:///{keep}", None, keep
        return
    if postgres:
        async with postgres_schema() as schema:
            yield POSTGRES_URL, schema, None
        return
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/bench.db"
        yield f"sqlite+aiosqlite:///{path}", None, path


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, admin_ids=str(ADMIN))  # type: ignore[call-arg]


def lognormal_days(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def reports(
    count: int, categories: list[tuple[int, int | None]], citizens: int, calendar: WorkingCalendar
) -> Iterator[dict[str, Any]]:
    """Synthetic reports of 2026, one dict per row (deadlines from the real calendar)."""
    rng = random.Random(2026)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    weights = [1 / (rank + 1) for rank in range(len(categories))]
    agencies = sorted({a for _, a in categories if a is not None})
    for n in range(1, count + 1):
        # Office-hour, weekday-heavy arrivals: rejection-sample a moment of the year.
        while True:
            moment = start + timedelta(seconds=rng.randrange(365 * 86400))
            local = calendar.local(moment)
            weight = (1.0 if local.weekday() < 5 else 0.4) * (1.0 if 7 <= local.hour < 18 else 0.25)
            if rng.random() < weight:
                break
        category, default_agency = rng.choices(categories, weights)[0]
        agency = default_agency if rng.random() < 0.9 else rng.choice(agencies)
        row: dict[str, Any] = {
            "tracking_code": f"TPI-2026-{n:07d}",
            "year": 2026,
            "sequence": n,
            "kind": rng.choices(["complaint", "aspiration", "information"], [70, 20, 10])[0],
            "category_id": category,
            "description": " ".join(rng.choices(WORDS, k=rng.randint(12, 50))),
            "privacy": rng.choices(["public", "anonymous", "confidential"], [80, 15, 5])[0],
            "channel": rng.choices(
                ["telegram", "walk_in", "phone", "letter", "complaint_box"], [85, 6, 5, 2, 2]
            )[0],
            "citizen_id": rng.randint(1, citizens),
            "agency_id": None,
            "status": "submitted",
            "submitted_at": moment,
            "verify_due_at": calendar.add_working_days(moment, 3),
            "updated_at": moment,
            "version": 1,
            "reopen_count": 0,
            "assigned_at": None,
            "first_response_due_at": None,
            "acknowledged_at": None,
            "completion_due_at": None,
            "resolved_at": None,
            "closed_at": None,
            "verdict": None,
            "rating": None,
            "field_inspection": None,
        }
        verified = moment + timedelta(days=lognormal_days(rng, 1.5, 0.8))
        fate = rng.random()
        if verified > NOW or fate < 0.02:
            yield row
            continue
        if fate < 0.10:
            row.update(status="rejected", closed_at=verified)
            yield row
            continue
        row.update(
            status="assigned",
            agency_id=agency,
            assigned_at=verified,
            first_response_due_at=calendar.add_working_days(verified, 5),
        )
        acknowledged = verified + timedelta(days=lognormal_days(rng, 2.5, 0.9))
        if acknowledged > NOW:
            yield row
            continue
        inspection = rng.random() < 0.2
        row.update(
            status="in_progress",
            acknowledged_at=acknowledged,
            field_inspection=inspection,
            completion_due_at=calendar.add_calendar_days(acknowledged, 60 if inspection else 14),
        )
        resolved = acknowledged + timedelta(days=lognormal_days(rng, 8 if inspection else 5, 0.9))
        if resolved > NOW:
            yield row
            continue
        row.update(status="resolved", resolved_at=resolved)
        if rng.random() < 0.10:
            row["reopen_count"] = 1
        verdict = rng.choices(["fixed", "partly", "not_fixed", None], [60, 15, 5, 20])[0]
        if verdict is not None and resolved + timedelta(days=3) < NOW:
            row.update(
                status="closed",
                verdict=verdict,
                closed_at=resolved + timedelta(days=2),
                rating=rng.choices([1, 2, 3, 4, 5], [5, 7, 15, 35, 38])[0],
            )
        yield row


COLUMNS = [
    "tracking_code", "year", "sequence", "kind", "category_id", "description", "privacy",
    "channel", "citizen_id", "agency_id", "status", "submitted_at", "verify_due_at",
    "updated_at", "version", "reopen_count", "assigned_at", "first_response_due_at",
    "acknowledged_at", "completion_due_at", "resolved_at", "closed_at", "verdict", "rating",
    "field_inspection",
]  # fmt: skip


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


async def generate(url: str, schema: str | None, path: str | None, count: int) -> float:
    """Fill the database; returns seconds taken."""
    started = time.perf_counter()
    settings = settings_for(url)
    engine = create_engine(url, schema=schema)
    await prepare_database(settings, engine)
    calendar = WorkingCalendar(
        timezone=settings.timezone, holidays=load_holidays(settings.holidays_file)
    )
    citizens = max(1, count // 5)
    async with UnitOfWork(session_factory(engine)) as uow:
        from sqlmodel import select

        found = (await uow.session.exec(select(Category))).all()
        categories = [(c.id, c.agency_id) for c in found if c.id is not None]
        uow.session.add(Staff(telegram_id=ADMIN + 1, name="Viewer", role="viewer"))
        await uow.commit()
    citizen_rows = [(n, f"Warga {n}", f"warga{n}") for n in range(1, citizens + 1)]
    rows = reports(count, categories, citizens, calendar)
    if path is not None:
        await engine.dispose()
        connection = sqlite3.connect(path)
        connection.executemany(
            "INSERT INTO citizen (telegram_id, first_name, username, reachable, created_at) "
            "VALUES (?, ?, ?, 1, '2026-01-01 00:00:00.000000')",
            [(10_000_000 + n, name, user) for n, name, user in citizen_rows],
        )
        marks = ", ".join("?" * len(COLUMNS))
        sql = f"INSERT INTO complaint ({', '.join(COLUMNS)}) VALUES ({marks})"
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(sqlite_value(row[c]) for c in COLUMNS))
            if len(batch) == 20_000:
                connection.executemany(sql, batch)
                batch = []
        connection.executemany(sql, batch)
        connection.commit()
        connection.execute("ANALYZE")
        connection.close()
    else:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.copy_records_to_table(
                "citizen",
                records=[
                    (10_000_000 + n, name, user, True, datetime(2026, 1, 1, tzinfo=UTC))
                    for n, name, user in citizen_rows
                ],
                columns=["telegram_id", "first_name", "username", "reachable", "created_at"],
                schema_name=schema,
            )
            batch_pg: list[tuple[Any, ...]] = []
            for row in rows:
                batch_pg.append(tuple(row[c] for c in COLUMNS))
                if len(batch_pg) == 50_000:
                    await driver.copy_records_to_table(
                        "complaint", records=batch_pg, columns=COLUMNS, schema_name=schema
                    )
                    batch_pg = []
            await driver.copy_records_to_table(
                "complaint", records=batch_pg, columns=COLUMNS, schema_name=schema
            )
            await driver.execute(f'ANALYZE "{schema}".complaint')
            await connection.commit()
        await engine.dispose()
    return time.perf_counter() - started


class DiscardingSender:
    """Counts what would be sent, and the size of each uploaded file."""

    def __init__(self) -> None:
        self.bytes = 0
        self.messages = 0
        self.uploads: list[int] = []

    async def send(self, chat_id: int, reply: Any) -> int | None:
        self.messages += 1
        data = getattr(reply, "data", None)
        if data is not None:
            self.bytes += len(data)
            self.uploads.append(len(data))
        return self.messages


async def measure(url: str, schema: str | None, what: str) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    settings = settings_for(url)
    engine = create_engine(url, schema=schema)
    sessions = session_factory(engine)
    sender = DiscardingSender()
    runner = ReportRunner(
        sessions=sessions,
        sender=sender,
        translator=Translator.load(),
        calendar=WorkingCalendar(
            timezone=settings.timezone, holidays=load_holidays(settings.holidays_file)
        ),
        settings=settings,
        clock=lambda: NOW,
        worker_id="bench",
    )
    async with UnitOfWork(sessions) as uow:
        from sqlmodel import select

        staff = (await uow.session.exec(select(Staff).where(Staff.telegram_id == ADMIN))).one()
    label = "2026-06" if what.endswith("-month") else "2026"
    period = parse_period(label, now=NOW, timezone=runner.calendar.timezone)
    kind = what.split("-")[1] if what.startswith("export") else "stats"
    job = ReportJob(
        kind=kind, chat_id=ADMIN, staff_id=staff.id or 0, locale="id",
        first_day=period.first_day, last_day=period.last_day, label=label,
    )  # fmt: skip
    started = time.perf_counter()
    cpu = time.process_time()
    rows = 0
    if what.startswith("stats"):
        await runner._stats(job, staff, period)
    else:
        # As in production: streamed into parts under the upload limit, then each part read
        # into memory (one at a time) and "uploaded" to a sender that only measures it.
        export = await runner.build_export(job=job, staff=staff, period=period, kind=kind)
        with export:
            rows = export.rows
            await runner._send_parts(job, export, period)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    await engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "what": what,
        "seconds": seconds,
        "cpu": cpu_seconds,
        "peak_mb": peak_mb,
        "bytes": sender.bytes,
        "rows": rows,
        "parts": sender.uploads,
    }


async def _exists(url: str, schema: str | None, path: str | None, filled: bool) -> bool:
    """Whether a kept database is already filled (then it is measured, not generated)."""
    if path is not None:
        return filled
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = $1 AND table_name = 'complaint'",
            schema,
        )
        if not found:
            await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return bool(found)
    finally:
        await connection.close()


async def run(
    count: int,
    postgres: bool,
    skip_csv: bool,
    keep: str | None = None,
    only: list[str] | None = None,
    repeat: int = 1,
    filled: bool = False,
) -> None:
    async with database(postgres, keep) as (url, schema, path):
        if keep is not None and await _exists(url, schema, path, filled):
            print(f"database: {'PostgreSQL' if postgres else 'SQLite'}, reused {keep}")
        else:
            seconds = await generate(url, schema, path, count)
            print(f"database: {'PostgreSQL' if postgres else 'SQLite'}, {count:,} reports")
            print(f"generated and inserted in {seconds:.1f} s")
        measurements = ["stats-month", "stats-year", "export-xlsx-month", "export-xlsx"]
        if not skip_csv:
            measurements += ["export-csv-month", "export-csv"]
        if only:
            measurements = [m for m in measurements if m in only]
        for what in [m for m in measurements for _ in range(repeat)]:
            command = [sys.executable, __file__, "--measure", what, "--url", url]
            if schema:
                command += ["--schema", schema]
            result = await asyncio.to_thread(
                subprocess.run, command, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                print(result.stderr[-3000:])
                raise SystemExit(f"{what} failed")
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            parts = figures["parts"]
            largest = max(parts, default=0)
            line = (
                f"{what:17} {figures['seconds']:7.2f} s (CPU {figures['cpu']:6.2f} s)  "
                f"peak {figures['peak_mb']:5.0f} MB  sent {figures['bytes'] / MB:7.1f} MB"
            )
            if what.startswith("export"):
                line += (
                    f" in {len(parts)} file(s), largest {largest / MB:5.1f} MB (limit "
                    f"{MAX_PART_BYTES / MB:.0f}, Telegram {TELEGRAM_UPLOAD_LIMIT / MB:.0f})"
                    f"  rows {figures['rows']:,}"
                )
            print(line)
            if what.startswith("export") and largest > MAX_PART_BYTES:
                print(f"  !! a file over the part limit: {parts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="reuse (or generate once and keep) a database: a SQLite file path, "
        "or a PostgreSQL schema name with --postgres",
    )
    parser.add_argument("--only", nargs="+", metavar="WHAT", help="e.g. stats-month export-csv")
    parser.add_argument("--repeat", type=int, default=1, help="run each measurement N times")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.url, args.schema, args.measure))))
        return
    keep, filled = args.keep, False
    if keep is not None and not args.postgres:
        keep = str(Path(keep).resolve())
        filled = Path(keep).exists()
    asyncio.run(
        run(args.reports, args.postgres, args.skip_csv, keep, args.only, args.repeat, filled)
    )


if __name__ == "__main__":
    main()
