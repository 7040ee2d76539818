"""Statistics, exports and the monthly report on SQLite and PostgreSQL, on a hand-computed month.

The arithmetic (WIB; Wednesday 18 Nov is a holiday in the fixture's calendar):
- verification: A Mon 2 10:00→Tue 3 10:00 = 1.0; B Fri 6 16:00→Mon 9 16:00 = 8 h + 16 h = 1.0;
  C Tue 10→Thu 12 = 2.0; D Mon 16 09:00→Mon 23 09:00 = 15 h + Tue + Thu + Fri + 9 h = 4.0
  (rejected); F reopened: not measured. [1, 1, 2, 4]: median 1.5, P90 rank 2.7 → 2 + 0.7·2 = 3.4.
  Compliance: A, B, C met; D late, E open past its deadline: missed → 3/5 = 60 %.
- first follow-up: A 2.0, B Mon 9 16:00→Thu 19 16:00 = 8 h + 6 days + 16 h = 7.0, F 1.0.
  [1, 2, 7]: median 2.0, P90 rank 1.8 → 2 + 0.8·5 = 6.0. Compliance: A, F met; B late, C open
  past its deadline → 2/4 = 50 %.
- resolution: A Mon 2 10:00→Fri 6 10:00 = 4.0; F Tue 3 09:00→Fri 20 09:00 = 15 h + 11 days
  + 9 h = 12.0. Median 8.0, P90 4 + 0.9·8 = 11.2. Completion: A, F on time, B pending → 2/2.
- reopen rate 1 (F) / 2 resolved at least once (A, F) = 50 %; verdicts fixed 1, not fixed 1;
  mean rating (5 + 2) / 2 = 3.5. Overdue now: C (due 19 Nov), G (20 Nov), E (26 Nov).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import prepare_database
from bot.core.i18n import Translator
from bot.core.periods import parse_period
from bot.core.replies import EditMessage, Message, Upload
from bot.core.stats import Stage
from bot.reports.pdf import page_count
from bot.reports.records import COLUMNS
from bot.reports.runner import ReportRunner
from bot.reports.tables import AGENCY_COLUMNS
from storage.database import session_factory
from storage.models import ReportJob, Staff
from storage.report_jobs import add_job
from storage.unit_of_work import UnitOfWork
from tests.conftest import make_settings
from tests.support.stats_fixture import (
    ADMIN,
    CALENDAR,
    NOW,
    OFFICER,
    SECRET,
    VIEWER,
    WIB,
    Fixture,
    load_fixture,
    wib,
)


@dataclass
class RecordingSender:
    """Keeps what the runner sends; message ids count up."""

    sent: list[tuple[int, Any]] = field(default_factory=list)

    async def send(self, chat_id: int, reply: Any) -> int | None:
        self.sent.append((chat_id, reply))
        return len(self.sent)

    def texts(self, chat_id: int) -> list[str]:
        return [r.text for c, r in self.sent if c == chat_id and isinstance(r, Message)]

    def uploads(self, chat_id: int) -> list[Upload]:
        return [r for c, r in self.sent if c == chat_id and isinstance(r, Upload)]


@dataclass
class World:
    runner: ReportRunner
    sender: RecordingSender
    fixture: Fixture
    clock: list[Any]


@pytest.fixture
async def world(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[World]:
    settings = make_settings(tmp_path)
    await prepare_database(settings, engine)
    sessions = session_factory(engine)
    async with UnitOfWork(sessions) as uow:
        fixture = await load_fixture(uow.session)
        await uow.commit()
    sender = RecordingSender()
    clock = [NOW]
    runner = ReportRunner(
        sessions=sessions,
        sender=sender,
        translator=Translator.load(),
        calendar=CALENDAR,
        settings=settings,
        clock=lambda: clock[0],
        worker_id="test-worker",
        progress_every=0,
    )
    yield World(runner, sender, fixture, clock)


async def request(world: World, telegram_id: int, kind: str, period: str = "2026-11") -> None:
    await queue(world, telegram_id, kind, period)
    assert await world.runner.run_due() == 1


async def test_city_figures_are_the_hand_computed_ones(world: World) -> None:
    period = parse_period("2026-11", now=NOW, timezone=WIB)
    city = (await world.runner.evaluate_period(period)).city
    assert city.total == 6
    assert dict(city.by_status) == {
        "closed": 1,
        "in_progress": 1,
        "assigned": 1,
        "rejected": 1,
        "submitted": 1,
        "resolved": 1,
    }
    assert city.median(Stage.VERIFY) == pytest.approx(1.5)
    assert city.p90(Stage.VERIFY) == pytest.approx(3.4)
    assert city.median(Stage.FIRST_RESPONSE) == pytest.approx(2.0)
    assert city.p90(Stage.FIRST_RESPONSE) == pytest.approx(6.0)
    assert city.median(Stage.COMPLETION) == pytest.approx(8.0)
    assert city.p90(Stage.COMPLETION) == pytest.approx(11.2)
    assert (city.met[Stage.VERIFY], city.missed[Stage.VERIFY]) == (3, 2)
    assert (city.met[Stage.FIRST_RESPONSE], city.missed[Stage.FIRST_RESPONSE]) == (2, 2)
    assert (city.met[Stage.COMPLETION], city.missed[Stage.COMPLETION]) == (2, 0)
    assert city.reopen_rate == 0.5 and city.mean_rating == 3.5 and city.overdue == 2


async def test_stats_for_the_city_with_agencies_overdue_list_and_chart(world: World) -> None:
    await request(world, ADMIN, "stats")
    summary, agencies, overdue = world.sender.texts(ADMIN)
    assert "Laporan:</b> 6" in summary
    assert "Verifikasi: 1.5 / 3.4" in summary
    assert "Tindak lanjut pertama: 2.0 / 6.0" in summary
    assert "Penyelesaian: 8.0 / 11.2" in summary
    assert "Verifikasi: 60% (3/5)" in summary
    assert "Tindak lanjut pertama: 50% (2/4)" in summary
    assert "Penyelesaian: 100% (2/2)" in summary
    assert "50% (1/2)" in summary and "tuntas 1 · sebagian 0 · belum tuntas 1" in summary
    assert "rata-rata nilai 3.5" in summary
    assert "Dinas PUPR</b>: 3 laporan · tanggapan 67% · selesai 100% · terlambat 0" in agencies
    assert "Dinkes</b>: 1 laporan · tanggapan 0% · selesai — · terlambat 1" in agencies
    assert "Disdik</b>: 0 laporan · tanggapan — · selesai — · terlambat 0" in agencies
    codes = world.fixture.codes
    assert "Terlambat saat ini:</b> 3" in overdue
    assert [overdue.index(codes[x]) for x in "CGE"] == sorted(
        overdue.index(codes[x]) for x in "CGE"
    )
    (chart,) = world.sender.uploads(ADMIN)
    assert chart.as_photo and chart.data.startswith(b"\x89PNG")


async def test_an_agency_admin_sees_their_agency_beside_the_city(world: World) -> None:
    await request(world, OFFICER, "stats")
    texts = world.sender.texts(OFFICER)
    assert len(texts) == 2  # no per-agency message
    summary, overdue = texts
    assert "Statistik Dinas PUPR" in summary and "Laporan:</b> 3" in summary
    assert "Verifikasi: 1.0 / 1.0 · kota 1.5 / 3.4" in summary
    assert "Tindak lanjut pertama: 67% (2/3) · kota 50%" in summary
    assert "Dinkes" not in summary
    assert (
        "Terlambat saat ini:</b> 0" not in overdue and "Tidak ada laporan yang terlambat" in overdue
    )


async def test_an_empty_period(world: World) -> None:
    await request(world, VIEWER, "stats", "2025-01")
    summary = world.sender.texts(VIEWER)[0]
    assert "Laporan:</b> 0" in summary and "Tidak ada laporan pada periode ini" in summary
    assert "Verifikasi: — / —" in summary and "Verifikasi: — (0/0)" in summary
    assert world.sender.uploads(VIEWER)[0].data.startswith(b"\x89PNG")


def workbook_rows(data: bytes) -> tuple[list[str], list[list[Any]], list[list[Any]]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["Laporan", "Per OPD"]
    # Empty trailing cells are not stored: pad each row to its header's width.
    reports = [list(r) for r in book["Laporan"].iter_rows(values_only=True)]
    agencies = [list(r) for r in book["Per OPD"].iter_rows(values_only=True)]
    reports = [r + [None] * (len(reports[0]) - len(r)) for r in reports]
    agencies = [r + [None] * (len(agencies[0]) - len(r)) for r in agencies]
    return reports[0], reports[1:], agencies


async def test_xlsx_for_a_viewer_hides_identities_and_confidential_text(world: World) -> None:
    await request(world, VIEWER, "xlsx")
    (upload,) = world.sender.uploads(VIEWER)
    assert upload.filename == "aduan-2026-11.xlsx"
    header, rows, agencies = workbook_rows(upload.data)
    assert len(header) == len(COLUMNS) and header[0] == "Kode" and header[11] == "Pelapor"
    assert len(rows) == 6
    flat = repr(rows)
    assert "Siti" not in flat and "Budi" not in flat and "0812" not in flat
    assert SECRET not in flat and "Jl. Rahasia" not in flat
    by_code = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows}
    codes = world.fixture.codes
    assert by_code[codes["A"]]["reporter"] == "[anonim]"
    assert by_code[codes["B"]]["description"] == "[dirahasiakan]"
    assert by_code[codes["B"]]["days_to_first_follow_up"] == 7
    assert by_code[codes["B"]]["first_response_on_time"] == "Tidak"
    # Codes are shown as the catalog's words in the requester's language (Indonesian here).
    a, e = by_code[codes["A"]], by_code[codes["E"]]
    assert (a["kind"], a["privacy"], a["status"], a["verdict"]) == (
        "Pengaduan",
        "Anonim",
        "Selesai",
        "Tuntas",
    )
    assert (a["verify_on_time"], a["channel"], e["channel"]) == (
        "Ya",
        "Telegram",
        "Datang langsung",
    )
    assert by_code[codes["A"]]["submitted_at"] == "2026-11-02 10:00"
    assert agencies[0] == [
        "OPD",
        "Laporan",
        "Terbuka",
        "Ditindaklanjuti",
        "Terlambat",
        "Median tanggapan (hk)",
        "P90 tanggapan (hk)",
        "Tanggapan tepat waktu",
        "Median tindak lanjut (hk)",
        "P90 tindak lanjut (hk)",
        "Penyelesaian tepat waktu",
        "Dibuka kembali",
        "Tuntas",
        "Sebagian",
        "Belum tuntas",
        "Rata-rata nilai",
    ]
    table = {r[0]: dict(zip(AGENCY_COLUMNS, r, strict=True)) for r in agencies[1:]}
    assert table["Dinas PUPR"]["reports"] == 3
    assert table["Dinas PUPR"]["first_response_compliance"] == pytest.approx(0.6667)
    assert table["Dinas PUPR"]["median_resolution"] == 8
    assert table["Disdik"]["reports"] == 0 and table["Disdik"]["median_resolution"] is None
    assert table["Kota (semua)"]["reports"] == 6 and table["Kota (semua)"]["overdue"] == 2
    # Progress was shown in an edited message, then the end.
    edits = [r.text for c, r in world.sender.sent if c == VIEWER and isinstance(r, EditMessage)]
    assert any("6 dari 6" in e for e in edits) and "selesai: 6 laporan" in edits[-1]


async def test_xlsx_for_a_superadmin_shows_confidential_text_but_no_anonymous_identity(
    world: World,
) -> None:
    await request(world, ADMIN, "xlsx")
    _, rows, _ = workbook_rows(world.sender.uploads(ADMIN)[0].data)
    by_code = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows}
    codes = world.fixture.codes
    assert by_code[codes["B"]]["description"] == SECRET
    assert by_code[codes["A"]]["reporter"] == "[anonim]" and "Siti" not in repr(rows)
    assert by_code[codes["C"]]["reporter"] == "Budi Santoso; @budi_s"
    assert by_code[codes["E"]]["reporter"] == "Pak Amir; 0812-555-0199"


async def test_csv_for_an_agency_admin_has_only_their_agency(world: World) -> None:
    await request(world, OFFICER, "csv")
    (upload,) = world.sender.uploads(OFFICER)
    assert upload.filename == "aduan-2026-11.csv.zip"
    with zipfile.ZipFile(io.BytesIO(upload.data)) as zipped:
        text = zipped.read("aduan-2026-11.csv").decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    codes = world.fixture.codes
    assert sorted(re.findall(r"TPI-2026-\d+", text)) == sorted(codes[x] for x in "ABF")
    assert "Siti" not in text and SECRET not in text and "[dirahasiakan]" in text
    rows = {r["tracking_code"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[codes["F"]]["status"] == "Ditindaklanjuti"
    assert rows[codes["F"]]["verdict"] == "Belum tuntas"
    assert rows[codes["B"]]["privacy"] == "Rahasia"


async def test_the_monthly_report_on_the_first_working_day(world: World) -> None:
    runner = world.runner
    assert await runner.enqueue_monthly(wib(1, 7, month=12)) == 0  # before DIGEST_TIME
    assert await runner.enqueue_monthly(wib(1, 8, month=12)) == 2  # superadmin and viewer
    assert await runner.enqueue_monthly(wib(1, 9, month=12)) == 0  # once
    assert await runner.enqueue_monthly(wib(2, 9, month=12)) == 0  # not the first working day
    assert await runner.run_due() == 2
    for chat in (ADMIN, VIEWER):
        pdf, xlsx = world.sender.uploads(chat)
        assert pdf.filename == "evaluasi-2026-11.pdf" and pdf.data.startswith(b"%PDF")
        pages = len(re.findall(rb"/Type\s*/Page\b", pdf.data))
        assert pages == page_count(11 + 1) == 4
        _, rows, _ = workbook_rows(xlsx.data)
        assert len(rows) == 6
    assert world.sender.uploads(OFFICER) == []
    _, viewer_rows, _ = workbook_rows(world.sender.uploads(VIEWER)[1].data)
    assert SECRET not in repr(viewer_rows)
    async with UnitOfWork(runner.sessions) as uow:
        jobs = (await uow.session.exec(select(ReportJob))).all()
        assert {j.status for j in jobs} == {"done"} and {j.label for j in jobs} == {"2026-11"}
    assert date(2026, 12, 1).weekday() == 1  # a Tuesday, and no holiday


async def queue(world: World, telegram_id: int, kind: str, period: str = "2026-11") -> None:
    """Queue a job as the handlers do (without running it)."""
    parsed = parse_period(period, now=NOW, timezone=WIB)
    async with UnitOfWork(world.runner.sessions) as uow:
        staff = (
            await uow.session.exec(select(Staff).where(Staff.telegram_id == telegram_id))
        ).one()
        assert staff.id is not None
        await add_job(
            session=uow.session,
            kind=kind,
            chat_id=telegram_id,
            staff_id=staff.id,
            locale="id",
            first_day=parsed.first_day,
            last_day=parsed.last_day,
            label=parsed.label,
            now=NOW,
        )
        await uow.commit()


def progress_edits(world: World, chat: int) -> list[str]:
    return [r.text for c, r in world.sender.sent if c == chat and isinstance(r, EditMessage)]


async def test_a_csv_over_the_part_limit_arrives_as_zips_under_it_with_every_row_once(
    world: World,
) -> None:
    await request(world, ADMIN, "csv")
    (whole,) = world.sender.uploads(ADMIN)
    with zipfile.ZipFile(io.BytesIO(whole.data)) as zipped:
        text = zipped.read("aduan-2026-11.csv").decode("utf-8-sig")
    expected = [row["tracking_code"] for row in csv.DictReader(io.StringIO(text))]
    assert len(expected) == 6
    world.sender.sent.clear()
    # The limit is lowered through the runner's parameter: a few rows per part.
    world.runner.part_limit = limit = 1_000
    await request(world, ADMIN, "csv")
    uploads = world.sender.uploads(ADMIN)
    assert len(uploads) >= 3
    codes: list[str] = []
    for number, upload in enumerate(uploads, start=1):
        assert upload.filename == f"aduan-2026-11-part{number}.csv.zip"
        assert len(upload.data) <= limit
        with zipfile.ZipFile(io.BytesIO(upload.data)) as zipped:
            (name,) = zipped.namelist()
            rows = list(csv.DictReader(io.StringIO(zipped.read(name).decode("utf-8-sig"))))
        assert f"berkas {number} dari {len(uploads)}: {len(rows)} laporan" in upload.caption
        codes += [row["tracking_code"] for row in rows]
    # Every report of the period exactly once, in the same order (oldest first).
    assert codes == expected
    edits = progress_edits(world, ADMIN)
    assert any("6 dari 6" in e for e in edits)
    assert any(f"mengirim berkas {len(uploads)} dari {len(uploads)}" in e for e in edits)
    assert f"6 laporan dalam {len(uploads)} berkas" in edits[-1]


async def test_an_xlsx_over_the_part_limit_keeps_every_row_and_ends_with_the_summary(
    world: World,
) -> None:
    await request(world, ADMIN, "xlsx")
    (whole,) = world.sender.uploads(ADMIN)
    _, whole_rows, _ = workbook_rows(whole.data)
    expected = [str(r[0]) for r in whole_rows]
    assert len(expected) == 6
    # Just under the size of the whole workbook: it cannot be one part any more.
    world.runner.part_limit = limit = len(whole.data) - 400
    world.sender.sent.clear()
    await request(world, ADMIN, "xlsx")
    uploads = world.sender.uploads(ADMIN)
    assert len(uploads) >= 2
    codes: list[str] = []
    for number, upload in enumerate(uploads, start=1):
        assert upload.filename == f"aduan-2026-11-part{number}.xlsx"
        assert len(upload.data) <= limit
        book = load_workbook(io.BytesIO(upload.data), read_only=True)
        last = number == len(uploads)
        assert book.sheetnames == (["Laporan", "Per OPD"] if last else ["Laporan"])
        rows = list(book["Laporan"].iter_rows(values_only=True))
        assert rows[0][0] == "Kode"
        codes += [str(r[0]) for r in rows[1:]]
    assert codes == expected
    _, _, agencies = workbook_rows(uploads[-1].data)
    assert agencies[-1][0] == "Kota (semua)" and agencies[-1][1] == 6
    assert "Ringkasan per OPD ada di berkas terakhir" in progress_edits(world, ADMIN)[-1]


async def test_progress_edits_are_bounded_in_frequency(world: World) -> None:
    # Edits at most every ``progress_every`` seconds: here none between the first message
    # and the final one, however many batches and parts there are.
    world.runner.part_limit = 1_000
    world.runner.progress_every = 3600
    await request(world, ADMIN, "csv")
    assert len(world.sender.uploads(ADMIN)) >= 3
    (edit,) = progress_edits(world, ADMIN)
    assert "selesai: 6 laporan" in edit
    assert "0 dari …" in world.sender.texts(ADMIN)[0]


@dataclass
class GatedSender(RecordingSender):
    """Holds an export's upload until the test releases it: an export observably in
    progress, without sleeping."""

    export_uploading: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    chart_sent: asyncio.Event = field(default_factory=asyncio.Event)
    export_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, chat_id: int, reply: Any) -> int | None:
        if isinstance(reply, Upload) and not reply.as_photo:
            self.export_uploading.set()
            await self.release.wait()
        message_id = await super().send(chat_id, reply)
        if isinstance(reply, Upload) and reply.as_photo:
            self.chart_sent.set()
        if isinstance(reply, EditMessage) and "selesai" in reply.text:
            self.export_done.set()
        return message_id


async def job_statuses(world: World) -> dict[str, str]:
    async with UnitOfWork(world.runner.sessions) as uow:
        return {j.kind: j.status for j in (await uow.session.exec(select(ReportJob))).all()}


async def test_stats_asked_during_a_long_export_arrive_before_the_export_ends(
    world: World, tmp_path: Path
) -> None:
    from bot.jobs import build_scheduler, stop_scheduler
    from bot.outbox import OutboxDispatcher

    sender = GatedSender()
    world.runner.sender = sender
    world.sender = sender
    settings = make_settings(tmp_path, reports_interval_seconds=0.5)
    dispatcher = OutboxDispatcher(
        sessions=world.runner.sessions, sender=sender, clock=lambda: NOW, worker_id="w"
    )
    scheduler = build_scheduler(dispatcher=dispatcher, settings=settings, reports=world.runner)
    await queue(world, ADMIN, "xlsx")
    scheduler.start()
    try:
        # The export is running: its file is being uploaded (held by the sender).
        await asyncio.wait_for(sender.export_uploading.wait(), 30)
        await queue(world, VIEWER, "stats")
        await asyncio.wait_for(sender.chart_sent.wait(), 30)
        # The figures and the chart reached the viewer while the export is still going.
        assert "Statistik Kota" in sender.texts(VIEWER)[0]
        assert sender.uploads(ADMIN) == []
        assert (await job_statuses(world))["xlsx"] == "running"
        sender.release.set()
        await asyncio.wait_for(sender.export_done.wait(), 30)
        (upload,) = sender.uploads(ADMIN)
        assert upload.filename == "aduan-2026-11.xlsx"
    finally:
        sender.release.set()
        await stop_scheduler(scheduler, dispatcher=dispatcher, grace_seconds=10)
    assert await job_statuses(world) == {"xlsx": "done", "stats": "done"}
