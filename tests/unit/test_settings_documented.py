"""Every setting is documented where people look for it: `.env.example` and the README's
settings table — and neither names a setting that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def setting_names() -> set[str]:
    names = set()
    for name, info in Settings.model_fields.items():
        names.add(name.upper())
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias.upper())
    return names


def fields() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def readme_table_names() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_setting_is_in_env_example() -> None:
    assert fields() - env_example_names() == set()


def test_every_setting_is_in_the_readme_table() -> None:
    assert fields() - readme_table_names() == set()


def test_nothing_documented_is_not_a_setting() -> None:
    assert env_example_names() - setting_names() == set()
    assert readme_table_names() - setting_names() == set()
