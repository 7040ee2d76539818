"""WEBHOOK_URL: https with a host, or plain http only to a loopback address."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import webhook_url_problem
from tests.conftest import make_settings

SECRET = "s" * 32


@pytest.mark.parametrize(
    "url",
    [
        "https://bot.example.go.id/telegram",
        "http://127.0.0.1:8080/hook",
        "http://127.5.6.7/hook",
        "http://[::1]:8080/hook",
        "http://localhost/hook",
    ],
)
def test_accepted(url: str, tmp_path: Path) -> None:
    assert webhook_url_problem(url) is None
    settings = make_settings(tmp_path, bot_mode="webhook", webhook_url=url, webhook_secret=SECRET)
    assert settings.webhook_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.evil.example/hook",
        "http://127.0.0.1@evil.example/hook",
        "http://localhost.evil.example/hook",
        "http://bot.example.go.id/hook",
        "http://10.0.0.5/hook",
        "ftp://127.0.0.1/hook",
        "https://",
        "",
        "https://user:pw@bot.example.go.id/hook",
        "https://bot.example.go.id:99999/hook",
    ],
)
def test_refused(url: str, tmp_path: Path) -> None:
    assert webhook_url_problem(url) is not None
    with pytest.raises(ValidationError, match="WEBHOOK_URL"):
        make_settings(tmp_path, bot_mode="webhook", webhook_url=url, webhook_secret=SECRET)


def test_polling_ignores_the_url(tmp_path: Path) -> None:
    make_settings(tmp_path, bot_mode="polling", webhook_url="http://evil.example/")


def test_retention_and_wait_defaults(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.database_wait_seconds == 300
    assert settings.processed_update_retention_days == 7
    assert settings.notification_retention_days == 30
    with pytest.raises(ValidationError):
        make_settings(tmp_path, processed_update_retention_days=1)
