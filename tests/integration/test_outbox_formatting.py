"""Outbox notices and users' text, on SQLite and PostgreSQL (issue 11 item 2).

The dispatcher sends through the real ``TelegramSender`` over a fake Bot API that parses HTML
as Telegram does (the emulator's parser, bot/sandbox/html_check.py): a citizen's follow-up
notice with an officer's caption "tiang <5 m" is delivered, and a notice whose HTML Telegram
refuses is delivered as plain text instead of going dead.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.core.events import Attachment, AttachmentKind
from bot.core.replies import Keyboard, Message, ReplyKeys
from bot.outbox import OutboxDispatcher
from bot.sandbox.html_check import EntityParseError, parse_html
from bot.sending import DeliveryError, Rejected, TelegramSender
from storage.database import SessionFactory, migrate, session_factory
from storage.models import Notification
from storage.outbox import Audience, enqueue
from storage.unit_of_work import UnitOfWork
from tests.support.flow_driver import FakeClock

HTML = object()  # parse_mode left to the framework's default: HTML, as both runtimes set it


class BadRequest(Exception):
    """The fake framework's 400."""


@dataclass
class Sent:
    message_id: int
    chat_id: int
    text: str | None = None
    caption: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)


class FakeBot:
    """The Bot API calls the sender makes, with Telegram's HTML parsing (strict, as emulated)."""

    def __init__(self, refuse: str | None = None) -> None:
        self.sent: list[Sent] = []
        self.ids = itertools.count(1)
        self.refuse = refuse  # a 400 for texts containing this

    def _parse(self, text: str | None, parse_mode: object) -> tuple[str | None, list[Any]]:
        if text is None or parse_mode is None:
            return text, []
        try:
            return parse_html(text)
        except EntityParseError as error:
            raise BadRequest(f"Bad Request: can't parse entities: {error}") from None

    def _deliver(self, chat_id: int, **fields: Any) -> Sent:
        sent = Sent(next(self.ids), chat_id, **fields)
        self.sent.append(sent)
        return sent

    async def send_message(
        self, chat_id: int, text: str, *, reply_markup: Any = None, parse_mode: Any = HTML
    ) -> Sent:
        if self.refuse and self.refuse in text:
            raise BadRequest("Bad Request: chat not found")
        plain, entities = self._parse(text, parse_mode)
        return self._deliver(chat_id, text=plain, entities=entities)

    async def send_photo(self, chat_id: int, photo: Any, *, caption: Any = None) -> Sent:
        plain, entities = self._parse(caption, HTML)
        return self._deliver(chat_id, caption=plain, entities=entities)

    send_video = send_document = send_voice = send_photo

    async def send_media_group(self, chat_id: int, media: Any) -> Sequence[Sent]:
        return [
            await self.send_photo(chat_id, source, caption=caption) for source, caption in media
        ]


class FakeSender(TelegramSender[object]):
    """The shared sender on the fake bot (only what text notices and photos need)."""

    def _delivery_error(self, error: Exception) -> DeliveryError | None:
        return Rejected(str(error)) if isinstance(error, BadRequest) else None

    def _inline(self, buttons: Keyboard) -> object | None:
        return buttons or None

    def _keys(self, keys: ReplyKeys) -> object:
        return keys

    def _remove_keys(self) -> object:
        return None

    def _album_item(self, item: Attachment, source: object) -> object:
        return (source, item.caption)

    def _named_file(self, data: bytes, filename: str) -> object:
        return filename

    async def _download(self, file_id: str) -> tuple[bytes, str | None]:
        raise AssertionError("nothing is renamed here")


@pytest.fixture
async def sessions(engine: AsyncEngine) -> SessionFactory:
    await migrate(engine)
    return session_factory(engine)


def photo(n: int, caption: str) -> Attachment:
    return Attachment(AttachmentKind.PHOTO, f"file-{n}", f"unique-{n}", caption=caption)


async def deliver(sessions: SessionFactory, bot: FakeBot, *messages: Message) -> dict[str, str]:
    """Queue the messages for chat 7, run the dispatcher until done; each row's status."""
    clock = FakeClock()
    async with UnitOfWork(sessions) as uow:
        for message in messages:
            await enqueue(
                session=uow.session,
                chat_id=7,
                message=message,
                audience=Audience.CITIZEN,
                now=clock.now,
            )
        await uow.commit()
    outbox = OutboxDispatcher(
        sessions=sessions,
        sender=FakeSender(bot),  # type: ignore[arg-type]
        clock=clock,
        worker_id="w",
        rate_per_second=1000.0,
        per_chat_interval=0.0,
    )
    for _ in messages:
        await outbox.run_once()
    async with UnitOfWork(sessions) as uow:
        found = await uow.session.exec(select(Notification).order_by(col(Notification.id)))
        return {n.payload["text"]: n.status for n in found.all()}


async def test_a_follow_up_with_the_officers_caption_reaches_the_citizen(
    sessions: SessionFactory,
) -> None:
    bot = FakeBot()
    follow_up = Message(
        "🔧 <b>TPI-2026-000001</b>: sudah diperbaiki. Apakah sudah beres?",
        media=(photo(1, "tiang <5 m"),),
    )
    album = Message(
        "📎 Jawaban warga",
        media=(photo(2, '<a href="https://x">bukti resmi</a>'), photo(3, "<dekat>")),
    )
    statuses = await deliver(sessions, bot, follow_up, album)

    assert set(statuses.values()) == {"sent"}
    captions = [s.caption for s in bot.sent if s.caption is not None]
    assert captions == ["tiang <5 m", '<a href="https://x">bukti resmi</a>', "<dekat>"]
    assert all(s.entities == [] for s in bot.sent if s.caption is not None)  # no link


async def test_a_notice_refused_for_its_html_is_sent_as_plain_text_not_dead(
    sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = FakeBot()
    broken = "<b>Tindak lanjut</b>: tiang <5 m &amp; lampu <dekat>"
    statuses = await deliver(sessions, bot, Message(broken), Message("<i>berikutnya</i>"))

    assert statuses == {broken: "sent", "<i>berikutnya</i>": "sent"}
    assert [s.text for s in bot.sent] == [
        "Tindak lanjut: tiang <5 m & lampu <dekat>",
        "berikutnya",
    ]
    assert bot.sent[0].entities == []  # sent with parse_mode off
    logged = [r.getMessage() for r in caplog.records if "plain text" in r.getMessage()]
    assert len(logged) == 1
    assert not any("dekat" in r.getMessage() or "tiang" in r.getMessage() for r in caplog.records)


async def test_a_refusal_that_is_not_about_formatting_still_goes_dead(
    sessions: SessionFactory,
) -> None:
    bot = FakeBot(refuse="nowhere")
    statuses = await deliver(sessions, bot, Message("to <b>nowhere</b>"), Message("next"))
    assert statuses == {"to <b>nowhere</b>": "dead", "next": "sent"}
    assert [s.text for s in bot.sent] == ["next"]  # sent once, never again as plain text
