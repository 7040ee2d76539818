"""Casework: THE ONLY CODE THAT CHANGES A REPORT (shared/ARCHITECTURE.md, rule 10).

One function per action, each taking a ``Work`` (the explicit actor — citizen, staff member or
the system —, the session of the caller's transaction and ``now``): it locks the report row
whether it was named by id or tracking code, checks the transition against the lifecycle table
in ``bot/core/lifecycle.py``, sets the deadline that table says the action starts, appends the
history event and writes the outbox notices. Handlers, duties, the sandbox scenario and the
offline intake all call these; ``tests/unit/test_casework_owns_reports.py`` keeps it so.

- ``work``: actors, ``Office`` (the rules), ``Work``, authorisation (``can_view``, ``allowed``)
- ``cases``: finding and locking a report (``find``, ``take``) and moving its status (``move``)
- ``intake``: submit, register offline, claim
- ``handling``: forward, reject, ask, acknowledge, progress, note, resolve, hand back,
  change category / kind, tighten privacy
- ``citizen``: answer, close with a verdict, reopen, rate
- ``system``: auto-close
- ``history``: appending events and saying them in a reader's language
- ``notices``: messages to others, rendered in their language, through the outbox
"""

from bot.casework.work import (
    SYSTEM,
    Acting,
    CitizenActor,
    Denied,
    Office,
    StaffActor,
    SystemActor,
    Work,
    allowed,
    can_view,
)

__all__ = [
    "SYSTEM",
    "Acting",
    "CitizenActor",
    "Denied",
    "Office",
    "StaffActor",
    "SystemActor",
    "Work",
    "allowed",
    "can_view",
]
