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


class Role(StrEnum):
    """What a staff member may do."""

    SUPERADMIN = "superadmin"
    AGENCY_ADMIN = "agency_admin"
    VIEWER = "viewer"


class Action(StrEnum):
    """Everything that can happen to a submitted report."""

    FORWARD = "forward"
    REJECT = "reject"
    ASK = "ask"
    ANSWER = "answer"
    ACKNOWLEDGE = "acknowledge"
    PROGRESS = "progress"
    NOTE = "note"
    RESOLVE = "resolve"
    HAND_BACK = "hand_back"
    RECLASSIFY = "reclassify"
    PRIVACY = "privacy"
    REOPEN = "reopen"
    CLOSE = "close"


class RejectReason(StrEnum):
    """Why a report cannot be handled (shared/DOMAIN.md)."""

    NOT_PUBLIC_SERVICE = "not_public_service"
    NOT_OUR_AUTHORITY = "not_our_authority"
    INCOMPLETE = "incomplete"
    DUPLICATE = "duplicate"
    ABUSIVE = "abusive"


# (action, role) -> the statuses it is allowed from. ``None`` as the role means the citizen.
# The agency roles additionally need the report to be assigned to their own agency.
ALLOWED: dict[tuple[Action, Role | None], frozenset[Status]] = {
    (Action.FORWARD, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.REJECT, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.ASK, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.RECLASSIFY, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.PRIVACY, Role.SUPERADMIN): frozenset(
        {Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS, Status.NEEDS_INFO}
    ),
    (Action.NOTE, Role.SUPERADMIN): frozenset(set(Status) - TERMINAL),
    (Action.ASK, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    (Action.ACKNOWLEDGE, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED}),
    (Action.PROGRESS, Role.AGENCY_ADMIN): frozenset({Status.IN_PROGRESS}),
    (Action.NOTE, Role.AGENCY_ADMIN): frozenset(
        {Status.ASSIGNED, Status.IN_PROGRESS, Status.NEEDS_INFO, Status.RESOLVED}
    ),
    (Action.RESOLVE, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    (Action.HAND_BACK, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    (Action.ANSWER, None): frozenset({Status.NEEDS_INFO}),
    (Action.REOPEN, None): frozenset({Status.RESOLVED}),
    (Action.CLOSE, None): frozenset({Status.RESOLVED}),
}

# Where an action leads; None keeps the status (notes, progress, reclassify, privacy), and
# ANSWER returns to the status the report had before the question.
TARGET: dict[Action, Status | None] = {
    Action.FORWARD: Status.ASSIGNED,
    Action.REJECT: Status.REJECTED,
    Action.ASK: Status.NEEDS_INFO,
    Action.ANSWER: None,
    Action.ACKNOWLEDGE: Status.IN_PROGRESS,
    Action.PROGRESS: None,
    Action.NOTE: None,
    Action.RESOLVE: Status.RESOLVED,
    Action.HAND_BACK: Status.SUBMITTED,
    Action.RECLASSIFY: None,
    Action.PRIVACY: None,
    Action.REOPEN: Status.ASSIGNED,
    Action.CLOSE: Status.CLOSED,
}

PRIVACY_STRICTNESS = (Privacy.PUBLIC, Privacy.ANONYMOUS, Privacy.CONFIDENTIAL)


def may(action: Action, role: Role | None, status: Status) -> bool:
    """Whether ``role`` (None: the citizen) may take ``action`` on a report in ``status``."""
    return status in ALLOWED.get((action, role), frozenset())


def next_status(action: Action, current: Status, before_question: Status | None) -> Status:
    """The status after ``action``; an answer returns to where the report was before asking."""
    if action is Action.ANSWER:
        return before_question or Status.SUBMITTED
    return TARGET[action] or current


def is_stricter(new: Privacy, old: Privacy) -> bool:
    """Privacy can only be tightened by staff, never loosened."""
    return PRIVACY_STRICTNESS.index(new) > PRIVACY_STRICTNESS.index(old)
