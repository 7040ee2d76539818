"""Locale catalogs: every user-visible string comes from here, with user text HTML-escaped."""

from __future__ import annotations

import html
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


class Markup(str):
    """Text that is already safe HTML (built from the catalogs); it is not escaped again."""

    __slots__ = ()


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise ValueError(f"catalog entry {name} must be text, got {type(value).__name__}")
    return flat


def placeholders(template: str) -> set[str]:
    """The ``{name}`` fields a catalog string expects."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


class Translator:
    """Looks up catalog strings by locale and key and fills them in safely."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]], *, default: str) -> None:
        if default not in catalogs:
            raise ValueError(f"default locale {default!r} has no catalog")
        self.catalogs = catalogs
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, *, default: str = "id") -> Translator:
        """Read ``<locale>.toml`` and ``<locale>.<area>.toml`` files (one area per feature)."""
        catalogs: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.toml")):
            locale = path.name.split(".")[0]
            with path.open("rb") as handle:
                entries = _flatten(tomllib.load(handle))
            catalog = catalogs.setdefault(locale, {})
            clash = sorted(set(catalog) & set(entries))
            if clash:
                raise ValueError(f"{path.name} repeats catalog entries: {', '.join(clash[:5])}")
            catalog.update(entries)
        return cls(catalogs, default=default)

    @property
    def locales(self) -> tuple[str, ...]:
        """The supported locale codes."""
        return tuple(self.catalogs)

    def pick(self, *candidates: str | None) -> str:
        """The first supported locale among the candidates (``en-GB`` matches ``en``)."""
        for candidate in candidates:
            if not candidate:
                continue
            code = candidate.lower().split("-")[0].split("_")[0]
            if code in self.catalogs:
                return code
        return self.default

    def __call__(self, locale: str, key: str, /, **values: object) -> Markup:
        """The catalog text for ``key``; plain-``str`` values are HTML-escaped, Markup is kept."""
        catalog = self.catalogs.get(locale) or self.catalogs[self.default]
        template = catalog.get(key) or self.catalogs[self.default].get(key)
        if template is None:
            raise KeyError(f"no catalog entry {key!r}")
        safe = {
            name: value if isinstance(value, Markup) else html.escape(str(value), quote=False)
            for name, value in values.items()
        }
        return Markup(template.format(**safe))

    def all_variants(self, key: str) -> set[str]:
        """The text of ``key`` in every locale (to recognise reply-keyboard presses)."""
        return {catalog[key] for catalog in self.catalogs.values() if key in catalog}
