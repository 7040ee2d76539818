"""The ``aduan`` console script as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ADUAN = [sys.executable, "-m", "bot"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    return subprocess.run(
        [*ADUAN, *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_run_without_a_token_explains_how_to_get_one(tmp_path: Path) -> None:
    result = run(["run"], tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert "@BotFather" in result.stderr and "/newbot" in result.stderr


def test_migrate_creates_the_embedded_database(tmp_path: Path) -> None:
    result = run(["migrate"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "11 agencies, 13 categories" in result.stdout
    assert (tmp_path / "data" / "aduan.db").exists()


def test_a_wrong_setting_is_named(tmp_path: Path) -> None:
    result = run(["migrate"], tmp_path, TIMEZONE="Nowhere/City")
    assert result.returncode == 2
    assert "timezone" in result.stderr and "unknown timezone" in result.stderr
