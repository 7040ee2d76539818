"""How a send failed, in the project's words; each runtime maps its framework's errors to these."""

from __future__ import annotations


class DeliveryError(Exception):
    """A Bot API call did not deliver."""


class RetryAfter(DeliveryError):
    """Telegram asked to wait before any further request (HTTP 429 with retry_after)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Unreachable(DeliveryError):
    """The user blocked the bot or the chat is gone (HTTP 403): retrying cannot help."""


class Transient(DeliveryError):
    """A server error or timeout (HTTP 5xx, network): worth retrying later."""


class Rejected(DeliveryError):
    """Telegram refused this request as malformed (HTTP 400): retrying the same cannot help."""
