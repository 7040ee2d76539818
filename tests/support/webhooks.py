"""Webhook-mode settings for end-to-end tests: the bot's own HTTP server on a free local port."""

from __future__ import annotations

import socket

from bot.settings import BotMode, Settings


def free_port() -> int:
    """A TCP port nothing listens on right now (on 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_mode(settings: Settings, secret: str = "right-secret-0123456789") -> Settings:
    """The same settings in webhook mode, on a free local port."""
    port = free_port()
    return settings.model_copy(
        update={
            "bot_mode": BotMode.WEBHOOK,
            "webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
            "webhook_secret": secret,
            "http_listen": f"127.0.0.1:{port}",
            # The old name too: tests/e2e/test_crash_recovery.py hands it to `aduan run`.
            "webhook_listen": f"127.0.0.1:{port}",
        }
    )
