"""The locale catalogs: complete in every language, and every key the code asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.i18n import Markup, Translator, placeholders

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator.load()


def test_every_locale_has_the_same_keys_and_placeholders(translator: Translator) -> None:
    reference = translator.catalogs["id"]
    for locale, catalog in translator.catalogs.items():
        assert set(catalog) == set(reference), locale
        for key, text in catalog.items():
            assert placeholders(text) == placeholders(reference[key]), (locale, key)


def test_every_literal_key_used_in_the_code_exists(translator: Translator) -> None:
    used = set()
    for path in [*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/**/*.py")]:
        used |= {m for m in re.findall(r"""t\(\s*"([a-z_]+\.[a-z_.]+)\"""", path.read_text())}
    missing = sorted(k for k in used if k not in translator.catalogs["id"])
    assert not missing
    assert len(used) > 50


def test_user_values_are_escaped_but_markup_is_kept(translator: Translator) -> None:
    text = translator("en", "status.agency", agency="<script>&")
    assert text == "<b>Agency:</b> &lt;script&gt;&amp;"
    assert translator("en", "status.history_text", entry=Markup("<b>x</b>"), text="<i>") == (
        "<b>x</b>: &lt;i&gt;"
    )


def test_unknown_locales_fall_back_to_the_default(translator: Translator) -> None:
    assert translator.pick("fr", None) == "id"
    assert translator.pick(None, "en-US") == "en"


def test_every_catalog_text_is_valid_telegram_html(translator: Translator) -> None:
    from bot.sandbox.html_check import parse_html

    for locale, catalog in translator.catalogs.items():
        for key, template in catalog.items():
            filled = translator(locale, key, **dict.fromkeys(placeholders(template), "<x & y>"))
            text, _ = parse_html(filled)
            assert "<x & y>" in text or not placeholders(template), (locale, key)


def test_every_unsupported_content_is_named_in_every_language(translator: Translator) -> None:
    from bot.core.events import UNSUPPORTED_CONTENT

    for locale, catalog in translator.catalogs.items():
        missing = [name for name in UNSUPPORTED_CONTENT if f"content.{name}" not in catalog]
        assert missing == [], locale
