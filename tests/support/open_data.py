"""Reports for open-data tests: public, anonymous and confidential, with secrets to scan for.

``seed_open_data`` needs the reference data loaded (``build_app`` / ``prepare_database``) and
writes rows directly, as a fixture (the product's own writes go through bot/casework). The
citizens, the offline reporter, the file ids, the captions and the staff answers all carry
distinctive strings (``OpenData.secrets``): no published byte may contain any of them. Staff
answers address the reporter by name on purpose: history is published only through the
catalog's labels, never by its free text. Confidential reports use distinctive descriptions
and addresses, also listed as secrets, and their codes too (``OpenData.hidden_codes``).

Reports (submitted in November 2026 unless said; NOW is Monday 30 Nov 2026 09:00 WIB):

| label        | privacy      | status      | agency | photo                  | notes              |
|--------------|--------------|-------------|--------|------------------------|--------------------|
| public_new   | public       | submitted   | —      | 1 (with the report)    | lat/long           |
| public_work  | public       | in_progress | PUPR   | 1 + 1 with a follow-up | staff answer text  |
| public_done  | public       | closed      | PUPR   | —                      | address, district  |
| public_fixed | public       | resolved    | Dinkes | —                      | category health    |
| public_old   | public       | assigned    | PUPR   | —                      | August (> 90 days) |
| walk_in      | public       | submitted   | —      | —                      | offline: name+phone|
| anon_work    | anonymous    | assigned    | PUPR   | 1 (never published)    |                    |
| anon_info    | anonymous    | needs_info  | —      | —                      | question text      |
| secret_work  | confidential | in_progress | PUPR   | 1                      |                    |
| secret_new   | confidential | submitted   | —      | —                      |                    |
| rejected     | public       | rejected    | —      | —                      | not published      |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Agency, Attachment, Category, Citizen, Complaint, ComplaintEvent, Staff

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
ADMIN_ID = 9101
OFFICER_ID = 9102

CITIZENS = (
    # telegram id, first name, last name, username
    (770011223, "Zulkarnaenqx", "Wirabhumiqx", "zulqx_wira"),
    (770044556, "Purnamasariqx", "Handayaniqx", "purnama_qx"),
    (770077889, "Kresnadiqx", "Anggoroqx", "kresna_qx88"),
)
WALK_IN_NAME = "Ibu Ratnaningsihqx Sulistyo"
WALK_IN_PHONE = "0812-7788-9911"
CONFIDENTIAL_DESCRIPTION = "Pungutan liar oleh petugas loket Qxrahasia"
CONFIDENTIAL_ADDRESS = "Jl. Qxrahasia Nomor 17"


@dataclass
class OpenData:
    """What the tests need: codes by label, the photo ids, and the strings never to publish."""

    codes: dict[str, str]
    photos: dict[str, list[int]]
    file_ids: dict[int, str]
    secrets: list[str] = field(default_factory=list)

    @property
    def published_codes(self) -> list[str]:
        """Codes that open data shows."""
        return [self.codes[label] for label in PUBLISHED]

    @property
    def hidden_codes(self) -> list[str]:
        """Codes that must appear nowhere (confidential and rejected)."""
        return [self.codes[label] for label in ("secret_work", "secret_new", "rejected")]


PUBLISHED = (
    "public_new",
    "public_work",
    "public_done",
    "public_fixed",
    "public_old",
    "walk_in",
    "anon_work",
    "anon_info",
)


def _at(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


async def seed_open_data(session: AsyncSession) -> OpenData:
    """Store staff, citizens and the reports of the table above; return what tests check."""
    agencies = {a.code: a for a in (await session.exec(select(Agency))).all()}
    categories = {c.code: c for c in (await session.exec(select(Category))).all()}
    pupr, dinkes = agencies["pupr"].id, agencies["dinkes"].id
    roads, health = categories["roads"].id, categories["health"].id
    admin = Staff(telegram_id=ADMIN_ID, name="Admin Kota", role="superadmin")
    officer = Staff(
        telegram_id=OFFICER_ID, name="Petugas PUPR", role="agency_admin", agency_id=pupr
    )
    people = [
        Citizen(telegram_id=t, first_name=f, last_name=last, username=u)
        for t, f, last, u in CITIZENS
    ]
    session.add_all([admin, officer, *people])
    await session.flush()
    zul, purnama, kresna = (p.id for p in people)
    data = OpenData(codes={}, photos={}, file_ids={})
    for telegram_id, first, last, username in CITIZENS:
        data.secrets += [str(telegram_id), first, last, username]
    data.secrets += [WALK_IN_NAME, WALK_IN_PHONE, "Ratnaningsihqx", "7788-9911", "08127788"]
    data.secrets += [CONFIDENTIAL_DESCRIPTION, CONFIDENTIAL_ADDRESS, "Qxrahasia"]
    sequence = 900

    async def report(label: str, **fields: object) -> Complaint:
        nonlocal sequence
        sequence += 1
        code = f"TPI-2026-{sequence:06d}"
        submitted = fields.pop("submitted_at", _at(10, 2))
        values: dict[str, object] = {
            "tracking_code": code,
            "year": 2026,
            "sequence": sequence,
            "kind": "complaint",
            "category_id": roads,
            "description": f"Jalan berlubang dekat pasar ({label})",
            "privacy": "public",
            "channel": "telegram",
            "status": "submitted",
            "submitted_at": submitted,
            "updated_at": submitted,
            "verify_due_at": _at(13, 16),
        }
        values.update(fields)
        complaint = Complaint(**values)  # type: ignore[arg-type]
        session.add(complaint)
        await session.flush()
        data.codes[label] = code
        data.photos[label] = []
        await event(complaint, "submitted", actor="citizen", at=submitted)
        return complaint

    async def event(
        complaint: Complaint,
        action: str,
        *,
        actor: str = "staff",
        at: datetime | None = None,
        text: str | None = None,
        visible: bool = True,
        detail: str | None = None,
    ) -> ComplaintEvent:
        row = ComplaintEvent(
            complaint_id=complaint.id or 0,
            created_at=at or complaint.updated_at,
            actor=actor,
            action=action,
            to_status=complaint.status,
            text=text,
            detail=detail,
            citizen_visible=visible,
        )
        session.add(row)
        await session.flush()
        return row

    async def photo(complaint: Complaint, label: str, event_row: ComplaintEvent | None) -> None:
        n = len(data.file_ids) + 1
        file_id = f"AgACAgQxFILE{n:03d}secretid"
        row = Attachment(
            complaint_id=complaint.id or 0,
            kind="photo",
            file_id=file_id,
            file_unique_id=f"AQADqxUNIQ{n:03d}",
            caption=f"foto dari Zulkarnaenqx {n}",
            size=1000,
            position=len(data.photos[label]),
            event_id=event_row.id if event_row else None,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        data.photos[label].append(row.id)
        data.file_ids[row.id] = file_id
        data.secrets += [file_id, row.file_unique_id]

    async def first_event(complaint: Complaint) -> ComplaintEvent:
        found = await session.exec(
            select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint.id)
        )
        return found.first()  # type: ignore[return-value]

    new = await report("public_new", citizen_id=zul, latitude=0.9186, longitude=104.4554)
    await photo(new, "public_new", await first_event(new))

    work = await report(
        "public_work",
        citizen_id=purnama,
        agency_id=pupr,
        status="in_progress",
        submitted_at=_at(5, 3),
        assigned_at=_at(6, 3),
        acknowledged_at=_at(9, 3),
        completion_due_at=_at(23, 16),
        updated_at=_at(20, 4),
        address="Jl. Merdeka 5",
        district="Tanjungpinang Kota",
    )
    await photo(work, "public_work", await first_event(work))
    await event(work, "forward", at=_at(6, 3))
    await event(work, "acknowledge", at=_at(9, 3))
    followup = await event(
        work,
        "progress",
        at=_at(20, 4),
        text="Terima kasih Ibu Purnamasariqx Handayaniqx, tim sudah menambal sebagian",
    )
    await photo(work, "public_work", followup)
    await event(work, "note", at=_at(20, 5), text="Catatan internal Zulkarnaenqx", visible=False)

    done = await report(
        "public_done",
        citizen_id=kresna,
        agency_id=pupr,
        status="closed",
        submitted_at=_at(2, 3),
        resolved_at=_at(12, 3),
        closed_at=_at(16, 3),
        updated_at=_at(16, 3),
        address="Jl. Sudirman 12",
        district="Bukit Bestari",
    )
    await event(done, "resolve", at=_at(12, 3), text="Sudah diperbaiki, Pak Kresnadiqx")
    await event(done, "close", actor="citizen", at=_at(16, 3), detail="fixed")

    fixed = await report(
        "public_fixed",
        category_id=health,
        citizen_id=zul,
        agency_id=dinkes,
        status="resolved",
        submitted_at=_at(18, 3),
        resolved_at=_at(25, 3),
        updated_at=_at(25, 3),
    )
    await event(fixed, "resolve", at=_at(25, 3), text="Obat sudah tersedia kembali")

    await report(
        "public_old",
        citizen_id=zul,
        agency_id=pupr,
        status="assigned",
        submitted_at=_at(10, 3, month=8),
        first_response_due_at=_at(17, 16, month=8),
        updated_at=_at(11, 3, month=8),
    )
    await report(
        "walk_in",
        channel="walk_in",
        reporter_name=WALK_IN_NAME,
        reporter_contact=WALK_IN_PHONE,
        claim_token="claimqxTOKENsecret",
        submitted_at=_at(24, 3),
        verify_due_at=_at(27, 16),
    )
    data.secrets.append("claimqxTOKENsecret")

    anon = await report(
        "anon_work",
        privacy="anonymous",
        citizen_id=purnama,
        agency_id=pupr,
        status="assigned",
        submitted_at=_at(21, 3),
        first_response_due_at=_at(28, 16),
        updated_at=_at(23, 3),
    )
    await photo(anon, "anon_work", await first_event(anon))
    await event(anon, "forward", at=_at(23, 3))
    info = await report(
        "anon_info",
        privacy="anonymous",
        citizen_id=kresna,
        status="needs_info",
        submitted_at=_at(26, 3),
        updated_at=_at(27, 3),
    )
    await event(info, "ask", at=_at(27, 3), text="Pak Kresnadiqx, di mana tepatnya?")

    for label, status in (("secret_work", "in_progress"), ("secret_new", "submitted")):
        secret = await report(
            label,
            privacy="confidential",
            citizen_id=zul,
            agency_id=pupr if status == "in_progress" else None,
            status=status,
            description=CONFIDENTIAL_DESCRIPTION,
            address=CONFIDENTIAL_ADDRESS,
            submitted_at=_at(19, 3),
            completion_due_at=_at(29, 16),
        )
        if label == "secret_work":
            await photo(secret, label, await first_event(secret))
    await report(
        "rejected",
        citizen_id=kresna,
        status="rejected",
        reject_reason="abusive",
        description="Qxrahasia laporan iseng",
        submitted_at=_at(22, 3),
        closed_at=_at(23, 3),
    )
    data.secrets += data.hidden_codes
    return data
