"""Sample reports in every status, for trainers: made by the real flows, back-dated.

Three sample citizens file reports through the real intake flow, and the sandbox's city admin
and liaison officer verify, forward, acknowledge, ask, resolve and reject them through the real
case buttons — all through the bot's own update processor, on a clock set days back, so the
deadlines, the history and the notifications (delivered once the bot runs) look lived-in.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import select

from bot.core.callbacks import Callback, CaseAction, IntakeChoice, VerdictPress
from bot.core.events import Attachment, AttachmentKind, Event, Location, Sender
from bot.core.lifecycle import RejectReason, Verdict
from bot.core.replies import Message, Reply
from bot.processing import UpdateProcessor, system_clock
from bot.sandbox.people import SAMPLE_CITIZENS, Person
from bot.sandbox.pictures import sample_photo
from storage.models import Category, Complaint
from storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.sandbox.training import Sandbox

__all__ = ["load_scenario"]

log = logging.getLogger(__name__)

_CODE = re.compile(r"\b[A-Z]{2,6}-\d{4}-\d{6}\b")


@dataclass
class ScriptedClock:
    """The scenario's "now", moved by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Report:
    """What a sample citizen files."""

    category: str
    kind: str
    description: str
    privacy: str = "public"
    address: str | None = None
    photo: bool = False


class Actor:
    """One simulated person talking to the bot's processor (replies are not sent anywhere)."""

    def __init__(self, scenario: Scenario, person: Person) -> None:
        self.scenario = scenario
        language = person.language or scenario.language
        self.sender = Sender(
            person.user_id, person.first_name, person.last_name, person.username, language
        )
        self.last: list[Reply] = []

    async def event(self, **fields: object) -> list[Reply]:
        event = Event(
            update_id=next(self.scenario.update_ids),
            chat_id=self.sender.user_id,
            chat_type="private",
            user=self.sender,
            **fields,  # type: ignore[arg-type]
        )
        processor = self.scenario.processor
        self.last = await processor.process(event)
        failure = processor.translator(
            processor.translator.pick(self.sender.language_code), "common.error"
        )
        if any(isinstance(r, Message) and r.text == failure for r in self.last):
            raise RuntimeError(f"the scenario's update {event.update_id} failed (see the log)")
        return self.last

    async def say(self, text: str) -> list[Reply]:
        """Send text (or a command)."""
        return await self.event(text=text)

    async def press(self, button: Callback) -> list[Reply]:
        """Press an inline button with this callback data."""
        callback_id = f"scenario-{next(self.scenario.update_ids)}"
        # The message under the button is not kept anywhere: any id does for the flows.
        data = button.pack()
        return await self.event(callback_id=callback_id, callback_data=data, message_id=1)

    def code(self) -> str:
        """The tracking code in the last replies."""
        for reply in self.last:
            if isinstance(reply, Message) and (found := _CODE.search(reply.text)):
                return found.group(0)
        raise RuntimeError(f"no tracking code in {[getattr(r, 'text', r) for r in self.last]}")


