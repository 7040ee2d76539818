"""The tables — the nouns of shared/ARCHITECTURE.md. Enums are stored as plain strings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    """The current moment, aware, in UTC."""
    return datetime.now(UTC)


class Citizen(SQLModel, table=True):
    """A person who reports; offline reporters may have no Telegram account (yet)."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int | None = Field(default=None, sa_type=BigInteger, unique=True, index=True)
    first_name: str = Field(default="", max_length=128)
    last_name: str | None = Field(default=None, max_length=128)
    username: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=8)
    reachable: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


class Agency(SQLModel, table=True):
    """An agency (OPD) that handles reports."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    short_name: str = Field(max_length=64)
    active: bool = True


class Category(SQLModel, table=True):
    """A report category, with the agency reports of it usually go to."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name_id: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    position: int = 0
    active: bool = True

    def name(self, locale: str) -> str:
        """The category's name in a locale (Indonesian when there is no translation)."""
        return self.name_en if locale == "en" else self.name_id


class Complaint(SQLModel, table=True):
    """One report (pengaduan, aspirasi or permintaan informasi) after submission."""

    __table_args__ = (
        UniqueConstraint("year", "sequence", name="uq_complaint_year_sequence"),
        Index("ix_complaint_citizen_submitted", "citizen_id", "submitted_at"),
        # Statistics and exports select a period of submissions, city-wide or per agency.
        Index("ix_complaint_submitted", "submitted_at"),
        Index("ix_complaint_agency_submitted", "agency_id", "submitted_at"),
        # The case card's possible duplicates: same category, a window of submissions, read
        # from the index alone (a busy category has tens of thousands of reports in the window).
        Index(
            "ix_complaint_category_submitted",
            "category_id",
            "submitted_at",
            "latitude",
            "longitude",
            "address",
            "id",
        ),
        # Inboxes, the deadline scans and the overdue list filter by status (and agency) and
        # order by the deadline running in the status: all of it read from this index alone.
        Index(
            "ix_complaint_waiting",
            "status",
            "agency_id",
            "verify_due_at",
            "first_response_due_at",
            "completion_due_at",
            "id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tracking_code: str = Field(max_length=24, unique=True, index=True)
    year: int
    sequence: int
    kind: str = Field(max_length=16)
    category_id: int = Field(foreign_key="category.id")
    description: str = Field(sa_type=Text)
    incident_date: datetime | None = Field(default=None, sa_type=UTCDateTime())
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = Field(default=None, max_length=500)
    district: str | None = Field(default=None, max_length=100)
    privacy: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id")
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    status: str = Field(max_length=16, index=True)
    submitted_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    verify_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    version: int = 1
    # Offline reports: who brought it in, how to reach them, and the link that lets them claim it.
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_contact: str | None = Field(default=None, max_length=200)
    claim_token: str | None = Field(default=None, max_length=64, unique=True)
    # Handling: each step's moment and the deadlines that follow from it.
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    first_response_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    field_inspection: bool | None = None
    completion_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    handed_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    reject_reason: str | None = Field(default=None, max_length=32)
    duplicate_of_id: int | None = Field(default=None, foreign_key="complaint.id")
    # needs_info pauses the clock and remembers where to return when the citizen answers.
    status_before_question: str | None = Field(default=None, max_length=16)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    reopen_count: int = 0
    verdict: str | None = Field(default=None, max_length=16)
    rating: int | None = None


class Attachment(SQLModel, table=True):
    """A media item of a report, kept as a Telegram file id."""

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    kind: str = Field(max_length=16)
    file_id: str = Field(max_length=256)
    file_unique_id: str = Field(max_length=128)
    caption: str | None = Field(default=None, max_length=1024)
    size: int | None = None
    position: int = 0
    # Media that came with a history event (a citizen's answer, the agency's follow-up).
    event_id: int | None = Field(default=None, foreign_key="complaintevent.id", index=True)


class ComplaintEvent(SQLModel, table=True):
    """One step of a report's history; append-only: it is the audit trail."""

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    actor: str = Field(max_length=16)
    actor_id: int | None = Field(default=None, sa_type=BigInteger)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    # A code the reader sees through the catalog (verdict, channel, privacy, reason, rating,
    # ``category:<code>`` / ``kind:<value>``); ``text`` holds only what a person wrote.
    detail: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, sa_type=Text)
    citizen_visible: bool = True


class Staff(SQLModel, table=True):
    """A city admin, agency liaison officer or viewer, known by Telegram id."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    username: str | None = Field(default=None, max_length=64)
    role: str = Field(max_length=16)
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


class ApiKey(SQLModel, table=True):
    """A key for writing through the Open311 API; only the SHA-256 of its secret is kept."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    # The superadmin who issued it (None: issued with the ``aduan apikey`` command line).
    created_by: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class StaffInvite(SQLModel, table=True):
    """A one-time link that makes whoever opens it a staff member with the given role."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    created_by_id: int = Field(foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    used_by: int | None = Field(default=None, sa_type=BigInteger)


class Notification(SQLModel, table=True):
    """The outbox: a message for someone other than the acting user, sent by the dispatcher.

    Written in the same transaction as the change it tells about; delivered once, in order
    per chat. ``status``: pending → sending → sent | dead | unreachable.
    """

    __table_args__ = (
        Index("ix_notification_due", "status", "not_before"),
        Index("ix_notification_chat_order", "chat_id", "id"),
        # The dispatcher's claim (storage.outbox.claim_due) walks the rows in flight in id order
        # and looks up, per chat, earlier rows in flight and the last sending; without these
        # two each claim would scan every row ever sent.
        Index(
            "ix_notification_in_flight",
            "id",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_notification_chat_status", "chat_id", "status", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    audience: str = Field(max_length=16)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id")
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    status: str = Field(default="pending", max_length=16)
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime())
    last_error: str | None = Field(default=None, sa_type=Text)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    message_id: int | None = Field(default=None, sa_type=BigInteger)


class Conversation(SQLModel, table=True):
    """Where a chat is in a flow, with the draft so far; lives here so restarts lose nothing."""

    __table_args__ = (UniqueConstraint("chat_id", "user_id", name="uq_conversation_chat_user"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    user_id: int = Field(sa_type=BigInteger)
    flow: str = Field(max_length=32)
    step: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    version: int = 1


class ProcessedUpdate(SQLModel, table=True):
    """A Telegram update already handled, so a redelivery is skipped."""

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    processed_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime(), nullable=False, index=True
    )


class TrackingCounter(SQLModel, table=True):
    """The last tracking sequence handed out per prefix and year."""

    prefix: str = Field(max_length=8, primary_key=True)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class ReportJob(SQLModel, table=True):
    """A statistics answer, export or monthly report, made in the background (bot/reports).

    Written by the /stats and /export handlers (or the monthly schedule) and picked up by
    ``bot.reports.runner.ReportRunner`` outside any update's transaction. ``status``:
    pending → running → done | failed; a run whose lease ran out is claimed again.
    """

    __table_args__ = (Index("ix_reportjob_due", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    chat_id: int = Field(sa_type=BigInteger)
    staff_id: int = Field(foreign_key="staff.id")
    locale: str = Field(max_length=8)
    first_day: date
    last_day: date
    label: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime())
    dedupe_key: str | None = Field(default=None, max_length=100, unique=True)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
