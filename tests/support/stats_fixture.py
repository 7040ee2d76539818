"""A hand-computed month of reports (November 2026, WIB, Wednesday 18 Nov a holiday).

Expected figures (working days; see tests/integration/test_stats.py for the arithmetic):

| code | agency | status      | verify | first follow-up | resolution | notes                     |
|------|--------|-------------|--------|-----------------|------------|---------------------------|
| A    | PUPR   | closed      | 1.0 ✓  | 2.0 ✓           | 4.0 ✓      | anonymous, fixed, ★5      |
| B    | PUPR   | in_progress | 1.0 ✓  | 7.0 ✗           | —          | confidential              |
| C    | Dinkes | assigned    | 2.0 ✓  | open, overdue ✗ | —          | public                    |
| D    | —      | rejected    | 4.0 ✗  | —               | —          |                           |
| E    | —      | submitted   | open ✗ | —               | —          | offline, contact given    |
| F    | PUPR   | resolved    | —      | 1.0 ✓           | 12.0 ✓     | reopened, not fixed, ★2   |
| G    | Dinkes | in_progress | (October: outside the period, but overdue now)            |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.calendar import WorkingCalendar
from storage.models import Agency, Category, Citizen, Complaint, Staff

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 30 Nov 2026, 09:00 WIB
CALENDAR = WorkingCalendar(timezone=WIB, holidays={date(2026, 11, 18): "test holiday"})
ADMIN, VIEWER, OFFICER = 9001, 9004, 9002
SECRET = "Pungli di loket kantor kelurahan oleh petugas berinisial XY"


def wib(day: int, hour: int, month: int = 11, minute: int = 0, second: int = 0) -> datetime:
    """A local WIB moment as aware UTC."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=WIB).astimezone(UTC)


def end_of(day: int, month: int = 11) -> datetime:
    """Local 23:59:59 of a day (how deadlines are set)."""
    return wib(day, 23, month, 59, 59)


@dataclass
class Fixture:
    """Ids the tests need."""

    pupr: int
    dinkes: int
    codes: dict[str, str]


async def load_fixture(session: AsyncSession) -> Fixture:
    """Store the staff, citizens and reports A–G."""
    pupr = (await session.exec(select(Agency).where(Agency.code == "pupr"))).one()
    dinkes = (await session.exec(select(Agency).where(Agency.code == "dinkes"))).one()
    category = (await session.exec(select(Category))).first()
    assert pupr.id and dinkes.id and category and category.id
    session.add_all(
        [
            Staff(telegram_id=ADMIN, name="Admin", role="superadmin"),
            Staff(telegram_id=VIEWER, name="Pemantau", role="viewer"),
            Staff(telegram_id=OFFICER, name="Petugas", role="agency_admin", agency_id=pupr.id),
        ]
    )
    siti = Citizen(telegram_id=1001, first_name="Siti", last_name="Rahayu", username="siti_r")
    budi = Citizen(telegram_id=1002, first_name="Budi", last_name="Santoso", username="budi_s")
    session.add_all([siti, budi])
    await session.flush()
    codes: dict[str, str] = {}
    sequence = 0

    def report(letter: str, **fields: object) -> Complaint:
        nonlocal sequence
        sequence += 1
        codes[letter] = f"TPI-2026-{sequence:06d}"
        values: dict[str, object] = {
            "tracking_code": codes[letter],
            "year": 2026,
            "sequence": sequence,
            "kind": "complaint",
            "category_id": category.id,
            "description": f"Laporan {letter}: jalan berlubang di depan pasar",
            "privacy": "public",
            "channel": "telegram",
            "citizen_id": budi.id,
        }
        values.update(fields)
        return Complaint(**values)  # type: ignore[arg-type]

    session.add_all(
        [
            report(
                "A",
                privacy="anonymous",
                citizen_id=siti.id,
                agency_id=pupr.id,
                status="closed",
                submitted_at=wib(2, 10),
                verify_due_at=end_of(5),
                assigned_at=wib(3, 10),
                first_response_due_at=end_of(10),
                acknowledged_at=wib(5, 10),
                completion_due_at=end_of(19),
                resolved_at=wib(6, 10),
                closed_at=wib(9, 10),
                verdict="fixed",
                rating=5,
            ),
            report(
                "B",
                privacy="confidential",
                description=SECRET,
                address="Jl. Rahasia 1",
                agency_id=pupr.id,
                status="in_progress",
                submitted_at=wib(6, 16),
                verify_due_at=end_of(11),
                assigned_at=wib(9, 16),
                first_response_due_at=end_of(16),
                acknowledged_at=wib(19, 16),
                completion_due_at=end_of(3, 12),
            ),
            report(
                "C",
                agency_id=dinkes.id,
                status="assigned",
                submitted_at=wib(10, 9),
                verify_due_at=end_of(13),
                assigned_at=wib(12, 9),
                first_response_due_at=end_of(19),
            ),
            report(
                "D",
                status="rejected",
                submitted_at=wib(16, 9),
                verify_due_at=end_of(20),
                closed_at=wib(23, 9),
                reject_reason="duplicate",
            ),
            report(
                "E",
                status="submitted",
                channel="walk_in",
                citizen_id=None,
                reporter_name="Pak Amir",
                reporter_contact="0812-555-0199",
                submitted_at=wib(23, 9),
                verify_due_at=end_of(26),
            ),
            report(
                "F",
                agency_id=pupr.id,
                status="resolved",
                reopen_count=1,
                submitted_at=wib(3, 9),
                verify_due_at=end_of(6),
                assigned_at=wib(16, 9),
                first_response_due_at=end_of(24),
                acknowledged_at=wib(17, 9),
                completion_due_at=end_of(1, 12),
                resolved_at=wib(20, 9),
                verdict="not_fixed",
                rating=2,
            ),
            report(
                "G",
                agency_id=dinkes.id,
                status="in_progress",
                submitted_at=wib(30, 9, 10),
                verify_due_at=end_of(4),
                assigned_at=wib(2, 9),
                acknowledged_at=wib(3, 9),
                first_response_due_at=end_of(9),
                completion_due_at=end_of(20),
            ),
        ]
    )
    await session.flush()
    return Fixture(pupr=pupr.id, dinkes=dinkes.id, codes=codes)