class Scenario:
    """The script: who files what, and what the staff do with it."""

    def __init__(self, sandbox: Sandbox, language: str) -> None:
        assert sandbox.app is not None
        app = sandbox.app
        self.sandbox = sandbox
        self.language = language
        self.clock = ScriptedClock(system_clock() - timedelta(days=12))
        self.processor = UpdateProcessor(
            sessions=app.sessions,
            settings=app.settings,
            translator=app.translator,
            calendar=app.calendar,
            clock=self.clock,
            bot_username=sandbox.emulator.world.bot_username,
            serialize_writes=True,
        )
        self.update_ids = itertools.count(1)  # the emulator's update ids start at 100000001
        self.photos = itertools.count(100)

    def at(self, days_ago: float) -> None:
        """Set the scenario's clock to this long before now."""
        self.clock.now = system_clock() - timedelta(days=days_ago)

    async def complaint_id(self, code: str) -> int:
        """The report's id."""
        async with UnitOfWork(self.processor.sessions) as uow:
            query = select(Complaint.id).where(Complaint.tracking_code == code)
            found = (await uow.session.exec(query)).one()
        assert found is not None
        return found

    def photo(self, caption: str | None = None) -> Attachment:
        """A sample photo the emulator knows (so the bot can send it on by file id)."""
        data = sample_photo(next(self.photos))
        media, _ = self.sandbox.emulator.world.store_media("photo", data)
        best = media[-1]
        return Attachment(
            AttachmentKind.PHOTO, best["file_id"], best["file_unique_id"], caption, len(data)
        )

    async def file(self, citizen: Actor, report: Report) -> tuple[str, int]:
        """The intake flow, step by step, as the citizen presses and types."""
        async with UnitOfWork(self.processor.sessions) as uow:
            query = select(Category.id).where(Category.code == report.category)
            category_id = (await uow.session.exec(query)).one()
        await citizen.say("/new")
        await citizen.press(IntakeChoice("kind", report.kind))
        await citizen.press(IntakeChoice("category", str(category_id)))
        await citizen.say(report.description)
        if report.address:
            await citizen.say(report.address)
        else:
            latitude, longitude = 0.9186 + 0.01 * ((category_id or 0) % 5), 104.4554
            await citizen.event(location=Location(latitude, longitude))
        if report.photo:
            await citizen.event(attachments=(self.photo(),))
        await citizen.press(IntakeChoice("attachments", "done"))
        await citizen.press(IntakeChoice("privacy", report.privacy))
        await citizen.press(IntakeChoice("summary", "submit"))
        code = citizen.code()
        return code, await self.complaint_id(code)

    async def forward(self, admin: Actor, complaint_id: int) -> None:
        """The city admin verifies and forwards to the officer's agency."""
        assert self.sandbox.agency is not None
        agency_id = self.sandbox.agency.id
        await admin.press(CaseAction("fwd", complaint_id))
        await admin.press(CaseAction("fwdto", complaint_id, str(agency_id)))

    async def acknowledge(self, officer: Actor, complaint_id: int, inspection: bool) -> None:
        await officer.press(CaseAction("ack", complaint_id))
        await officer.press(CaseAction("ackf", complaint_id, str(int(inspection))))

    async def resolve(self, officer: Actor, complaint_id: int, text: str) -> None:
        await officer.press(CaseAction("res", complaint_id))
        await officer.say(text)
        await officer.event(attachments=(self.photo("Sesudah / after"),))
        await officer.press(CaseAction("resgo", complaint_id))

    async def run(self) -> list[str]:
        """Play the script; returns the tracking codes made."""
        sandbox = self.sandbox
        budi, rina, andi = (Actor(self, person) for person in SAMPLE_CITIZENS)
        admin = Actor(self, sandbox.person("admin"))
        officer = Actor(self, sandbox.person("officer"))
        codes: list[str] = []

        # closed: filed, forwarded, acknowledged, resolved, confirmed fixed and rated.
        self.at(12)
        code, closed = await self.file(rina, Report("roads", "complaint", _POTHOLE, photo=True))
        codes.append(code)
        self.at(11)
        await self.forward(admin, closed)
        self.at(10)
        await self.acknowledge(officer, closed, inspection=False)
        self.at(6)
        await self.resolve(officer, closed, _PATCHED)
        self.at(5.5)
        await rina.press(VerdictPress(closed, 0, Verdict.FIXED))
        await rina.press(VerdictPress(closed, 0, "r5"))
        await rina.say("Terima kasih, cepat sekali ditangani!")

        # submitted and overdue: nobody verified it within the working days allowed.
        self.at(9)
        code, _ = await self.file(budi, Report("streetlights", "complaint", _LAMP, photo=True))
        codes.append(code)

        # rejected: not the city's authority.
        self.at(8)
        code, rejected = await self.file(andi, Report("other", "information", _PASSPORT))
        codes.append(code)
        self.at(7.8)
        await admin.press(CaseAction("rej", rejected))
        await admin.press(CaseAction("rejr", rejected, RejectReason.NOT_OUR_AUTHORITY))
        await admin.say(_PASSPORT_REASON)

        # reopened (assigned again): resolved, but the citizen says it is not fixed.
        self.at(8)
        code, reopened = await self.file(budi, Report("drainage", "complaint", _DRAIN))
        codes.append(code)
        self.at(7.5)
        await self.forward(admin, reopened)
        self.at(7)
        await self.acknowledge(officer, reopened, inspection=False)
        self.at(3)
        await self.resolve(officer, reopened, _DRAIN_DONE)
        self.at(2)
        await budi.press(VerdictPress(reopened, 0, Verdict.NOT_FIXED))
        await budi.say(_DRAIN_NOT_FIXED)
        await budi.press(VerdictPress(reopened, 0, "r0"))

        # in progress, with a field inspection and a progress update.
        self.at(6)
        code, working = await self.file(
            rina, Report("roads", "complaint", _BRIDGE, privacy="anonymous", photo=True)
        )
        codes.append(code)
        self.at(5)
        await self.forward(admin, working)
        self.at(4)
        await self.acknowledge(officer, working, inspection=True)
        self.at(1)
        await officer.press(CaseAction("prog", working))
        await officer.say(_BRIDGE_PROGRESS)

        # needs info: the officer asked the citizen a question.
        self.at(4)
        code, question = await self.file(
            andi, Report("drainage", "complaint", _FLOOD, address=_FLOOD_ADDRESS)
        )
        codes.append(code)
        self.at(3.5)
        await self.forward(admin, question)
        self.at(2.5)
        await officer.press(CaseAction("ask", question))
        await officer.say(_FLOOD_QUESTION)

        # resolved: the follow-up waits for the citizen's verdict.
        self.at(5)
        code, resolved = await self.file(rina, Report("roads", "aspiration", _SIDEWALK))
        codes.append(code)
        self.at(4.5)
        await self.forward(admin, resolved)
        self.at(4)
        await self.acknowledge(officer, resolved, inspection=False)
        self.at(0.5)
        await self.resolve(officer, resolved, _SIDEWALK_DONE)

        # assigned: forwarded yesterday, waiting for the officer.
        self.at(1.5)
        code, assigned = await self.file(
            budi, Report("roads", "complaint", _CRACK, privacy="confidential", photo=True)
        )
        codes.append(code)
        self.at(1)
        await self.forward(admin, assigned)

        # submitted: fresh, waiting for the city admin.
        self.at(0.1)
        code, _ = await self.file(andi, Report("waste", "aspiration", _WASTE))
        codes.append(code)
        return codes


