"""Headless Chromium for the browser tests: Debian's Chromium driven by Playwright (its own
browser download cannot work on this closed network); the tests skip, saying why, without it."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
# The flags this machine's closed network needs; the profile is a fresh directory per test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000

NEEDS_BROWSER = [
    pytest.mark.skipif(
        not HAVE_PLAYWRIGHT, reason="Playwright for Python is not installed (pip install -e .[dev])"
    ),
    pytest.mark.skipif(
        not HAVE_CHROMIUM,
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, as .ci/run does)",
    ),
]
