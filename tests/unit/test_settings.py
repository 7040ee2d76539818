"""Settings: every one documented in .env.example, and unsafe values refused at start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_documents_every_setting_and_loads() -> None:
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert named == {name.upper() for name in Settings.model_fields}
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.admin_ids == []


def test_lists_and_plain_database_urls_are_understood() -> None:
    settings = Settings(
        _env_file=None,
        admin_ids="11, 22 33",
        database_url="postgresql://u@h/db",  # type: ignore[call-arg]
    )
    assert settings.admin_ids == [11, 22, 33]
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"tracking_prefix": "tpi-1"}, "TRACKING_PREFIX"),
        ({"runtime": "telethon"}, "'aiogram' or 'ptb'"),
        ({"bot_mode": "webhook", "webhook_url": "https://x.example/hook"}, "WEBHOOK_SECRET"),
        ({"bot_mode": "webhook", "webhook_secret": "s" * 20}, "WEBHOOK_URL"),
        ({"description_min_chars": 500, "description_max_chars": 100}, "must not exceed"),
        ({"outbox_rate_per_second": 0}, "outbox_rate_per_second"),
        ({"outbox_max_attempts": 0}, "outbox_max_attempts"),
        ({"outbox_interval_seconds": 0}, "outbox_interval_seconds"),
    ],
)
def test_unsafe_values_fail_fast(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workers": 2}, "WORKERS=2 needs BOT_MODE=webhook: in polling mode Telegram"),
        (
            {
                "workers": 3,
                "bot_mode": "webhook",
                "webhook_url": "https://x.example/hook",
                "webhook_secret": "s" * 20,
            },
            "WORKERS=3 needs PostgreSQL: SQLite has one writer",
        ),
        (
            {
                "workers": 2,
                "bot_mode": "webhook",
                "webhook_url": "https://x.example/hook",
                "webhook_secret": "s" * 20,
                "database_url": "postgresql://u@h/db",
                "http_listen": "127.0.0.1:0",
            },
            "fixed port",
        ),
        ({"workers": 0}, "greater than or equal to 1"),
    ],
)
def test_several_workers_need_webhook_mode_and_postgresql(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as refused:
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
    if "workers" in values and values["workers"] != 0:
        assert "Use WORKERS=1" in str(refused.value) or "fixed port" in message


def test_several_webhook_workers_on_postgresql_are_accepted() -> None:
    settings = Settings(
        _env_file=None,
        workers=4,
        bot_mode="webhook",  # type: ignore[arg-type]
        webhook_url="https://x.example/hook",
        webhook_secret="s" * 20,
        database_url="postgresql://u@h/db",
    )
    assert settings.workers == 4
    assert Settings(_env_file=None).workers == 1  # type: ignore[call-arg]
