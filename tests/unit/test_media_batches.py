"""How a message's media are split into Bot API calls (shared by both runtimes and the outbox)."""

from __future__ import annotations

from bot.core.events import Attachment, AttachmentKind
from bot.core.replies import Message
from bot.outbox import api_calls
from bot.sending import media_batches

PHOTO, VIDEO, DOCUMENT, VOICE = (
    AttachmentKind.PHOTO,
    AttachmentKind.VIDEO,
    AttachmentKind.DOCUMENT,
    AttachmentKind.VOICE,
)


def items(*kinds: AttachmentKind) -> tuple[Attachment, ...]:
    return tuple(Attachment(kind, f"id{n}", f"u{n}") for n, kind in enumerate(kinds))


def kinds(batches: list[tuple[Attachment, ...]]) -> list[list[str]]:
    return [[a.kind.value for a in batch] for batch in batches]


def test_documents_are_never_grouped_with_photos_or_videos() -> None:
    media = items(PHOTO, DOCUMENT, VIDEO, DOCUMENT, VOICE)
    assert kinds(media_batches(media)) == [
        ["photo", "video"],
        ["document", "document"],
        ["voice"],
    ]
    assert api_calls(Message("case card", media=media)) == 4


def test_a_lone_item_of_a_kind_goes_alone_and_albums_hold_at_most_ten() -> None:
    assert kinds(media_batches(items(PHOTO, DOCUMENT))) == [["photo"], ["document"]]
    batches = media_batches(items(*[PHOTO] * 11))
    assert [len(b) for b in batches] == [10, 1]
    assert media_batches(()) == []
