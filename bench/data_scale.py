"""Benchmark: what the bot reads per update, and what the duties scan, at data scale.

On a database of ``--reports`` reports (100,000 by default, as ``make bench`` runs it; the
figures in docs/PERFORMANCE.md are at ``--reports 1000000``) and a fifth as many citizens,
made by ``bench/stats_scale.py``'s generator and completed here with what the queries need
(one agency admin per agency, a history of two to four events on every fourth report, a photo
on every tenth, addresses and map points on most), each command below is timed ``--calls``
times (1,000 by default) with a random citizen / tracking code / agency per call, through the
real handler code (storage functions and rendering, as the processor runs them), in one
session per call as the processor's transaction:

- ``mine``: ``/mine`` of a random citizen (count + first page);
- ``status``: ``/status CODE`` of a random report by its citizen (report, history, names);
- ``inbox-admin`` / ``inbox-admin-overdue``: the city admin's ``/inbox`` (all / overdue view);
- ``inbox-agency`` / ``inbox-agency-overdue``: an agency admin's, a random agency each call;
- ``case-card``: ``/case CODE`` of a random report (report, reporter, possible duplicates,
  media, history);
- ``scan-deadlines``: the escalation / reminder duty (``Duties.scan_deadlines``) as it runs
  every few minutes, timed per scan (after a first scan that writes the notices, so the runs
  measured find them already written, as in production); also ``citizen-updates``,
  ``auto-close`` and ``expire-drafts``, the other scans of the duty schedule.

Prints p50 / p95 / max in milliseconds against the goal (indexed reads ≤ 5 ms p95 for one
query; a command is a few queries, its goal is shown per row; a scan ≤ 1 s). ``--explain``
prints the plan (EXPLAIN QUERY PLAN / EXPLAIN) of every distinct statement a command runs.

``--drafts N`` instead measures the resident memory of a process driving N citizens into an
open draft (``/new``, kind, category: the draft waits for the description) through the real
processor (``bot.app.build_app``), on a fresh database: RSS before and after, the conversation
rows stored, and how many draft states are still alive in the process (should be none: drafts
live in the database, not in memory).

Run: .venv/bin/python bench/data_scale.py --keep /tmp/aduan-1m.db
     .venv/bin/python bench/data_scale.py --postgres --keep bench_1m
     .venv/bin/python bench/data_scale.py --drafts 10000 [--postgres]
     (``--keep`` generates the database once, as stats_scale does, or reuses it;
     ``--only mine case-card`` picks commands.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, text
from sqlmodel import col, select

from bench.stats_scale import NOW, _exists, database, generate, settings_for
from bot.app import App, build_app
from bot.core.events import Event, Sender
from bot.core.lifecycle import Role
from handlers.case_card import render_card
from handlers.citizen import _mine_page, show_status
from handlers.context import Context
from handlers.staff import inbox_page, load_case
from storage.conversations import FlowState
from storage.models import Agency, Citizen, Complaint, ComplaintEvent, Conversation, Staff
from storage.unit_of_work import UnitOfWork
from tests.support.databases import POSTGRES_URL, postgres_schema

AGENCY_ADMIN_BASE = 9100  # telegram id of agency N's admin: 9100 + N

Call = Callable[[Context, random.Random], Awaitable[object]]


# --- what the generator of stats_scale does not make ---------------------------------------


async def complete(app: App, postgres: bool) -> None:
    """Staff, history, media, addresses and map points (once per kept database)."""
    async with UnitOfWork(app.sessions) as uow:
        session = uow.session
        if (await session.exec(select(Staff).where(Staff.telegram_id > AGENCY_ADMIN_BASE))).first():
            return
        started = time.perf_counter()
        agencies = (await session.exec(select(Agency.id))).all()
        for agency_id in agencies:
            assert agency_id is not None
            session.add(
                Staff(
                    telegram_id=AGENCY_ADMIN_BASE + agency_id,
                    name=f"Admin {agency_id}",
                    role=Role.AGENCY_ADMIN,
                    agency_id=agency_id,
                )
            )
        true = "TRUE"
        steps = [
            # (moment column, actor, action, from, to, visible, text) on every fourth report
            ("submitted_at", "citizen", "submitted", None, "submitted", true, None),
            ("assigned_at", "staff", "forward", "submitted", "assigned", true, None),
            ("acknowledged_at", "staff", "acknowledge", "assigned", "in_progress", true, None),
            ("acknowledged_at", "staff", "note", "in_progress", "in_progress", "FALSE", "'cek'"),
            ("resolved_at", "staff", "resolve", "in_progress", "resolved", true, "'beres'"),
        ]  # fmt: skip
        for moment, actor, action, before, after, visible, words in steps:
            await session.exec(
                text(
                    "INSERT INTO complaintevent (complaint_id, created_at, actor, actor_id, action,"
                    " from_status, to_status, text, citizen_visible) "
                    f"SELECT id, {moment}, '{actor}', NULL, '{action}', "
                    f"{'NULL' if before is None else repr(before)}, '{after}', "
                    f"{words or 'NULL'}, {visible} FROM complaint "
                    f"WHERE id % 4 = 0 AND {moment} IS NOT NULL"
                )
            )
        await session.exec(
            text(
                "INSERT INTO attachment (complaint_id, kind, file_id, file_unique_id, size, "
                "position) SELECT id, 'photo', 'AgAC' || id, 'u' || id, 90000, 0 "
                "FROM complaint WHERE id % 10 = 0"
            )
        )
        # Most reports name a street; half have a map point (a few hundred metres apart).
        await session.exec(
            text(
                "UPDATE complaint SET address = 'Jl. Bench ' || (id % 4000), "
                "latitude = CASE WHEN id % 2 = 0 THEN 0.9 + (id % 997) * 0.0005 END, "
                "longitude = CASE WHEN id % 2 = 0 THEN 104.4 + (id % 991) * 0.0005 END "
                "WHERE id % 10 < 7"
            )
        )
        await uow.commit()
    async with app.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    print(f"completed the dataset (staff, history, media, addresses) in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip


# --- the commands -----------------------------------------------------------------------


class Picker:
    """Random citizens, reports and agencies of the dataset."""

    def __init__(self, reports: int, citizens: int, agencies: list[int]) -> None:
        self.reports = reports
        self.citizens = citizens
        self.agencies = agencies

    def code(self, rng: random.Random) -> str:
        return f"TPI-2026-{rng.randint(1, self.reports):07d}"


async def context(app: App, session: Any, citizen: Citizen, staff: Staff | None) -> Context:
    return Context(
        session=session,
        office=app.processor.office,
        now=NOW,
        citizen=citizen,
        locale="id",
        state=None,
        staff=staff,
    )


def command(name: str, ctx: Context, code: str) -> Awaitable[object]:
    """What the bot runs for one command (not started yet)."""
    if name == "mine":
        return _mine_page(ctx, 0)
    if name == "status":
        return show_status(ctx, code)
    if name.startswith("inbox"):
        return inbox_page(ctx, "overdue" if name.endswith("overdue") else "all", 0)
    if name == "case-card":

        async def card() -> object:
            complaint = await load_case(ctx, code)
            assert complaint is not None
            return await render_card(ctx, complaint)

        return card()
    raise SystemExit(f"unknown command {name}")


async def run_calls(
    app: App, name: str, calls: int, picker: Picker, explain: bool
) -> list[float] | None:
    """Milliseconds of each call of one command (each in its own transaction)."""
    rng = random.Random(name)
    durations: list[float] = []
    statements: dict[str, Any] = {}
    sync_engine = app.engine.sync_engine

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.setdefault(statement, parameters)

    for n in range(calls):
        async with UnitOfWork(app.sessions) as uow:
            session = uow.session
            staff: Staff | None = None
            if name.startswith(("inbox-admin", "case-card")):
                staff = (await session.exec(select(Staff).where(Staff.telegram_id == 9001))).one()
            elif name.startswith("inbox-agency"):
                agency = rng.choice(picker.agencies)
                staff = (
                    await session.exec(
                        select(Staff).where(Staff.telegram_id == AGENCY_ADMIN_BASE + agency)
                    )
                ).one()
            code = picker.code(rng)
            if name == "status":
                citizen_id = (
                    await session.exec(
                        select(Complaint.citizen_id).where(Complaint.tracking_code == code)
                    )
                ).one()
            else:
                citizen_id = rng.randint(1, picker.citizens)
            citizen = await session.get(Citizen, citizen_id)
            assert citizen is not None
            ctx = await context(app, session, citizen, staff)
            call = command(name, ctx, code)
            if explain and n == 0:
                event.listen(sync_engine, "before_cursor_execute", capture)
            started = time.perf_counter()
            await call
            durations.append((time.perf_counter() - started) * 1000)
            if explain and n == 0:
                event.remove(sync_engine, "before_cursor_execute", capture)
                await print_plans(app, name, statements)
    return durations


async def print_plans(app: App, name: str, statements: dict[str, Any]) -> None:
    """The plan of every statement one call ran."""
    postgres = app.engine.dialect.name == "postgresql"
    print(f"\n== plans of {name}")
    async with app.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        for statement, parameters in statements.items():
            if (
                statement.lstrip()
                .upper()
                .startswith(("SAVEPOINT", "RELEASE", "BEGIN", "SELECT pg_"))
            ):
                continue
            print("--", " ".join(statement.split())[:300])
            if postgres:
                rows = await driver.fetch("EXPLAIN " + statement, *(parameters or ()))
                lines = [row[0] for row in rows]
            else:
                cursor = await driver.execute("EXPLAIN QUERY PLAN " + statement, parameters or ())
                lines = [row[3] for row in await cursor.fetchall()]
            for line in lines:
                print("   ", line)


async def time_scans(app: App, runs: int, limit: float) -> dict[str, list[float]]:
    """Milliseconds per run of each scanning duty (a first run writes what it finds), with
    the statements each run spent its time in (so a slow scan shows why)."""
    duties = app.duties
    scans: dict[str, Callable[[datetime], Awaitable[int]]] = {
        "scan-deadlines": duties.scan_deadlines,
        "citizen-updates": duties.send_citizen_updates,
        "auto-close": duties.auto_close,
        "expire-drafts": duties.expire_drafts,
    }
    spent: dict[str, list[float]] = {}
    started_at: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started_at.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        key = " ".join(statement.split())[:110]
        spent.setdefault(key, []).append(time.perf_counter() - started_at.pop())

    sync_engine = app.engine.sync_engine
    figures: dict[str, list[float]] = {}
    for name, scan in scans.items():
        figures[name] = []
        for run in range(runs + 1):
            spent.clear()
            event.listen(sync_engine, "before_cursor_execute", before)
            event.listen(sync_engine, "after_cursor_execute", after)
            started = time.perf_counter()
            try:
                found: int | str = await asyncio.wait_for(scan(NOW), limit)
            except TimeoutError:
                found = f"stopped after {limit:.0f} s"
            elapsed = (time.perf_counter() - started) * 1000
            event.remove(sync_engine, "before_cursor_execute", before)
            event.remove(sync_engine, "after_cursor_execute", after)
            if run == 0:
                print(f"{name}: first run {elapsed:.0f} ms ({found}); time in SQL by statement:")
            else:
                figures[name].append(elapsed)
            if run in (0, runs):
                top = sorted(spent.items(), key=lambda item: -sum(item[1]))[:4]
                for statement, times in top:
                    print(f"    {len(times):7} x {sum(times) * 1000:9.0f} ms  {statement}")
            if isinstance(found, str):
                break
    return figures


GOALS = {  # milliseconds, p95
    "mine": 5 * 2,  # count + page (+ cached names)
    "status": 5 * 4,  # report, history, category, agency
    "inbox-admin": 5 * 2,  # count + page
    "inbox-admin-overdue": 5 * 2,
    "inbox-agency": 5 * 2,
    "inbox-agency-overdue": 5 * 2,
    "case-card": 5 * 6,  # report, reporter, duplicates, media, history, names
    "scan-deadlines": 1000,
    "citizen-updates": 1000,
    "auto-close": 1000,
    "expire-drafts": 1000,
}
COMMANDS = [name for name, goal in GOALS.items() if goal < 1000]


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:22} {'-':>6}  not measured: the first run did not finish (see above)"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    goal = GOALS[name]
    verdict = "ok" if p95 <= goal else "SLOW"
    return (
        f"{name:22} {len(values):6} {statistics.median(values):9.2f} {p95:9.2f} "
        f"{max(values):9.2f} {goal:8.0f}  {verdict}"
    )


def kept(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The kept database's name (a SQLite path made absolute) and whether it exists."""
    if args.keep is None or args.postgres:
        return args.keep, False
    path = Path(args.keep).resolve()
    return str(path), path.exists()


