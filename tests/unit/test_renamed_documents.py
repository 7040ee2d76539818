"""The name a document is re-sent under (issue 10): a neutral base, the original extension."""

from __future__ import annotations

import pytest

from bot.core.events import Attachment, AttachmentKind
from bot.sending import renamed


def document(mime_type: str | None = None) -> Attachment:
    return Attachment(
        AttachmentKind.DOCUMENT, "id", "uid", mime_type=mime_type, file_name="lampiran-1"
    )


@pytest.mark.parametrize(
    ("file_path", "mime_type", "expected"),
    [
        ("documents/file_12.pdf", None, "lampiran-1.pdf"),  # getFile's path (aiogram)
        ("https://api.example/file/bot1:x/documents/file_3.DOCX", None, "lampiran-1.docx"),  # PTB
        (None, "application/pdf", "lampiran-1.pdf"),  # no path: the MIME type
        ("documents/file_4", None, "lampiran-1"),  # nothing known: no extension
        ("documents/file_5.Siti Aminah", None, "lampiran-1"),  # not an extension: dropped
    ],
)
def test_the_extension_is_kept_and_nothing_else(
    file_path: str | None, mime_type: str | None, expected: str
) -> None:
    assert renamed(document(mime_type), file_path) == expected
