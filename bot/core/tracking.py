"""Tracking codes such as ``TPI-2026-000042``: prefix, year, a sequence per year."""

from __future__ import annotations

import re

CODE_PATTERN = re.compile(r"([A-Z]{2,6})-(\d{4})-(\d{6,})")


def format_code(prefix: str, year: int, sequence: int) -> str:
    """The tracking code for the ``sequence``-th report of ``year``."""
    return f"{prefix}-{year:04d}-{sequence:06d}"


def normalise_code(text: str) -> str | None:
    """The tracking code a user typed (any case, spaces around), or None if it is not one."""
    candidate = text.strip().upper().replace("_", "-")
    return candidate if CODE_PATTERN.fullmatch(candidate) else None
