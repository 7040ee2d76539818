"""The command menu Telegram shows (setMyCommands), per language, from the catalogs."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.i18n import Translator
from handlers.router import MENU_COMMANDS


@dataclass(frozen=True)
class CommandMenu:
    """Commands with their descriptions in every locale; the default locale also serves all."""

    translator: Translator

    def by_language(self) -> dict[str | None, list[tuple[str, str]]]:
        """``{language_code: [(command, description), …]}``; None is the fallback list."""
        menus: dict[str | None, list[tuple[str, str]]] = {}
        for locale in (None, *self.translator.locales):
            catalog_locale = locale or self.translator.default
            menus[locale] = [
                (name, str(self.translator(catalog_locale, f"commands.{name}")))
                for name in MENU_COMMANDS
            ]
        return menus
