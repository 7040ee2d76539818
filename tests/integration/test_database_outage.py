"""A database outage on a throwaway PostgreSQL cluster that the test starts and stops itself.

- While the bot runs: the scheduler's jobs (outbox, duties, reports) log ONE warning for the
  outage, no traceback, skip their ticks meanwhile, log "database back" once, and a notification
  that became due during the outage is delivered after it.
- At start: ``wait_for_database`` logs one line per attempt and proceeds once the server is up;
  ``aduan migrate`` with the server down gives up after DATABASE_WAIT_SECONDS with one line.

The cluster is made with initdb in a temporary folder on a free port (trust auth, socket in the
same folder); the shared server on 5432 is never touched. As root, initdb and pg_ctl run as the
``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot import cli
from bot.app import DatabaseUnavailable, build_app, wait_for_database
from bot.core.replies import Message
from bot.jobs import DatabaseHealth, build_scheduler, stop_scheduler
from bot.outbox import OutboxDispatcher
from bot.reports.runner import ReportRunner
from storage.database import create_engine
from storage.models import Notification
from storage.outbox import Audience, enqueue
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.log_capture import Captured, captured_logs

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: initdb refuses root")
    return [runuser, "-u", "postgres", "--"]


@dataclass
class Cluster:
    """A PostgreSQL cluster of this test only."""

    folder: Path
    port: int
    prefix: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.folder / "data" / "postmaster.pid").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cluster_folder() -> Iterator[tuple[Path, list[str]]]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"initdb not found in {PG_BIN} (set PG_BIN): no throwaway PostgreSQL")
    prefix = _as_postgres()
    folder = Path(tempfile.mkdtemp(prefix="aduan-pg-"))
    if prefix:
        shutil.chown(folder, user="postgres")
    try:
        made = subprocess.run(
            [
                *prefix,
                str(PG_BIN / "initdb"),
                "-D",
                str(folder / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode != 0:
            pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
        yield folder, prefix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cluster(cluster_folder: tuple[Path, list[str]]) -> Iterator[Cluster]:
    folder, prefix = cluster_folder
    cluster = Cluster(folder, _free_port(), prefix)
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()


@pytest.fixture
def captured() -> Iterator[Captured]:
    """The production logging set-up (bot/logs.py) writing into a list."""
    with captured_logs() as handler:
        yield handler


@dataclass
class Sender:
    sent: list[tuple[int, Any]] = field(default_factory=list)

    async def send(self, chat_id: int, reply: Any) -> int | None:
        self.sent.append((chat_id, reply))
        return len(self.sent)


async def _until(condition: Any, seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def running(
    cluster: Cluster, tmp_path: Path, captured: Captured
) -> AsyncIterator[tuple[Any, Sender]]:
    settings = make_settings(
        tmp_path,
        database_url=cluster.url,
        outbox_interval_seconds=0.2,
        reports_interval_seconds=0.5,
        deadline_scan_minutes=0.01,  # the duties tick every 0.6 s
        quiet_hours="",
    )
    engine = create_engine(settings.database_url)
    app = await build_app(settings, engine=engine)
    sender = Sender()
    dispatcher = OutboxDispatcher(
        sessions=app.sessions, sender=sender, clock=app.clock, worker_id="outage-test"
    )
    reports = ReportRunner(
        sessions=app.sessions,
        sender=sender,
        translator=app.translator,
        calendar=app.calendar,
        settings=settings,
        clock=app.clock,
        worker_id="outage-test",
    )
    scheduler = build_scheduler(
        dispatcher=dispatcher,
        settings=settings,
        duties=app.duties,
        reports=reports,
        clock=app.clock,
        health=DatabaseHealth(first_pause=0.2, max_pause=1.0),
    )
    scheduler.start()
    try:
        yield app, sender
    finally:
        await stop_scheduler(scheduler, dispatcher=dispatcher, grace_seconds=5)
        await app.close()


async def test_an_outage_is_one_warning_and_work_resumes_after_it(
    cluster: Cluster, running: tuple[Any, Sender], captured: Captured
) -> None:
    app, sender = running
    await asyncio.sleep(1.0)  # a few healthy ticks of every job
    assert not [line for line in captured.lines if "Traceback" in line]

    # A notice queued before the outage, due during it.
    async with UnitOfWork(app.sessions) as uow:
        await enqueue(
            session=uow.session,
            chat_id=4242,
            message=Message("Laporan Anda sedang diproses"),
            audience=Audience.CITIZEN,
            now=datetime.now(UTC),
            not_before=datetime.now(UTC) + timedelta(seconds=1.5),
        )
        await uow.commit()
    mark = len(captured.lines)
    await asyncio.to_thread(cluster.stop)
    await asyncio.sleep(5)  # about 25 outbox ticks, 10 report ticks, 8 rounds of duties

    during = captured.since(mark)
    assert sender.sent == []
    assert len(during) <= 3, during
    assert not [line for line in during if "Traceback" in line], during
    assert len([line for line in during if "database unavailable, retrying" in line]) == 1

    await asyncio.to_thread(cluster.start)
    await _until(lambda: sender.sent, 15, "the notice queued before the outage")
    # "back" is logged when the job that got through returns.
    await _until(lambda: any("database back" in x for x in captured.lines), 5, "database back")

    after = captured.since(mark)
    assert [chat for chat, _ in sender.sent] == [4242]
    assert len([line for line in after if "database back" in line]) == 1, after
    assert not [line for line in after if "Traceback" in line], after
    assert len(after) <= 5, after
    async with UnitOfWork(app.sessions) as uow:
        statuses = (await uow.session.exec(select(Notification.status))).all()
    assert list(statuses) == ["sent"]


async def test_start_up_waits_with_one_line_per_attempt(
    cluster: Cluster, captured: Captured
) -> None:
    await asyncio.to_thread(cluster.stop)
    engine = create_engine(cluster.url)
    try:
        waiting = asyncio.create_task(
            wait_for_database(engine, wait_seconds=0, first_retry=0.2, retry_cap=0.4)
        )
        await asyncio.sleep(1.5)
        assert not waiting.done()
        await asyncio.to_thread(cluster.start)
        await asyncio.wait_for(waiting, 15)
    finally:
        await engine.dispose()
    attempts = [line for line in captured.lines if "unavailable" in line]
    assert len(attempts) >= 3
    assert all("retrying in" in line for line in attempts)
    assert not [line for line in captured.lines if "Traceback" in line]
    assert len(captured.lines) == len(attempts) + 1  # then "database … is up"
    assert "is up" in captured.lines[-1]


async def test_start_up_gives_up_after_the_wait(cluster: Cluster, captured: Captured) -> None:
    await asyncio.to_thread(cluster.stop)
    engine = create_engine(cluster.url)
    try:
        with pytest.raises(DatabaseUnavailable, match="did not answer within 1 s"):
            await wait_for_database(engine, wait_seconds=1, first_retry=0.2, retry_cap=0.4)
    finally:
        await engine.dispose()
    assert not [line for line in captured.lines if "Traceback" in line]


def test_aduan_migrate_with_the_database_down_exits_with_one_line(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    cluster.stop()
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", cluster.url)
    monkeypatch.setenv("DATABASE_WAIT_SECONDS", "1")
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        assert cli.main(["migrate"]) == 1
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[1]:
            root.addHandler(handler)
        root.setLevel(saved[0])
    err = capfd.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert (
        err[-1].endswith("is it running, and is DATABASE_URL right?")
        and "Aduan cannot start: the database at" in err[-1]
    )
    assert all("unavailable" in line for line in err[:-1])
