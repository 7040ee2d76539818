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
    # Sent by another civic system through the Open311 API (bot/opendata/open311.py).
    OPEN311 = "open311"


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
    """Everything that can happen to a report; each is one function in bot/casework."""

    SUBMIT = "submitted"  # stored as "submitted" since the first release
    CLAIM = "claimed"
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
    RATE = "rate"


class Verdict(StrEnum):
    """The citizen's judgement of a follow-up."""

    FIXED = "fixed"
    PARTLY = "partly"
    NOT_FIXED = "not_fixed"


class RejectReason(StrEnum):
    """Why a report cannot be handled (shared/DOMAIN.md)."""

    NOT_PUBLIC_SERVICE = "not_public_service"
    NOT_OUR_AUTHORITY = "not_our_authority"
    INCOMPLETE = "incomplete"
    DUPLICATE = "duplicate"
    ABUSIVE = "abusive"


class Deadline(StrEnum):
    """The three clocks of shared/DOMAIN.md, each stored in its own column."""

    VERIFY = "verify"
    FIRST_RESPONSE = "first_response"
    COMPLETION = "completion"

    @property
    def field(self) -> str:
        """The Complaint column holding this deadline."""
        return f"{self.value}_due_at"


# THE table of which deadline runs in which status. needs_info pauses the clock (the
# deadline of the status returned to moves on by the pause); resolved waits for the citizen.
RUNNING_DEADLINE: dict[Status, Deadline] = {
    Status.SUBMITTED: Deadline.VERIFY,
    Status.ASSIGNED: Deadline.FIRST_RESPONSE,
    Status.IN_PROGRESS: Deadline.COMPLETION,
}

# The deadline an action starts (its length comes from the settings, see bot/casework).
STARTS_DEADLINE: dict[Action, Deadline] = {
    Action.SUBMIT: Deadline.VERIFY,
    Action.HAND_BACK: Deadline.VERIFY,
    Action.FORWARD: Deadline.FIRST_RESPONSE,
    Action.REOPEN: Deadline.FIRST_RESPONSE,
    Action.ACKNOWLEDGE: Deadline.COMPLETION,
}

OPEN = frozenset(RUNNING_DEADLINE)
NOT_TERMINAL = frozenset(set(Status) - TERMINAL)

# Who acts: a staff role, the report's own citizen, or the system (scheduled duties).
Party = Role | Actor

# (action, party) -> the statuses it is allowed from. The agency roles additionally need the
# report to be assigned to their own agency; the citizen must be the report's own citizen.
ALLOWED: dict[tuple[Action, Party], frozenset[Status]] = {
    (Action.FORWARD, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.REJECT, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.ASK, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.RECLASSIFY, Role.SUPERADMIN): frozenset({Status.SUBMITTED}),
    (Action.PRIVACY, Role.SUPERADMIN): frozenset(
        {Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS, Status.NEEDS_INFO}
    ),
    (Action.NOTE, Role.SUPERADMIN): NOT_TERMINAL,
    (Action.ASK, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    (Action.ACKNOWLEDGE, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED}),
    (Action.PROGRESS, Role.AGENCY_ADMIN): frozenset({Status.IN_PROGRESS}),
    (Action.NOTE, Role.AGENCY_ADMIN): frozenset(
        {Status.ASSIGNED, Status.IN_PROGRESS, Status.NEEDS_INFO, Status.RESOLVED}
    ),
    (Action.RESOLVE, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    (Action.HAND_BACK, Role.AGENCY_ADMIN): frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    (Action.ANSWER, Actor.CITIZEN): frozenset({Status.NEEDS_INFO}),
    (Action.REOPEN, Actor.CITIZEN): frozenset({Status.RESOLVED}),
    (Action.CLOSE, Actor.CITIZEN): frozenset({Status.RESOLVED}),
    # The rating follows the verdict: after closing, or after reopening ("not fixed").
    (Action.RATE, Actor.CITIZEN): frozenset(set(Status) - {Status.REJECTED}),
    (Action.CLAIM, Actor.CITIZEN): frozenset(Status),
    (Action.CLOSE, Actor.SYSTEM): frozenset({Status.RESOLVED}),
}

# Where an action leads; None keeps the status (notes, progress, reclassify, privacy, rating,
# claim), and ANSWER returns to the status the report had before the question.
TARGET: dict[Action, Status | None] = {
    Action.SUBMIT: Status.SUBMITTED,
    Action.CLAIM: None,
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
    Action.RATE: None,
}

PRIVACY_STRICTNESS = (Privacy.PUBLIC, Privacy.ANONYMOUS, Privacy.CONFIDENTIAL)


def may(action: Action, party: Party, status: Status) -> bool:
    """Whether ``party`` may take ``action`` on a report in ``status``."""
    return status in ALLOWED.get((action, party), frozenset())


def next_status(action: Action, current: Status, before_question: Status | None) -> Status:
    """The status after ``action``; an answer returns to where the report was before asking."""
    if action is Action.ANSWER:
        return before_question or Status.SUBMITTED
    return TARGET[action] or current


def running_deadline(status: Status | str) -> Deadline | None:
    """The deadline that runs while a report is in ``status`` (None: no clock runs)."""
    return RUNNING_DEADLINE.get(Status(status))


def is_stricter(new: Privacy, old: Privacy) -> bool:
    """Privacy can only be tightened by staff, never loosened."""
    return PRIVACY_STRICTNESS.index(new) > PRIVACY_STRICTNESS.index(old)
