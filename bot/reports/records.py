"""One report as an export row, with privacy applied by the requester's role.

Export columns (the XLSX "reports" sheet and the CSV, in this order; the CSV header uses the
keys, the XLSX header the catalog's labels ``stats.column.<key>``): tracking_code,
submitted_at, kind, category, agency, channel, privacy, status, district, address,
description, reporter, assigned_at, acknowledged_at, resolved_at, closed_at, verify_due_at,
first_response_due_at, completion_due_at, days_to_verification, days_to_first_follow_up,
days_to_resolution, verify_on_time, first_response_on_time, completion_on_time, reopen_count,
verdict, rating. Moments are local (``settings.timezone``) ``YYYY-MM-DD HH:MM``; kinds, channels,
privacy, statuses and verdicts are the stable codes; *_on_time is ``yes``/``no``/empty (see
``bot.core.stats.compliance``); days are working days with two decimals.

Privacy: an anonymous reporter's identity is in no export, whoever asks; viewers (evaluators)
get no identity at all; a confidential report's description and address are redacted for
everyone but superadmins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.lifecycle import Privacy, Role
from bot.core.stats import Measured, Stage, WorkingClock
from storage.stats import ExportRow, Names

COLUMNS = (
    "tracking_code",
    "submitted_at",
    "kind",
    "category",
    "agency",
    "channel",
    "privacy",
    "status",
    "district",
    "address",
    "description",
    "reporter",
    "assigned_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
    "verify_due_at",
    "first_response_due_at",
    "completion_due_at",
    "days_to_verification",
    "days_to_first_follow_up",
    "days_to_resolution",
    "verify_on_time",
    "first_response_on_time",
    "completion_on_time",
    "reopen_count",
    "verdict",
    "rating",
)


@dataclass(frozen=True)
class RecordPolicy:
    """What the requester may see, and the words that stand in for what they may not."""

    role: Role
    redacted: str
    anonymous: str
    hidden: str
    unassigned: str
    locale: str


def _when(stamp: float | None, clock: WorkingClock) -> str:
    return "" if stamp is None else clock.local_text(stamp)


def _days(value: float | None) -> float | str:
    return "" if value is None else round(value, 2)


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def reporter(row: ExportRow, policy: RecordPolicy) -> str:
    """Who reported, as far as the requester may know."""
    if row.privacy == Privacy.ANONYMOUS:
        return policy.anonymous
    if policy.role is Role.VIEWER:
        return policy.hidden
    parts = []
    name = " ".join(p for p in (row.citizen_first_name, row.citizen_last_name) if p)
    if name:
        parts.append(name)
    if row.citizen_username:
        parts.append(f"@{row.citizen_username}")
    parts.extend(p for p in (row.reporter_name, row.reporter_contact) if p)
    return "; ".join(parts)


def record(
    row: ExportRow,
    *,
    policy: RecordPolicy,
    names: Names,
    clock: WorkingClock,
    spans: dict[Stage, float | None],
    outcomes: dict[Stage, bool | None],
) -> list[Any]:
    """The export columns of one report, privacy applied (``bot.core.stats.measure`` first)."""
    report = row.report
    secret = row.privacy == Privacy.CONFIDENTIAL and policy.role is not Role.SUPERADMIN
    return [
        row.tracking_code,
        clock.local_text(report.submitted_at),
        report.kind,
        names.category(report.category_id, policy.locale),
        names.agency(report.agency_id, policy.unassigned),
        report.channel,
        row.privacy,
        report.status,
        row.district or "",
        policy.redacted if secret and row.address else (row.address or ""),
        policy.redacted if secret else row.description,
        reporter(row, policy),
        _when(report.assigned_at, clock),
        _when(report.acknowledged_at, clock),
        _when(report.resolved_at, clock),
        _when(report.closed_at, clock),
        _when(report.verify_due_at, clock),
        _when(report.first_response_due_at, clock),
        _when(report.completion_due_at, clock),
        _days(spans[Stage.VERIFY]),
        _days(spans[Stage.FIRST_RESPONSE]),
        _days(spans[Stage.COMPLETION]),
        _yes_no(outcomes[Stage.VERIFY]),
        _yes_no(outcomes[Stage.FIRST_RESPONSE]),
        _yes_no(outcomes[Stage.COMPLETION]),
        report.reopen_count,
        report.verdict or "",
        "" if report.rating is None else report.rating,
    ]


def records(
    rows: Sequence[ExportRow],
    measured: Sequence[Measured],
    *,
    policy: RecordPolicy,
    names: Names,
    clock: WorkingClock,
) -> list[list[Any]]:
    """``record`` for a batch (same columns), with the per-row lookups made once a batch."""
    text = clock.local_text
    locale_en = policy.locale == "en"
    categories = {key: (en if locale_en else id_) for key, (id_, en) in names.categories.items()}
    agencies = names.agencies
    unassigned = policy.unassigned
    redacted = policy.redacted
    superadmin = policy.role is Role.SUPERADMIN
    # Deadlines fall on few distinct moments (ends of working days): their text is kept.
    due: dict[float, str] = {}
    keep = due.setdefault
    out: list[list[Any]] = []
    append = out.append
    for row, (to_verify, to_first, to_done, verify_ok, first_ok, done_ok) in zip(
        rows, measured, strict=True
    ):
        report = row.report
        secret = row.privacy == Privacy.CONFIDENTIAL and not superadmin
        category_id = report.category_id
        agency_id = report.agency_id
        category = categories.get(category_id)
        assigned, acknowledged, resolved, closed = (
            report.assigned_at,
            report.acknowledged_at,
            report.resolved_at,
            report.closed_at,
        )
        verify_due, first_due, completion_due = (
            report.verify_due_at,
            report.first_response_due_at,
            report.completion_due_at,
        )
        rating = report.rating
        append(
            [
                row.tracking_code,
                text(report.submitted_at),
                report.kind,
                str(category_id) if category is None else category,
                unassigned if agency_id is None else agencies.get(agency_id, unassigned),
                report.channel,
                row.privacy,
                report.status,
                row.district or "",
                redacted if secret and row.address else (row.address or ""),
                redacted if secret else row.description,
                reporter(row, policy),
                "" if assigned is None else text(assigned),
                "" if acknowledged is None else text(acknowledged),
                "" if resolved is None else text(resolved),
                "" if closed is None else text(closed),
                ""
                if verify_due is None
                else due.get(verify_due) or keep(verify_due, text(verify_due)),
                "" if first_due is None else due.get(first_due) or keep(first_due, text(first_due)),
                ""
                if completion_due is None
                else due.get(completion_due) or keep(completion_due, text(completion_due)),
                "" if to_verify is None else round(to_verify, 2),
                "" if to_first is None else round(to_first, 2),
                "" if to_done is None else round(to_done, 2),
                "" if verify_ok is None else ("yes" if verify_ok else "no"),
                "" if first_ok is None else ("yes" if first_ok else "no"),
                "" if done_ok is None else ("yes" if done_ok else "no"),
                report.reopen_count,
                report.verdict or "",
                "" if rating is None else rating,
            ]
        )
    return out
