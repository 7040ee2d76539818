"""Text at the edges: what users send is cleaned once, what the bot sends is made safe once.

- ``clean``: input normalisation at the boundary (bot/updates.py ``to_event``). U+0000 is
  refused by PostgreSQL (``text`` cannot hold it) and other control characters, Unicode
  non-characters and lone surrogates are never meaningful in a report, a name or a button's
  data, so they are removed from every text field of an ``Event``. Everything else is kept:
  right-to-left text and marks, zero-width joiners and emoji are legitimate.
- ``escape_caption``: a user's caption as HTML for a media item (Telegram's 1,024-character
  limit counts the text after entity parsing, i.e. the raw text, so the raw text is cut).
- ``plain_text``: the text a message shows, without markup, for a message Telegram refused
  for its formatting (bot/sending.py sends it again with ``parse_mode`` off).
"""

from __future__ import annotations

import html
import re

CAPTION_MAX = 1024
ELLIPSIS = "…"

# C0 controls but tab and line feed, DEL and C1 controls, lone surrogates (a str never pairs
# them), and the Unicode non-characters: U+FDD0–U+FDEF and the last two code points of every
# plane (U+FFFE, U+FFFF, U+1FFFE … U+10FFFF).
_REMOVED = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(rf"\U{plane:04x}fffe\U{plane:04x}ffff" for plane in range(17))
    + "]"
)


def clean(text: str) -> str:
    """``text`` without NUL and other control characters (but ``\\n`` and ``\\t``), Unicode
    non-characters and lone surrogates."""
    return _REMOVED.sub("", text)


def clean_optional(text: str | None) -> str | None:
    """``clean`` for an optional field; a field left empty becomes None."""
    if text is None:
        return None
    return clean(text) or None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's length limits."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units, ending in "…" if it was cut."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ELLIPSIS)
    kept: list[str] = []
    for ch in text:
        budget -= 2 if ord(ch) > 0xFFFF else 1
        if budget < 0:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + ELLIPSIS


def escape_caption(caption: str | None, limit: int = CAPTION_MAX) -> str | None:
    """A user's caption as safe HTML whose parsed text fits Telegram's caption limit."""
    if not caption:
        return None
    return html.escape(truncate(caption, limit), quote=False)


# Telegram's HTML tags (parse_mode=HTML); anything else in a message is text.
_TAG = re.compile(
    r"</?(?:b|strong|i|em|u|ins|s|strike|del|tg-spoiler|code|pre|a|span|blockquote|tg-emoji)"
    r"(?:\s[^<>]*)?>",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _unescape(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    if name:
        return _NAMED[name]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    return chr(code) if 0 < code < 0x110000 and not 0xD800 <= code <= 0xDFFF else match[0]


def plain_text(markup: str) -> str:
    """What an HTML message reads as, without formatting: Telegram's tags taken out, its
    character references turned back into characters; anything else stays as written."""
    return _REFERENCE.sub(_unescape, _TAG.sub("", markup))
