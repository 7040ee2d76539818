"""Runs /stats, /export and the monthly report in the background, outside any update.

Why: on SQLite an update holds the process-wide write lock for its whole transaction, and a
year of reports takes seconds to read; so the handlers only queue a ``ReportJob`` and answer at
once. This runner (built by bot/app.py, run as a scheduler job by bot/jobs.py) claims due jobs
atomically (safe with several processes), reads the reports in batches through a server-side
cursor, does the CPU work (figures, rows, charts, files) in a worker thread so the event loop
keeps serving other chats, and talks to the requester directly through the Telegram client's
sender: a progress message edited at most every ``progress_every`` seconds (rows written, then
"sending file i of n"), then the file(s). Role and agency are read again when the job runs.

Two lanes: quick jobs (``QUICK_KINDS``: /stats, seconds) and long ones (``LONG_KINDS``:
exports and the monthly report, a minute and more for a year of a million reports). Each lane
claims only its kinds and bot/jobs.py runs each as its own scheduler job, so the two run
concurrently on the event loop (their CPU work in worker threads): a /stats asked for while a
year's export is being written or uploaded is answered at once instead of after it.

Exports reach the person who asked whatever their size: Telegram takes at most 50 MB from a
bot, so the rows are streamed into parts of at most ``part_limit`` bytes each
(bot/reports/files.py: XLSX workbooks, or zips holding a CSV), kept in temporary files and
uploaded one after the other, each read into memory only while it is sent. A single part keeps
the plain name (``aduan-2026-11.xlsx``, ``aduan-2026-11.csv.zip``); several are numbered
(``aduan-2026-part1.xlsx``) and each caption says which reports (count and days) it holds.

A graceful stop (``close``, called by bot/jobs.py's ``stop_scheduler``) claims nothing more and
gives the job in progress a grace period to finish; a job still running after it is cancelled
and released (pending again, claim cleared, the attempt not counted), so the next start or
another process takes it at once instead of after its 30-minute lease. A released job starts
over: only what it had already sent (a progress message, the first of several texts, the
first parts of an export released while uploading) can reach the requester twice; files are
sent last. While the database is unreachable a job is neither
failed nor reported to the requester: the error goes to the scheduler's outage handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.lifecycle import Role
from bot.core.periods import Period, previous_month
from bot.core.replies import EditMessage, Message, Upload
from bot.core.stats import (
    Evaluation,
    Measured,
    Tally,
    WorkingClock,
    count_rows,
    weeks_between,
)
from bot.logs import chat_ref
from bot.reports.charts import ChartLabels, chart_labels, compliance_bars, stats_chart_png
from bot.reports.files import MAX_PART_BYTES, CsvExport, ExportFile, Part, XlsxExport
from bot.reports.monthly import monthly_report_pdf
from bot.reports.records import COLUMNS, RecordPolicy, cell_labels, records
from bot.reports.summary import Scope, summary_messages
from bot.reports.tables import AGENCY_COLUMNS, agency_rows, plain
from bot.settings import Settings
from storage.database import SessionFactory, is_connection_error
from storage.locks import try_singleton
from storage.models import ReportJob, Staff
from storage.report_jobs import (
    MAX_ATTEMPTS,
    add_job,
    claim_next,
    evaluators,
    finish_job,
    release_job,
)
from storage.staff import locale_of
from storage.stats import (
    Names,
    OverdueItem,
    count_period,
    count_reports,
    export_rows,
    names,
    overdue_now,
)
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
OVERDUE_LISTED = 10
# The lanes: quick jobs (seconds) and long ones (a year's export: a minute and more). Each
# lane claims only its kinds and runs as its own scheduler job, so /stats never queues
# behind an export, and an export never waits for a burst of /stats.
QUICK_KINDS = ("stats",)
LONG_KINDS = ("xlsx", "csv", "monthly")
KINDS = QUICK_KINDS + LONG_KINDS
# The clock's table is built for the period and this much after it (later moments: deadlines).
COVER_AFTER = timedelta(days=120)


class ReportSender(Protocol):
    """The client's sender: ``send(chat_id, Message | EditMessage | Upload) -> message id``."""

    async def send(self, chat_id: int, reply: Any) -> int | None:
        """Send one reply."""