async def bench(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    keep, filled = kept(args)
    async with database(args.postgres, keep) as (url, schema, path):
        if not (keep is not None and await _exists(url, schema, path, filled)):
            seconds = await generate(url, schema, path, args.reports)
            print(f"generated {args.reports:,} reports in {seconds:.1f} s")
        settings = settings_for(url).model_copy(update={"telegram_bot_token": "1:x"})
        from storage.database import create_engine

        app = await build_app(settings, engine=create_engine(url, schema=schema), clock=lambda: NOW)
        try:
            await complete(app, args.postgres)
            async with UnitOfWork(app.sessions) as uow:
                reports = int((await uow.session.exec(select(func.max(Complaint.id)))).one())
                citizens = int((await uow.session.exec(select(func.max(Citizen.id)))).one())
                agencies = [
                    a
                    for a in (
                        await uow.session.exec(
                            select(Complaint.agency_id)
                            .where(col(Complaint.agency_id).is_not(None))
                            .distinct()
                        )
                    ).all()
                    if a is not None
                ]
                events = int(
                    (await uow.session.exec(select(func.count()).select_from(ComplaintEvent))).one()
                )
            where = f"PostgreSQL {schema}" if args.postgres else f"SQLite {path}"
            print(
                f"database: {where}; {reports:,} reports, {citizens:,} citizens, "
                f"{events:,} history events"
            )
            picker = Picker(reports, citizens, sorted(agencies))
            results: dict[str, list[float]] = {}
            for name in [c for c in COMMANDS if not args.only or c in args.only]:
                durations = await run_calls(app, name, args.calls, picker, args.explain)
                assert durations is not None
                results[name] = durations
            if not args.only or any(s in args.only for s in GOALS if s not in COMMANDS):
                results.update(
                    {
                        k: v
                        for k, v in (await time_scans(app, args.scans, args.scan_timeout)).items()
                        if not args.only or k in args.only
                    }
                )
        finally:
            await app.close()
    print(f"\n{'command':22} {'calls':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'goal':>8}")
    for name, values in results.items():
        print(row(name, values))


# --- drafts in memory -------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def drafts(count: int, postgres: bool) -> None:
    logging.disable(logging.WARNING)
    if postgres:
        async with postgres_schema() as schema:
            await _drafts(count, POSTGRES_URL, schema)
        return
    with tempfile.TemporaryDirectory() as folder:
        await _drafts(count, f"sqlite+aiosqlite:///{folder}/drafts.db", None)


async def _drafts(count: int, url: str, schema: str | None) -> None:
    from storage.database import create_engine

    settings = settings_for(url).model_copy(
        update={"telegram_bot_token": "1:x", "reports_per_day": 1000}
    )
    app = await build_app(settings, engine=create_engine(url, schema=schema))
    update_id = 0
    try:
        async with UnitOfWork(app.sessions) as uow:
            category = (await uow.session.exec(select(func.min(col(Complaint.category_id))))).one()
            from storage.models import Category

            category = (await uow.session.exec(select(func.min(col(Category.id))))).one()
        steps: list[dict[str, object]] = [
            {"text": "/new"},
            {"callback_data": "i:kind:complaint"},
            {"callback_data": f"i:category:{category}"},
        ]

        async def citizen(user: int) -> None:
            nonlocal update_id
            for fields in steps:
                update_id += 1
                extra = (
                    {"callback_id": f"c{update_id}", "message_id": 1}
                    if "callback_data" in fields
                    else {}
                )
                await app.processor.process(
                    Event(  # type: ignore[arg-type]
                        update_id=update_id,
                        chat_id=user,
                        user=Sender(user, "Bench"),
                        **fields,
                        **extra,
                    )
                )

        await citizen(1)  # everything imported and warmed up before the first reading
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        for first in range(0, count, 200):
            await asyncio.gather(
                *(citizen(20_000 + n) for n in range(first, min(count, first + 200)))
            )
        seconds = time.perf_counter() - started
        gc.collect()
        after = rss_mb()
        alive = sum(1 for o in gc.get_objects() if isinstance(o, FlowState))
        async with UnitOfWork(app.sessions) as uow:
            stored = (await uow.session.exec(select(func.count()).select_from(Conversation))).one()
    finally:
        await app.close()
    print(
        f"{'PostgreSQL' if schema else 'SQLite'}: {count:,} citizens into an open draft "
        f"({count * len(steps):,} updates in {seconds:.1f} s); RSS before {before:.0f} MB, "
        f"after {after:.0f} MB (+{after - before:.1f} MB, "
        f"{(after - before) * 1024 * 1024 / count:.0f} bytes per draft); "
        f"{stored:,} conversation rows stored; draft states alive in the process: {alive}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000, help="1000000 for the figures")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--keep", metavar="NAME", help="SQLite path or PostgreSQL schema")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--scans", type=int, default=2, help="timed runs of each duty scan")
    parser.add_argument("--scan-timeout", type=float, default=120, help="seconds per scan")
    parser.add_argument("--only", nargs="+", metavar="WHAT", help=f"of {', '.join(GOALS)}")
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    parser.add_argument("--drafts", type=int, help="measure RSS with N open drafts instead")
    args = parser.parse_args()
    if args.drafts:
        asyncio.run(drafts(args.drafts, args.postgres))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
