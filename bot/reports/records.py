"""Reports as export rows, with privacy applied by the requester's role.

Export columns (the XLSX "reports" sheet and the CSV, in this order; the CSV header uses the
keys, the XLSX header the catalog's labels ``stats.column.<key>``): tracking_code,
submitted_at, kind, category, agency, channel, privacy, status, district, address,
description, reporter, assigned_at, acknowledged_at, resolved_at, closed_at, verify_due_at,
first_response_due_at, completion_due_at, days_to_verification, days_to_first_follow_up,
days_to_resolution, verify_on_time, first_response_on_time, completion_on_time, reopen_count,
verdict, rating. Moments are local (``settings.timezone``) ``YYYY-MM-DD HH:MM``; kinds,
channels, privacy, statuses, verdicts and the *_on_time answers are the catalog's words in the
requester's language (``CellLabels``; *_on_time is yes / no / empty, see
``bot.core.stats.measure``); days are working days with two decimals.

Privacy: an anonymous reporter's identity is in no export, whoever asks; viewers (evaluators)
get no identity at all; a confidential report's description and address are redacted for
everyone but superadmins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.i18n import Translator
from bot.core.lifecycle import Channel, Privacy, ReportKind, Role, Status, Verdict
from bot.core.stats import Measured, WorkingClock
from bot.reports.tables import plain
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
class CellLabels:
    """The catalog's words for the coded columns in one language: stored code -> label."""

    kind: dict[str, str]
    channel: dict[str, str]
    privacy: dict[str, str]
    status: dict[str, str]
    verdict: dict[str | None, str]  # None (no verdict): empty
    on_time: dict[bool | None, str]  # True yes, False no, None (not counted): empty


def cell_labels(translator: Translator, locale: str) -> CellLabels:
    """The coded columns' words in ``locale`` (plain text: no markup in a spreadsheet)."""

    def label(key: str) -> str:
        return plain(translator, locale, key)

    verdicts: dict[str | None, str] = {v.value: label(f"stats.verdict.{v}") for v in Verdict}
    verdicts[None] = ""
    return CellLabels(
        kind={k.value: label(f"stats.kind.{k}") for k in ReportKind},
        channel={c.value: label(f"channel.{c}") for c in Channel},
        privacy={p.value: label(f"stats.privacy.{p}") for p in Privacy},
        status={s.value: label(f"stats.status.{s}") for s in Status},
        verdict=verdicts,
        on_time={True: label("stats.yes"), False: label("stats.no"), None: ""},
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
    # The coded columns' words in the requester's language (``cell_labels``).
    labels: CellLabels


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


def records(
    rows: Sequence[ExportRow],
    measured: Sequence[Measured],
    *,
    policy: RecordPolicy,
    names: Names,
    clock: WorkingClock,
) -> list[list[Any]]:
    """The export columns of each report (``measured``: its ``bot.core.stats.measure``).

    A year is a million rows: the look-ups are made once a batch, and a cell's text is built
    inline rather than by a function call per cell.
    """
    labels = policy.labels
    kinds, channels, privacies, statuses = (
        labels.kind,
        labels.channel,
        labels.privacy,
        labels.status,
    )
    verdicts, on_time = labels.verdict, labels.on_time
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
    for row, figures in zip(rows, measured, strict=True):
        report = row.report
        (
            status,
            kind,
            category_id,
            agency_id,
            channel,
            submitted,
            assigned,
            acknowledged,
            resolved,
            closed,
            verify_due,
            first_due,
            completion_due,
            reopen_count,
            verdict,
            rating,
        ) = report
        to_verify, to_first, to_done, verify_met, first_met, done_met, _, _ = figures
        privacy = row.privacy
        secret = privacy == Privacy.CONFIDENTIAL and not superadmin
        category = categories.get(category_id)
        append(
            [
                row.tracking_code,
                text(submitted),
                kinds.get(kind, kind),
                str(category_id) if category is None else category,
                unassigned if agency_id is None else agencies.get(agency_id, unassigned),
                channels.get(channel, channel),
                privacies.get(privacy, privacy),
                statuses.get(status, status),
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
                on_time[verify_met],
                on_time[first_met],
                on_time[done_met],
                reopen_count,
                verdicts.get(verdict, verdict),
                "" if rating is None else rating,
            ]
        )
    return out
