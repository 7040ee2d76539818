"""A chat message as safe HTML for the sandbox page: text and entities back to Telegram's tags.

The emulator keeps what Telegram keeps (plain text plus entities with UTF-16 offsets), so the
page shows exactly what a Telegram client would. Every character of the text is escaped; the
only tags produced are Telegram's own (b, i, u, s, code, pre, a, blockquote, tg-spoiler), and a
link keeps only an http(s), tg: or mailto: address.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["entities_to_html"]

_TAGS: dict[str, tuple[str, str]] = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
    "spoiler": ("<tg-spoiler>", "</tg-spoiler>"),
}
_SAFE_URL = re.compile(r"^(?:https?://|tg://|mailto:)[^\s\"'<>]+$", re.IGNORECASE)


def _tags(entity: Mapping[str, Any]) -> tuple[str, str] | None:
    """Opening and closing tag of one entity; None for entities shown as plain text."""
    kind = entity.get("type")
    if kind == "text_link":
        url = str(entity.get("url", ""))
        if not _SAFE_URL.match(url):
            return None
        href = html.escape(url, quote=True)
        return f'<a href="{href}" target="_blank" rel="noopener noreferrer">', "</a>"
    return _TAGS.get(str(kind))


def entities_to_html(text: str, entities: Sequence[Mapping[str, Any]] | None) -> str:
    """The message text as HTML: escaped, with the entities' formatting as Telegram tags."""
    units = text.encode("utf-16-le")
    size = len(units) // 2
    opens: dict[int, list[tuple[int, str, str]]] = {}
    for entity in entities or ():
        tags = _tags(entity)
        start = int(entity.get("offset", 0))
        end = min(size, start + int(entity.get("length", 0)))
        if tags is None or not 0 <= start < end:
            continue
        opens.setdefault(start, []).append((end, *tags))
    out: list[str] = []
    stack: list[tuple[int, str, str]] = []
    cut = 0

    def flush(upto: int) -> None:
        nonlocal cut
        if upto > cut:
            out.append(html.escape(units[cut * 2 : upto * 2].decode("utf-16-le"), quote=False))
            cut = upto

    boundaries = sorted({*opens, *(end for items in opens.values() for end, _, _ in items)})
    for position in boundaries:
        flush(position)
        # Close what ends here; an entity crossing a closing parent is closed and reopened.
        reopen: list[tuple[int, str, str]] = []
        while stack and any(end <= position for end, _, _ in stack):
            end, opening, closing = stack.pop()
            out.append(closing)
            if end > position:
                reopen.append((end, opening, closing))
        for item in reversed(reopen):
            out.append(item[1])
            stack.append(item)
        # Longer entities open first so shorter ones nest inside them.
        for item in sorted(opens.get(position, ()), key=lambda entry: -entry[0]):
            out.append(item[1])
            stack.append(item)
    flush(size)
    out.extend(closing for _, _, closing in reversed(stack))
    return "".join(out)
