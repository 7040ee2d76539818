"""Telegram-style HTML entity parsing for the Bot API emulator.

Mirrors the parser behind ``parse_mode=HTML`` (TDLib's ``parse_html``): the supported tags,
their nesting, the four named character references plus numeric ones, error wording with byte
offsets, and entity offsets/lengths in UTF-16 code units.

In *strict* mode (the emulator's default) a bare ``&`` that is not a valid character reference
and a bare ``>`` are errors as well.  Real Telegram keeps those characters literally; rejecting
them catches user text that was not passed through ``html.escape`` before it reaches production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EntityParseError", "parse_html", "utf16_len"]

SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
SUPPORTED_TAGS = frozenset({*SIMPLE_TAGS, "a", "span", "blockquote", "tg-emoji"})
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_URL_RE = re.compile(r"^(?:https?://[^\s/?#]+[^\s]*|tg://[^\s]+|mailto:[^\s]+)$", re.IGNORECASE)


class EntityParseError(ValueError):
    """Malformed markup; the message is the part after ``can't parse entities:``."""


@dataclass
class _OpenTag:
    """A start tag waiting for its end tag."""

    name: str
    attributes: dict[str, str]
    utf16_start: int
    byte_offset: int
    children: list[str] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of character ``index`` (Telegram reports byte offsets)."""
    return len(text[:index].encode("utf-8"))


def _decode_reference(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference starting at ``text[pos] == '&'``; None if unsupported."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        digits_start = end
        if end < n and text[end] in "xX":
            end += 1
            digits_start = end
            while end < n and text[end] in "0123456789abcdefABCDEF":
                end += 1
            base = 16
        else:
            while end < n and text[end].isdigit():
                end += 1
            base = 10
        digits = text[digits_start:end]
        if not digits or end - pos >= 10:
            return None
        code = int(digits, base)
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_REFERENCES.get(text[pos + 1 : end])
        if named is None:
            return None
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


def _parse_attributes(text: str, i: int, begin: int) -> tuple[dict[str, str], int]:
    """Parse the attributes of a start tag from ``i``; return them and the index of ``>``."""
    n = len(text)
    attributes: dict[str, str] = {}
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if text[i] == ">":
            return attributes, i
        name_start = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if text[i] != "=":
            # A value-less attribute such as <blockquote expandable>.
            attributes[name] = ""
            continue
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if text[i] in "'\"":
            quote = text[i]
            i += 1
            chars: list[str] = []
            while i < n and text[i] != quote:
                if text[i] == "&":
                    decoded = _decode_reference(text, i)
                    if decoded is not None:
                        chars.append(decoded[0])
                        i = decoded[1]
                        continue
                chars.append(text[i])
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            i += 1
            value = "".join(chars)
        else:
            token_start = i
            while i < n and (text[i].isalnum() or text[i] in ".-"):
                i += 1
            value = text[token_start:i].lower()
            if i >= n or (not text[i].isspace() and text[i] != ">"):
                offset = _byte_offset(text, token_start)
                raise EntityParseError(f"Unexpected end of name token at byte offset {offset}")
        attributes[name] = value


def _entity_for(tag: _OpenTag, offset: int, length: int) -> dict[str, Any] | None:
    """Build the MessageEntity for a closed tag, or None when the tag produces none."""
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag.name in SIMPLE_TAGS:
        entity["type"] = SIMPLE_TAGS[tag.name]
        if tag.name == "pre" and tag.children:
            entity["language"] = tag.children[0]
    elif tag.name == "span":
        entity["type"] = "spoiler"
    elif tag.name == "a":
        url = tag.attributes.get("href", "")
        if not _URL_RE.match(url):
            return None
        entity["type"] = "text_link"
        entity["url"] = url
    elif tag.name == "blockquote":
        expandable = "expandable" in tag.attributes
        entity["type"] = "expandable_blockquote" if expandable else "blockquote"
    else:  # tg-emoji
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = tag.attributes["emoji-id"]
    return entity


def _check_start_tag(tag: _OpenTag, stack: list[_OpenTag]) -> None:
    """Reject start tags Telegram refuses (missing required attributes, bad nesting)."""
    where = f"at byte offset {tag.byte_offset}"
    if tag.name == "span" and tag.attributes.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" {where}')
    if tag.name == "tg-emoji" and not tag.attributes.get("emoji-id", "").isdigit():
        raise EntityParseError(f'Custom emoji entity must contain a tag "emoji-id" {where}')
    if tag.name == "blockquote" and any(t.name == "blockquote" for t in stack):
        raise EntityParseError(f"Blockquote entities can't be nested {where}")


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into plain text and MessageEntity dicts; raise EntityParseError."""
    out: list[str] = []
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[tuple[int, int, dict[str, Any]]] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "&":
            decoded = _decode_reference(text, i)
            if decoded is not None:
                out.append(decoded[0])
                utf16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict:
                raise EntityParseError(
                    f'Character "&" must be escaped as "&amp;" at byte offset '
                    f"{_byte_offset(text, i)}"
                )
        elif ch == ">" and strict:
            raise EntityParseError(
                f'Character ">" must be escaped as "&gt;" at byte offset {_byte_offset(text, i)}'
            )
        if ch != "<":
            out.append(ch)
            utf16 += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue

        begin = _byte_offset(text, i)
        i += 1
        if i < n and text[i] == "/":
            name_start = i + 1
            i = name_start
            while i < n and not text[i].isspace() and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
            i += 1
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
            open_tag = stack.pop()
            if end_name and end_name != open_tag.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {begin}, expected "</{open_tag.name}>", '
                    f'found "</{end_name}>"'
                )
            length = utf16 - open_tag.utf16_start
            if open_tag.name == "code" and stack and stack[-1].name == "pre":
                # <pre><code class="language-x"> is one pre entity with a language.
                language = open_tag.attributes.get("class", "").removeprefix("language-")
                if language and open_tag.attributes.get("class", "").startswith("language-"):
                    stack[-1].children.append(language)
                continue
            entity = _entity_for(open_tag, open_tag.utf16_start, length)
            if entity is not None and length > 0:
                entities.append((open_tag.utf16_start, -length, entity))
            continue

        name_start = i
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        name = text[name_start:i].lower()
        if name not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
        attributes, i = _parse_attributes(text, i, begin)
        i += 1
        tag = _OpenTag(name=name, attributes=attributes, utf16_start=utf16, byte_offset=begin)
        _check_start_tag(tag, stack)
        stack.append(tag)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda item: (item[0], item[1]))
    return "".join(out), [entity for _, _, entity in entities]
