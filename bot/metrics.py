"""Prometheus metrics: one ``Metrics`` (its own ``CollectorRegistry``) per app.

bot/app.py builds it and hands it to the processor (updates by kind and outcome, processing
time), the outbox dispatcher (deliveries by outcome), the scheduler's jobs (runs and failures
by job) and the HTTP server (bot/observability.py), which fills the database gauges at scrape
time (``read_database``) and serves ``/metrics``. Not the process-wide default registry, so a
test can build several apps side by side.

The hot path costs one counter increment and one histogram observation per update: the
labelled children are made once, here.

The gauges read from the database at scrape time: the outbox backlog and the age of the oldest
due notification, reports by status, overdue reports by status: four small queries (the outbox
ones walk the indexes of rows in flight, the report ones are one grouped count each). Measured
with 10,000 reports and 20,000 notifications (2,000 pending): a scrape's queries take ~7 ms on
SQLite and ~9 ms on PostgreSQL (median of 30), so nothing is cached.

Nothing personal or secret is a label value (rule 11): kinds, outcomes, job ids and statuses
only; never a chat, a user or a tracking code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.lifecycle import OPEN, Status
from storage.complaints import active_deadline
from storage.models import Complaint, Notification

UPDATE_KINDS = ("message", "command", "callback", "edited", "other")
UPDATE_OUTCOMES = ("ok", "error", "duplicate", "db_unavailable")
DELIVERY_OUTCOMES = ("sent", "retried", "dead", "unreachable")
DATABASE_ERROR_SOURCES = ("updates", "jobs", "readyz", "metrics")
# Processing an update takes milliseconds; a slow database or a lock wait takes seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The outbox's own states (storage/outbox.py NotificationStatus): not yet delivered.
_PENDING, _SENDING = "pending", "sending"


@dataclass(frozen=True)
class DatabaseReadings:
    """What the gauges show, read in one go."""

    backlog: int
    oldest_due: datetime | None
    reports: dict[str, int]
    overdue: dict[str, int]


class Metrics:
    """The app's instruments, on its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry if registry is not None else CollectorRegistry()
        updates = Counter(
            "aduan_updates",
            "Updates processed, by kind and outcome (an update retried during a database "
            "outage counts db_unavailable once per attempt).",
            ["kind", "outcome"],
            registry=registry,
        )
        self._updates = {
            (kind, outcome): updates.labels(kind, outcome)
            for kind in UPDATE_KINDS
            for outcome in UPDATE_OUTCOMES
        }
        self.update_seconds = Histogram(
            "aduan_update_processing_seconds",
            "Time to process one update (one transaction), in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        deliveries = Counter(
            "aduan_outbox_deliveries",
            "Notification delivery outcomes recorded by the outbox dispatcher.",
            ["outcome"],
            registry=registry,
        )
        self._deliveries = {outcome: deliveries.labels(outcome) for outcome in DELIVERY_OUTCOMES}
        self.job_runs = Counter(
            "aduan_job_runs",
            "Scheduled job runs (ticks skipped during a database outage are not runs).",
            ["job"],
            registry=registry,
        )
        self.job_failures = Counter(
            "aduan_job_failures", "Scheduled job runs that failed.", ["job"], registry=registry
        )
        errors = Counter(
            "aduan_database_errors",
            "Database connection errors, by where they were met.",
            ["source"],
            registry=registry,
        )
        self._database_errors = {source: errors.labels(source) for source in DATABASE_ERROR_SOURCES}
        self.database_up = Gauge(
            "aduan_database_up",
            "1 when the database answered the last scrape's queries, else 0.",
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "aduan_outbox_backlog",
            "Notifications not delivered yet (pending or being sent), read at scrape time.",
            registry=registry,
        )
        self.outbox_oldest_due = Gauge(
            "aduan_outbox_oldest_due_seconds",
            "How long the oldest due notification has waited (0: none due).",
            registry=registry,
        )
        self.reports = Gauge(
            "aduan_reports",
            "Reports by status, read at scrape time.",
            ["status"],
            registry=registry,
        )
        self.reports_overdue = Gauge(
            "aduan_reports_overdue",
            "Open reports past the deadline of their status, read at scrape time.",
            ["status"],
            registry=registry,
        )

    def observe_update(self, kind: str, outcome: str, seconds: float) -> None:
        """One processed update (the hot path: one increment, one observation)."""
        self._updates[(kind, outcome)].inc()
        self.update_seconds.observe(seconds)

    def delivered(self, outcome: str) -> None:
        """One notification outcome recorded by the dispatcher (others, e.g. deferred, are not
        counted)."""
        counter = self._deliveries.get(outcome)
        if counter is not None:
            counter.inc()

    def database_error(self, source: str) -> None:
        """A connection-level database error met by ``source``."""
        self._database_errors[source].inc()

    def show(self, readings: DatabaseReadings | None, now: datetime) -> None:
        """Set the database gauges (None: the database did not answer; they keep their last
        values and ``aduan_database_up`` is 0)."""
        if readings is None:
            self.database_up.set(0)
            return
        self.database_up.set(1)
        self.outbox_backlog.set(readings.backlog)
        self.outbox_oldest_due.set(age_seconds(readings.oldest_due, now))
        for status in Status:
            self.reports.labels(status.value).set(readings.reports.get(status.value, 0))
        for status in sorted(OPEN):
            self.reports_overdue.labels(status.value).set(readings.overdue.get(status.value, 0))

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def age_seconds(moment: datetime | None, now: datetime) -> float:
    """Seconds from ``moment`` to ``now`` (0 for None or the future)."""
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


async def oldest_due_notification(*, session: AsyncSession, now: datetime) -> datetime | None:
    """When the oldest due notification (pending, ``not_before`` passed) became due."""
    query = select(func.min(col(Notification.not_before))).where(
        col(Notification.status) == _PENDING, col(Notification.not_before) <= now
    )
    return (await session.exec(query)).one()


async def read_database(*, session: AsyncSession, now: datetime) -> DatabaseReadings:
    """The gauges' values: outbox backlog and oldest due row, reports by status, overdue ones
    by status (one grouped query each)."""
    backlog = (
        await session.exec(
            select(func.count())
            .select_from(Notification)
            .where(col(Notification.status).in_((_PENDING, _SENDING)))
        )
    ).one()
    oldest_due = await oldest_due_notification(session=session, now=now)
    by_status = (
        await session.exec(
            select(col(Complaint.status), func.count()).group_by(col(Complaint.status))
        )
    ).all()
    overdue = (
        await session.exec(
            select(col(Complaint.status), func.count())
            .where(col(Complaint.status).in_(sorted(OPEN)), active_deadline() < now)
            .group_by(col(Complaint.status))
        )
    ).all()
    return DatabaseReadings(
        backlog=int(backlog),
        oldest_due=oldest_due,
        reports={str(status): int(count) for status, count in by_status},
        overdue={str(status): int(count) for status, count in overdue},
    )
