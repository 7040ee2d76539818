"""Per-chat order, album gathering and 429 handling in the runtime-independent pipeline; the
runtime's own polling loop confirming only processed updates (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update

import bot.pipeline as pipeline_module
import bot.runtime as runtime_module
from bot.core.events import Attachment, AttachmentKind, Event, Sender
from bot.core.replies import ClearButtons, EditMessage, Message, Notice, Reply
from bot.pipeline import DatabaseUnavailable, NotProcessed, UpdatePipeline
from bot.runtime import BotRuntime, TelegramClient
from bot.sending import Conflict, RetryAfter
from tests.conftest import make_settings


class RecordingSender:
    """Records what would be sent; can answer 429 a number of times first."""

    def __init__(self, throttle: int = 0) -> None:
        self.sent: list[tuple[int, str]] = []
        self.answered: list[tuple[str, str | None]] = []
        self.throttle = throttle

    async def answer_callback(self, callback_id: str, notice: Notice | None) -> None:
        self.answered.append((callback_id, notice.text if notice else None))

    async def send(self, chat_id: int, reply: Message | EditMessage | ClearButtons) -> int | None:
        if self.throttle:
            self.throttle -= 1
            raise RetryAfter(0.01)
        self.sent.append((chat_id, reply.text if isinstance(reply, Message) else "?"))
        return len(self.sent)


def text_event(update_id: int, chat_id: int, text: str) -> Event:
    return Event(update_id=update_id, chat_id=chat_id, user=Sender(chat_id), text=text)


def album_item(update_id: int, chat_id: int, n: int) -> Event:
    media = Attachment(AttachmentKind.PHOTO, f"f{n}", f"u{n}", f"caption {n}")
    return Event(update_id, chat_id, Sender(chat_id), attachments=(media,), media_group_id="album")


async def test_one_chat_is_processed_in_order_while_chats_run_side_by_side() -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def processor(event: Event) -> list[Reply]:
        if event.text == "slow":
            await release.wait()
        seen.append(f"{event.chat_id}:{event.text}")
        return [Message(event.text or "")]

    sender = RecordingSender()
    pipeline = UpdatePipeline(processor=processor, sender=sender)
    first = [pipeline.submit(text_event(i, 1, t)) for i, t in enumerate(["slow", "a", "b"])]
    other = pipeline.submit(text_event(10, 2, "x"))
    await asyncio.wait_for(other, 2)
    assert seen == ["2:x"]  # chat 2 was not held up by chat 1
    release.set()
    await asyncio.wait_for(asyncio.gather(*first), 2)
    assert seen == ["2:x", "1:slow", "1:a", "1:b"]
    assert [t for c, t in sender.sent if c == 1] == ["slow", "a", "b"]


async def test_an_album_becomes_one_event_and_keeps_its_place() -> None:
    events: list[Event] = []

    async def processor(event: Event) -> list[Reply]:
        events.append(event)
        return []

    pipeline = UpdatePipeline(processor=processor, sender=RecordingSender(), album_wait=0.05)
    done = [
        pipeline.submit(album_item(1, 7, 1)),
        pipeline.submit(album_item(2, 7, 2)),
        pipeline.submit(text_event(3, 7, "after")),
        pipeline.submit(album_item(4, 7, 3)),
    ]
    await asyncio.wait_for(asyncio.gather(*done), 2)
    assert len(events) == 2
    album, after = events
    assert [a.file_id for a in album.attachments] == ["f1", "f2", "f3"]
    assert [a.caption for a in album.attachments] == ["caption 1", "caption 2", "caption 3"]
    assert album.all_update_ids == (1, 2, 4)
    assert after.text == "after"


async def test_every_button_press_is_answered_and_429_is_waited_out() -> None:
    async def processor(event: Event) -> list[Reply]:
        return [Notice("stale"), Message("hi")]

    sender = RecordingSender(throttle=2)
    pipeline = UpdatePipeline(processor=processor, sender=sender)
    event = Event(1, 3, Sender(3), callback_id="cb1", callback_data="x", message_id=9)
    await asyncio.wait_for(pipeline.submit(event), 2)
    assert sender.answered == [("cb1", "stale")]
    assert sender.sent == [(3, "hi")]


async def test_a_failing_update_does_not_stop_the_chat() -> None:
    async def processor(event: Event) -> list[Reply]:
        if event.text == "boom":
            raise RuntimeError("boom")
        return [Message(event.text or "")]

    sender = RecordingSender()
    pipeline = UpdatePipeline(processor=processor, sender=sender)
    pipeline.submit(text_event(1, 4, "boom"))
    await asyncio.wait_for(pipeline.submit(text_event(2, 4, "ok")), 2)
    await asyncio.wait_for(pipeline.drain(), 2)
    assert sender.sent == [(4, "ok")]


# ---- confirm only what is safe (issue 11): DB outages, unreadable updates, the polling loop ----


async def test_an_unreachable_database_is_retried_in_place_keeping_the_chat_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_module, "OUTAGE_RETRY_FIRST", 0.01)
    failures = {"left": 3}
    seen: list[str] = []

    async def processor(event: Event) -> list[Reply]:
        if event.chat_id == 1 and failures["left"]:
            failures["left"] -= 1
            raise DatabaseUnavailable("down")
        seen.append(f"{event.chat_id}:{event.text}")
        return [Message(event.text or "")]

    pipeline = UpdatePipeline(processor=processor, sender=RecordingSender())
    first = pipeline.submit(text_event(1, 1, "a"))
    second = pipeline.submit(text_event(2, 1, "b"))
    assert pipeline.submit(text_event(1, 1, "a")) is first  # in flight: not queued twice
    await asyncio.wait_for(asyncio.gather(first, second), 2)
    assert seen == ["1:a", "1:b"]
    assert not pipeline.database_unavailable


async def test_a_stop_during_an_outage_gives_the_chat_up_unprocessed() -> None:
    async def processor(event: Event) -> list[Reply]:
        raise DatabaseUnavailable("down")

    pipeline = UpdatePipeline(processor=processor, sender=RecordingSender())
    first = pipeline.submit(text_event(1, 5, "a"))
    second = pipeline.submit(text_event(2, 5, "b"))
    await asyncio.sleep(0.05)
    assert pipeline.database_unavailable and not first.done()
    pipeline.close()
    await asyncio.wait_for(pipeline.drain(), 2)
    for done in (first, second):
        assert isinstance(done.exception(), NotProcessed)


# A fake Telegram for the runtime's own polling loop: getUpdates with offset confirmation.
def _message(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Warga"}
    message = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
        "from": user,
        "text": text,
    }
    return {"update_id": update_id, "message": message}


class FakeTelegram(TelegramClient):
    """Keeps updates until an offset confirms them, like Telegram; parses with aiogram."""

    def __init__(self, updates: list[dict[str, Any]], throttle: int = 0) -> None:
        self.pending = list(updates)
        self.offsets: list[int | None] = []
        self.throttle = throttle
        self.on_poll: Callable[[int | None], None] = lambda offset: None

    async def close(self) -> None:
        pass

    def command(self, name: str, description: str) -> object:
        return (name, description)

    async def set_commands(self, language: str | None, commands: list[tuple[str, str]]) -> None:
        pass

    async def delete_webhook(self) -> None:
        pass

    async def get_updates(
        self,
        *,
        offset: int | None,
        poll_seconds: int,
        allowed_updates: list[str],
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        self.offsets.append(offset)
        self.on_poll(offset)
        if self.throttle:
            self.throttle -= 1
            raise RetryAfter(0.01)
        if offset is not None:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        if not self.pending:
            await asyncio.sleep(min(poll_seconds, 0.05))
        return [dict(u) for u in self.pending[:limit]]

    def parse(self, data: dict[str, Any]) -> Update:
        return Update.model_validate(data)


def _runtime(client: FakeTelegram, pipeline: UpdatePipeline, tmp_path: Path) -> BotRuntime:
    class Stub:
        running = False

        def start(self) -> None:
            pass

        def by_language(self) -> dict[str | None, list[tuple[str, str]]]:
            return {}

    stub: Any = Stub()
    return BotRuntime(
        client=client,
        settings=make_settings(tmp_path),
        pipeline=pipeline,
        menu=stub,
        scheduler=stub,
        dispatcher=stub,
    )


async def _until(check: Callable[[], bool], seconds: float = 3.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - the checks read plain lists
            await asyncio.sleep(0.01)


async def test_polling_confirms_only_processed_updates_and_waits_out_a_database_outage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pipeline_module, "OUTAGE_RETRY_FIRST", 0.01)
    processed: list[int] = []
    outage = {"left": 5}

    async def processor(event: Event) -> list[Reply]:
        if event.update_id == 11 and outage["left"]:
            outage["left"] -= 1
            raise DatabaseUnavailable("down")
        processed.append(event.update_id)
        return []

    client = FakeTelegram([_message(10, 1, "a"), _message(11, 2, "b"), _message(12, 3, "c")])
    violations: list[int | None] = []

    def check_offset(offset: int | None) -> None:
        # Every update below the offset (which confirms them) must have been processed.
        if offset is not None and any(u not in processed for u in range(10, offset)):
            violations.append(offset)

    client.on_poll = check_offset
    runtime = _runtime(
        client, UpdatePipeline(processor=processor, sender=RecordingSender()), tmp_path
    )
    task = asyncio.create_task(runtime.run())
    await _until(lambda: sorted(processed) == [10, 11, 12])
    await _until(lambda: client.offsets[-1] == 13)
    runtime.stop()
    await asyncio.wait_for(task, 3)
    assert outage["left"] == 0  # the outage happened, and the update was not lost to it
    assert violations == []
    assert 11 in client.offsets  # held at the update waiting for the database
    assert client.pending == []


async def test_an_unreadable_update_is_skipped_and_the_rest_processed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    processed: list[int] = []

    async def processor(event: Event) -> list[Reply]:
        processed.append(event.update_id)
        return []

    broken = _message(21, 2, "Nama saya Siti, HP 0812")
    broken["message"]["chat"] = "not a chat"
    client = FakeTelegram([_message(20, 1, "a"), broken, _message(22, 3, "c")], throttle=1)
    runtime = _runtime(
        client, UpdatePipeline(processor=processor, sender=RecordingSender()), tmp_path
    )
    task = asyncio.create_task(runtime.run())
    await _until(lambda: sorted(processed) == [20, 22] and client.offsets[-1] == 23)
    runtime.stop()
    await asyncio.wait_for(task, 3)
    assert "update 21 cannot be read (ValidationError)" in caplog.text
    assert "Siti" not in caplog.text and "0812" not in caplog.text
    assert client.pending == []


async def test_a_stop_during_an_outage_confirms_nothing_unprocessed(tmp_path: Path) -> None:
    async def processor(event: Event) -> list[Reply]:
        if event.update_id == 31:
            raise DatabaseUnavailable("down")
        return []

    client = FakeTelegram([_message(30, 1, "a"), _message(31, 2, "b"), _message(32, 3, "c")])
    pipeline = UpdatePipeline(processor=processor, sender=RecordingSender())
    runtime = _runtime(client, pipeline, tmp_path)
    task = asyncio.create_task(runtime.run())
    await _until(lambda: pipeline.database_unavailable and 31 in client.offsets)
    runtime.stop()
    await asyncio.wait_for(task, 3)
    assert max(o or 0 for o in client.offsets) == 31
    assert [u["update_id"] for u in client.pending] == [31, 32]


async def test_a_second_poller_is_named_once_and_polling_resumes_after_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """409 Conflict (another process polls, or a webhook is set): one clear ERROR line, not
    one per poll, and the updates are taken once the other poller is gone."""
    monkeypatch.setattr(runtime_module, "POLLING_RETRY_MAX", 0.01)
    processed: list[int] = []

    async def processor(event: Event) -> list[Reply]:
        processed.append(event.update_id)
        return []

    client = FakeTelegram([_message(40, 1, "a")])
    conflicts = {"left": 5}
    answer = client.get_updates

    async def contested(**kwargs: Any) -> list[dict[str, Any]]:
        if conflicts["left"]:
            conflicts["left"] -= 1
            raise Conflict("terminated by other getUpdates request")
        return await answer(**kwargs)

    client.get_updates = contested  # type: ignore[method-assign]
    runtime = _runtime(
        client, UpdatePipeline(processor=processor, sender=RecordingSender()), tmp_path
    )
    task = asyncio.create_task(runtime.run())
    await _until(lambda: processed == [40])
    runtime.stop()
    await asyncio.wait_for(task, 3)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "409 Conflict" in errors[0].getMessage()
    assert "Polling is one process" in errors[0].getMessage()
