"""The report's vocabulary and lifecycle (see shared/DOMAIN.md): framework- and ORM-free."""

from __future__ import annotations

from enum import StrEnum


class ReportKind(StrEnum):
    """What the citizen is sending."""

    COMPLAINT = "complaint"
    ASPIRATION = "aspiration"
    INFORMATION = "information"


class Privacy(StrEnum):
    """Who may see the report; the flag decides rendering, nobody has to remember it."""

    PUBLIC = "public"
    ANONYMOUS = "anonymous"
    CONFIDENTIAL = "confidential"


class Channel(StrEnum):
    """Where the report came in."""

    TELEGRAM = "telegram"
    WALK_IN = "walk_in"
    COMPLAINT_BOX = "complaint_box"
    PHONE = "phone"
    LETTER = "letter"
    SMS = "sms"
    EMAIL = "email"
    SOCIAL_MEDIA = "social_media"


class Status(StrEnum):
    """Lifecycle states; ``draft`` lives in the conversation, not in the complaints table."""

    SUBMITTED = "submitted"
    NEEDS_INFO = "needs_info"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"


TERMINAL = frozenset({Status.CLOSED, Status.REJECTED})


class Actor(StrEnum):
    """Who caused an event in a report's history."""

    CITIZEN = "citizen"
    STAFF = "staff"
    SYSTEM = "system"
