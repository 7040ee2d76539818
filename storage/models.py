"""The tables — the nouns of shared/ARCHITECTURE.md. Enums are stored as plain strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
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
    text: str | None = Field(default=None, sa_type=Text)
    citizen_visible: bool = True


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
