"""Per-chat order, album gathering and 429 handling in the runtime-independent pipeline."""

from __future__ import annotations

import asyncio

from bot.core.events import Attachment, AttachmentKind, Event, Sender
from bot.core.replies import ClearButtons, EditMessage, Message, Notice, Reply
from bot.pipeline import UpdatePipeline
from bot.sending import RetryAfter


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