async def load_scenario(sandbox: Sandbox, *, language: str) -> list[str]:
    """Create the sample reports; returns their tracking codes, oldest first."""
    codes = await Scenario(sandbox, language).run()
    log.info("sandbox scenario: %s sample reports", len(codes))
    return sorted(codes)


_POTHOLE = (
    "Jalan berlubang besar di depan SDN 005 Jl. Merdeka, sudah dua minggu belum diperbaiki "
    "dan membahayakan pengendara motor pada malam hari."
)
_PATCHED = "Lubang sudah ditambal dengan aspal hotmix oleh tim UPT Jalan pada hari Senin."
_LAMP = (
    "Tiga lampu penerangan jalan di Jl. Ganet dekat simpang Batu 8 mati sejak seminggu, "
    "jalan sangat gelap di malam hari."
)
_PASSPORT = (
    "How long does it take to renew a passport at the immigration office, and which "
    "documents do I need to bring?"
)
_PASSPORT_REASON = (
    "Passports are handled by the Immigration Office (Kantor Imigrasi), not the city."
)
_DRAIN = (
    "Saluran air di Jl. Pramuka tersumbat sampah, setiap hujan air meluap ke jalan dan "
    "masuk ke rumah warga RT 03."
)
_DRAIN_DONE = "Saluran sudah dibersihkan dan sampah diangkut oleh petugas kebersihan."
_DRAIN_NOT_FIXED = "Masih meluap saat hujan kemarin sore, sampahnya menumpuk lagi di gorong-gorong."
_BRIDGE = (
    "Pagar pembatas jembatan kecil di Jl. Sultan Mahmud patah sepanjang dua meter, "
    "berbahaya untuk anak-anak yang lewat."
)
_BRIDGE_PROGRESS = (
    "Tim sudah meninjau lokasi; material pagar baru dipesan, pemasangan minggu depan."
)
_FLOOD = (
    "The road floods knee-deep after every heavy rain near the market, cars get stuck "
    "and the water takes hours to go down."
)
_FLOOD_ADDRESS = "Jl. Bintan near Pasar Baru, Tanjungpinang"
_FLOOD_QUESTION = "Di sisi mana tepatnya genangan terjadi? Mohon kirim foto saat banjir jika ada."
_SIDEWALK = (
    "Usul agar trotoar di Jl. Basuki Rahmat diperlebar, pejalan kaki sering terpaksa "
    "turun ke jalan karena trotoar sempit."
)
_SIDEWALK_DONE = (
    "Pelebaran trotoar masuk rencana kerja tahun depan; sementara ruas rusak diperbaiki."
)
_CRACK = (
    "Retakan panjang di badan jalan Jl. Ir. Sutami dekat jembatan, makin melebar setelah "
    "truk bermuatan berat lewat setiap malam."
)
_WASTE = (
    "Mohon ditambah tempat sampah di taman kota Tepi Laut, sampah sering berserakan "
    "pada akhir pekan."
)
