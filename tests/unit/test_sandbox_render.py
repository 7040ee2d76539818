"""The sandbox page's message HTML: Telegram's entities back to tags, everything else escaped."""

from __future__ import annotations

from bot.sandbox.html_check import parse_html
from bot.sandbox.render import entities_to_html


def roundtrip(html: str) -> str:
    """What the page shows for a message the bot sent with parse_mode=HTML."""
    return entities_to_html(*parse_html(html))


def test_telegram_tags_come_back_and_text_is_escaped() -> None:
    sent = (
        "<b>Kode</b> <code>TPI-2026-000001</code>: &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
    )
    assert roundtrip(sent) == (
        "<b>Kode</b> <code>TPI-2026-000001</code>: &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
    )


def test_nested_entities_and_astral_characters_keep_their_place() -> None:
    sent = "👋 <b>Halo <i>Siti</i></b> <s>lama</s> <u>baru</u> <tg-spoiler>rahasia</tg-spoiler>"
    assert roundtrip(sent) == sent


def test_blockquote_and_pre_are_kept() -> None:
    assert roundtrip("<blockquote>kutipan</blockquote><pre>kode</pre>") == (
        "<blockquote>kutipan</blockquote><pre>kode</pre>"
    )


def test_links_keep_only_safe_addresses() -> None:
    safe = entities_to_html(
        "peta", [{"type": "text_link", "offset": 0, "length": 4, "url": "https://osm.org/?a=1&b=2"}]
    )
    assert safe == (
        '<a href="https://osm.org/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">peta</a>'
    )
    unsafe = [{"type": "text_link", "offset": 0, "length": 4, "url": "javascript:alert(1)"}]
    assert entities_to_html("peta", unsafe) == "peta"


def test_unknown_or_broken_entities_show_plain_text() -> None:
    entities = [
        {"type": "bot_command", "offset": 0, "length": 6},
        {"type": "bold", "offset": 40, "length": 3},
        {"type": "italic", "offset": 2, "length": 0},
    ]
    assert entities_to_html("/start <img src=x onerror=alert(1)>", entities) == (
        "/start &lt;img src=x onerror=alert(1)&gt;"
    )


def test_crossing_entities_are_closed_and_reopened() -> None:
    entities = [
        {"type": "bold", "offset": 0, "length": 6},
        {"type": "italic", "offset": 3, "length": 6},
    ]
    assert entities_to_html("abcdefghi", entities) == "<b>abc<i>def</i></b><i>ghi</i>"