@dataclass
class ReportRunner:
    """Claims report jobs and delivers their messages and files."""

    sessions: SessionFactory
    sender: ReportSender
    translator: Translator
    calendar: WorkingCalendar
    settings: Settings
    clock: Clock
    worker_id: str
    lease: timedelta = timedelta(minutes=30)
    progress_every: float = 3.0
    # Each uploaded part stays under this (bot/reports/files.py); tests lower it.
    part_limit: int = MAX_PART_BYTES
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _idle: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    # The tasks running a job now (one per lane), so ``close`` can wait for or cancel them.
    _busy: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._idle.set()

    # --- scheduling ---------------------------------------------------------------------

    async def run_due(self, limit: int = 5, kinds: Sequence[str] | None = None) -> int:
        """Run up to ``limit`` due jobs (of ``kinds``, else any), one after the other;
        returns how many ran. The lanes (``run_quick``, ``run_long``) may run concurrently."""
        ran = 0
        while ran < limit and not self._stopping.is_set():
            async with UnitOfWork(self.sessions) as uow:
                job = await claim_next(
                    session=uow.session,
                    now=self.clock(),
                    worker_id=self.worker_id,
                    lease=self.lease,
                    kinds=kinds,
                )
                await uow.commit()
            if job is None:
                break
            ran += 1
            task = asyncio.current_task()
            assert task is not None
            self._busy.add(task)
            self._idle.clear()
            try:
                await self._run(job)
            except asyncio.CancelledError:
                # Released even if cancelled again meanwhile (the scheduler's shutdown and
                # ``close`` may both cancel): idle is only set once the release is recorded.
                releasing = asyncio.ensure_future(self._release(job))
                while not releasing.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(releasing)
                raise
            finally:
                self._busy.discard(task)
                if not self._busy:
                    self._idle.set()
        return ran

    async def run_quick(self, limit: int = 5) -> int:
        """The quick lane: /stats."""
        return await self.run_due(limit, QUICK_KINDS)

    async def run_long(self, limit: int = 5) -> int:
        """The long lane: exports and the monthly report."""
        return await self.run_due(limit, LONG_KINDS)

    async def close(self, grace_seconds: float = 20.0) -> None:
        """Claim nothing more; let the job in progress finish within ``grace_seconds``, else
        cancel it and release it for the next runner."""
        self._stopping.set()
        if self._idle.is_set():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._idle.wait()), grace_seconds)
            return
        except TimeoutError:
            pass
        for busy in list(self._busy):
            if not busy.done() and not busy.cancelling():
                log.warning(
                    "a report job was still running after %s s: released for the next start",
                    grace_seconds,
                )
                busy.cancel()
        await self._idle.wait()

    async def _release(self, job: ReportJob) -> None:
        assert job.id is not None
        try:
            async with UnitOfWork(self.sessions) as uow:
                await release_job(session=uow.session, job_id=job.id, worker_id=self.worker_id)
                await uow.commit()
        except Exception as error:
            log.warning(
                "report job %s could not be released (%s); it runs again when its lease ends",
                job.id,
                type(error).__name__,
            )

    async def enqueue_monthly(self, now: datetime) -> int:
        """On the first working day of a month (from DIGEST_TIME), queue last month's report."""
        local = self.calendar.local(now)
        first = local.date().replace(day=1)
        while not self.calendar.is_working_day(first):
            first += timedelta(days=1)
        hour, minute = (int(part) for part in self.settings.digest_time.split(":"))
        if local.date() != first or (local.hour, local.minute) < (hour, minute):
            return 0
        period = previous_month(local.date(), self.calendar.timezone)
        queued = 0
        async with UnitOfWork(self.sessions) as uow:
            if not await try_singleton(session=uow.session, name="monthly_report"):
                return 0
            for staff in await evaluators(session=uow.session):
                assert staff.id is not None
                locale = await locale_of(session=uow.session, telegram_id=staff.telegram_id)
                job = await add_job(
                    session=uow.session,
                    kind="monthly",
                    chat_id=staff.telegram_id,
                    staff_id=staff.id,
                    locale=self.translator.pick(locale),
                    first_day=period.first_day,
                    last_day=period.last_day,
                    label=period.label,
                    now=now,
                    dedupe_key=f"monthly:{period.label}:{staff.id}",
                )
                queued += job is not None
            await uow.commit()
        return queued

    # --- one job ------------------------------------------------------------------------

    async def _run(self, job: ReportJob) -> None:
        assert job.id is not None
        period = Period(job.first_day, job.last_day, self.calendar.timezone, job.label)
        status, error = "done", None
        try:
            async with UnitOfWork(self.sessions) as uow:
                staff = await uow.session.get(Staff, job.staff_id)
            if staff is None or not staff.active or job.attempts > MAX_ATTEMPTS:
                status, error = "failed", "staff inactive or too many attempts"
            elif job.kind == "stats":
                await self._stats(job, staff, period)
            elif job.kind in ("xlsx", "csv"):
                await self._export(job, staff, period)
            elif job.kind == "monthly":
                await self._monthly(job, staff, period)
            else:
                status, error = "failed", f"unknown kind {job.kind}"
        except Exception as failure:
            if is_connection_error(failure):
                raise  # not the job's fault: it runs again once the database is back
            log.exception("report job %s failed", job.id)
            status, error = "failed", repr(failure)[:2000]
            key = "stats.stats_failed" if job.kind == "stats" else "stats.export_failed"
            try:
                await self.sender.send(job.chat_id, Message(self._t(job, key, period=job.label)))
            except Exception:
                log.exception("could not tell %s that job %s failed", chat_ref(job.chat_id), job.id)
        async with UnitOfWork(self.sessions) as uow:
            await finish_job(
                session=uow.session,
                job_id=job.id,
                worker_id=self.worker_id,
                status=status,
                now=self.clock(),
                error=error,
            )
            await uow.commit()

    def _t(self, job: ReportJob, key: str, /, **values: object) -> str:
        return self.translator(job.locale, key, **values)

    def _plain(self, job: ReportJob, key: str, /, **values: object) -> str:
        return plain(self.translator, job.locale, key, **values)

    @staticmethod
    def _scope_agency(staff: Staff) -> int | None:
        return staff.agency_id if staff.role == Role.AGENCY_ADMIN else None

    async def evaluate_period(self, period: Period, agency_id: int | None = None) -> Evaluation:
        """Every report of the period (in the scope) counted, batch by batch."""
        clock = WorkingClock(self.calendar)
        now = self.clock().timestamp()
        evaluation = Evaluation(Tally(), {}, [])

        clock.cover(period.first_day, period.last_day + COVER_AFTER)

        async with UnitOfWork(self.sessions) as uow:
            # Summed up by the database (storage.stats.count_period; issue 12).
            await count_period(
                session=uow.session,
                result=evaluation,
                clock=clock,
                now=now,
                start=period.start,
                end=period.end,
                agency_id=agency_id,
            )
        evaluation.weeks = weeks_between(period.first_day, period.last_day, evaluation.city)
        return evaluation

    def _labels(self, job: ReportJob) -> ChartLabels:
        return chart_labels(self.translator, job.locale)

    async def _stats(self, job: ReportJob, staff: Staff, period: Period) -> None:
        agency_id = self._scope_agency(staff)

        async def lookups() -> tuple[Names, tuple[int, list[OverdueItem]]]:
            async with UnitOfWork(self.sessions) as uow:
                known = await names(session=uow.session)
                overdue = await overdue_now(
                    session=uow.session,
                    now=self.clock(),
                    agency_id=agency_id,
                    limit=OVERDUE_LISTED,
                )
            return known, overdue

        # The names and the overdue list are read (on their own connection) while the
        # period's reports are counted.
        looking = asyncio.ensure_future(lookups())
        try:
            evaluation = await self.evaluate_period(period)
        except BaseException:
            looking.cancel()
            raise
        known, overdue = await looking
        scope = Scope(
            agency_id,
            known.agency(agency_id, "") if agency_id else self._t(job, "stats.scope_city"),
        )
        texts = summary_messages(
            evaluation=evaluation,
            scope=scope,
            names=known,
            overdue=overdue,
            translator=self.translator,
            locale=job.locale,
            calendar=self.calendar,
            label=period.label,
        )
        shown = (
            [(agency_id, known.agency(agency_id, ""))]
            if agency_id is not None
            else [(a, known.agency(a, "")) for a in known.agency_order]
        )
        tally = (
            evaluation.city if agency_id is None else evaluation.agencies.get(agency_id, Tally())
        )
        bars = compliance_bars(evaluation, shown, self._plain(job, "stats.file.city"))
        # The chart is drawn while the messages go out.
        drawing = asyncio.ensure_future(
            asyncio.to_thread(stats_chart_png, evaluation, tally, bars, self._labels(job))
        )
        try:
            for text in texts:
                await self.sender.send(job.chat_id, Message(text))
        finally:
            image = await drawing
        caption = self._t(job, "stats.chart_caption", period=period.label)
        await self.sender.send(
            job.chat_id, Upload(f"stats-{period.slug}.png", image, caption=caption, as_photo=True)
        )

    def _policy(self, job: ReportJob, staff: Staff) -> RecordPolicy:
        return RecordPolicy(
            role=Role(staff.role),
            redacted=self._plain(job, "stats.redacted"),
            anonymous=self._plain(job, "stats.anonymous"),
            hidden=self._plain(job, "stats.hidden"),
            unassigned=self._plain(job, "stats.unassigned"),
            locale=job.locale,
            labels=cell_labels(self.translator, job.locale),
        )

    async def build_export(
        self,
        *,
        job: ReportJob,
        staff: Staff,
        period: Period,
        kind: str,
        progress: Callable[[int, int], Any] | None = None,
    ) -> Export:
        """The export of the period in the staff member's scope, streamed into parts of at
        most ``part_limit`` bytes each (bot/reports/files.py). The caller closes it."""
        agency_id = self._scope_agency(staff)
        policy = self._policy(job, staff)
        now = self.clock().timestamp()
        clock = WorkingClock(self.calendar)
        async with UnitOfWork(self.sessions) as uow:
            known = await names(session=uow.session)
            total = await count_reports(
                session=uow.session, start=period.start, end=period.end, agency_id=agency_id
            )
        submitted = COLUMNS.index("submitted_at")  # each part says which days it holds
        output: ExportFile
        if kind == "csv":
            output = CsvExport(
                report_header=COLUMNS,
                stem=f"aduan-{period.slug}",
                max_part_bytes=self.part_limit,
                mark_column=submitted,
            )
        else:
            output = XlsxExport(
                report_header=[self._plain(job, f"stats.column.{c}") for c in COLUMNS],
                agency_header=[
                    self._plain(job, f"stats.agency_column.{c}") for c in AGENCY_COLUMNS
                ],
                sheet_reports=self._plain(job, "stats.file.sheet_reports"),
                sheet_agencies=self._plain(job, "stats.file.sheet_agencies"),
                max_part_bytes=self.part_limit,
                mark_column=submitted,
            )
        evaluation = Evaluation(Tally(), {}, [])

        clock.cover(period.first_day, period.last_day + COVER_AFTER)

        def consume(batch: list[Any]) -> None:
            measured: list[Measured] = []
            count_rows(
                evaluation,
                [row.report for row in batch],
                clock=clock,
                now=now,
                measured=measured,
            )
            output.add_rows(records(batch, measured, policy=policy, names=known, clock=clock))

        done = 0
        writing: asyncio.Future[None] | None = None
        try:
            async with UnitOfWork(self.sessions) as uow:
                # The next batch is read while a worker thread writes this one (in order).
                async for batch in export_rows(
                    session=uow.session, start=period.start, end=period.end, agency_id=agency_id
                ):
                    if writing is not None:
                        await writing
                        if progress is not None:
                            await progress(done, total)
                    writing = asyncio.ensure_future(asyncio.to_thread(consume, batch))
                    done += len(batch)
                if writing is not None:
                    await writing
                    writing = None
                    if progress is not None:
                        await progress(done, total)
            if agency_id is not None:
                # The agency's rows beside the whole city's: the city needs its own pass.
                city = await self.evaluate_period(period)
                evaluation.city = city.city
            evaluation.weeks = weeks_between(period.first_day, period.last_day, evaluation.city)
            table = agency_rows(
                evaluation, known, self._plain(job, "stats.file.city"), only=agency_id
            )
            parts = await asyncio.to_thread(output.finish, table)
        except BaseException:
            if writing is not None:  # the worker thread still writes: let it end first
                with contextlib.suppress(BaseException):
                    await asyncio.shield(writing)
            output.discard()
            raise
        return Export(parts, done, evaluation, known, output.extension)

    def _uploads(self, job: ReportJob, export: Export, period: Period) -> list[tuple[str, str]]:
        """Each part's file name and caption (a single part keeps the plain name)."""
        label = job.kind.upper() if job.kind in ("xlsx", "csv") else "XLSX"
        count = len(export.parts)
        if count == 1:
            values = {"format": label, "period": period.label, "total": export.rows}
            done = self._t(job, "stats.export_done", **values)
            return [(f"aduan-{period.slug}.{export.extension}", done)]
        return [
            (
                f"aduan-{period.slug}-part{number}.{export.extension}",
                self._t(
                    job,
                    "exports.part_caption",
                    format=label,
                    period=period.label,
                    part=number,
                    parts=count,
                    rows=part.rows,
                    first=part.first[:10],
                    last=part.last[:10],
                ),
            )
            for number, part in enumerate(export.parts, start=1)
        ]

    async def _send_parts(
        self,
        job: ReportJob,
        export: Export,
        period: Period,
        shown: Callable[[int, int], Any] | None = None,
    ) -> None:
        """Upload the parts in order, one in memory at a time; ``shown(part, parts)`` first."""
        uploads = self._uploads(job, export, period)
        for number, (part, (filename, caption)) in enumerate(
            zip(export.parts, uploads, strict=True), start=1
        ):
            if shown is not None:
                await shown(number, len(uploads))
            data = await asyncio.to_thread(part.read)
            await self.sender.send(job.chat_id, Upload(filename, data, caption=caption))
            del data

    async def _export(self, job: ReportJob, staff: Staff, period: Period) -> None:
        label = job.kind.upper()
        values = {"format": label, "period": period.label}
        message_id = await self.sender.send(
            job.chat_id, Message(self._t(job, "stats.export_progress", **values, done=0, total="…"))
        )
        last = time.monotonic()

        async def edit(text: str, *, always: bool = False) -> None:
            # At most one edit every ``progress_every`` seconds (Telegram limits edits too).
            nonlocal last
            if message_id is None or (not always and time.monotonic() - last < self.progress_every):
                return
            last = time.monotonic()
            try:
                await self.sender.send(job.chat_id, EditMessage(message_id, text))
            except Exception:  # a lost progress edit (e.g. a 429) must not lose the export
                log.warning("progress edit of job %s failed", job.id, exc_info=True)

        async def progress(done: int, total: int) -> None:
            await edit(self._t(job, "stats.export_progress", **values, done=done, total=total))

        async def sending(part: int, parts: int) -> None:
            if parts > 1:
                await edit(self._t(job, "exports.sending", **values, part=part, parts=parts))

        export = await self.build_export(
            job=job, staff=staff, period=period, kind=job.kind, progress=progress
        )
        with export:
            await self._send_parts(job, export, period, sending)
            count = len(export.parts)
            if count == 1:
                done_text = self._t(job, "stats.export_done", **values, total=export.rows)
            else:
                done_text = self._t(
                    job,
                    "exports.done_parts",
                    **values,
                    total=export.rows,
                    parts=count,
                    limit=max(self.part_limit // 1_000_000, 1),
                )
                if job.kind == "xlsx":
                    done_text += " " + self._t(job, "exports.summary_last")
            await edit(done_text, always=True)

    async def _monthly(self, job: ReportJob, staff: Staff, period: Period) -> None:
        export = await self.build_export(job=job, staff=staff, period=period, kind="xlsx")
        with export:
            async with UnitOfWork(self.sessions) as uow:
                overdue, _ = await overdue_now(
                    session=uow.session, now=self.clock(), agency_id=None, limit=1
                )
            pdf = await asyncio.to_thread(
                monthly_report_pdf,
                translator=self.translator,
                locale=job.locale,
                evaluation=export.evaluation,
                known=export.names,
                period=period,
                overdue=overdue,
                made_at=self.calendar.local(self.clock()),
            )
            caption = self._t(job, "stats.monthly_caption", period=period.label)
            await self.sender.send(
                job.chat_id, Upload(f"evaluasi-{period.slug}.pdf", pdf, caption=caption)
            )
            await self._send_parts(job, export, period)


@dataclass
class Export:
    """A finished export: its parts (temporary files, deleted on ``close``), how many rows
    they hold, and the period's figures."""

    parts: list[Part]
    rows: int
    evaluation: Evaluation
    names: Names
    extension: str

    def close(self) -> None:
        """Delete the parts' files."""
        for part in self.parts:
            part.close()

    def __enter__(self) -> Export:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
