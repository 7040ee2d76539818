"""Logging for the ``aduan`` command: one place, nothing secret or personal (rule 11).

- The HTTP, Telegram and database driver libraries stay at WARNING: httpx logs every request
  at INFO with the Bot API URL, and that URL holds the bot's token (``/bot<token>/sendMessage``);
  aiosqlite logs every statement with its parameters at DEBUG.
- ``RedactingFilter`` sits on the root handler as a safety net: any bot token (the configured
  one, and anything shaped like ``bot<digits>:<secret>`` or ``<digits>:<35 characters>``) is
  replaced in every record's message, arguments and traceback before it is written.
- Chat ids are logged through ``chat_ref``: a keyed hash, stable within a process (and across
  the processes of one bot, the key being derived from its token), not reversible by trying
  every id.

Database errors carry no bound parameters because engines are created with
``hide_parameters=True`` (storage/database.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import traceback
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "<redacted>"
# Loggers that would write request URLs (with the token), update contents or a statement's
# parameters (aiosqlite at DEBUG, SQLAlchemy's echo) at INFO / DEBUG.
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram",
    "aiogram",
    "aiohttp.access",
    "hpack",
    "aiosqlite",
    "sqlalchemy",
)
# APScheduler logs every run of every job at INFO: the outbox alone runs every 2 s.
SCHEDULER_LOGGERS = ("apscheduler.executors", "apscheduler.scheduler")

# "bot123456:AA…" in an API URL, or a bare token "123456789:AA…" (the secret is 35 characters).
_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
_BARE_TOKEN = re.compile(r"(?<![\w:])\d{5,}:[A-Za-z0-9_-]{30,}")

_chat_key = secrets.token_bytes(16)


class RedactingFilter(logging.Filter):
    """Replaces bot tokens in a record's message, arguments and traceback (never drops it)."""

    def __init__(self, secrets_to_hide: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets_to_hide or [] if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every token replaced."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(f"bot{secret}", f"bot{REDACTED}").replace(secret, REDACTED)
        text = _TOKEN_IN_URL.sub(f"bot{REDACTED}", text)
        return _BARE_TOKEN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print a set exc_text instead of formatting the exception again.
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure_logging(
    *, token: str = "", level: int = logging.INFO, handler: logging.Handler | None = None
) -> logging.Handler:
    """Set up the root logger once for a process; returns the (redacting) root handler.

    ``handler`` replaces the default stderr handler (tests capture with their own).
    """
    global _chat_key
    root = logging.getLogger()
    if handler is None:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        for old in list(root.handlers):
            root.removeHandler(old)
    handler.addFilter(RedactingFilter([token]))
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS + SCHEDULER_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    if token:
        _chat_key = hashlib.sha256(b"aduan-log-chat:" + token.encode()).digest()
    return handler


def chat_ref(chat_id: int | None) -> str:
    """A chat id as it may appear in logs: ``chat#`` and 10 hex digits of a keyed hash."""
    if chat_id is None:
        return "chat#none"
    digest = hmac.new(_chat_key, str(chat_id).encode(), hashlib.sha256).hexdigest()
    return f"chat#{digest[:10]}"


def failure(error: BaseException) -> str:
    """An exception as it may appear in logs: its type and where it was raised, frame by frame
    (innermost first) — never its message, which may quote a citizen's words (rule 11)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = " < ".join(
        f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in reversed(frames)
    )
    cause = error.__cause__ or error.__context__
    tail = f"; caused by {type(cause).__name__}" if cause is not None else ""
    return f"{type(error).__name__} at {where or '?'}{tail}"
