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
- ``LOG_FORMAT``: ``text`` (one readable line per record) or ``json`` (``JsonFormatter``: one
  JSON object per line with time, level, logger, message, the ``extra`` fields of the call
  and the traceback, if any, as ``exception``). A traceback stays inside its record's object,
  so every line of a JSON log parses on its own.

Database errors carry no bound parameters because engines are created with
``hide_parameters=True`` (storage/database.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
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
# The handler ``configure_logging`` made itself (None: none, or the caller gave its own).
_own_handler: logging.Handler | None = None
# The attributes every LogRecord has: the rest of a record's ``__dict__`` came from ``extra``.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time (UTC, ISO 8601), level, logger, message,
    the call's ``extra`` fields, and ``exception`` (the redacted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)

    @staticmethod
    def _time(record: logging.LogRecord) -> str:
        seconds = int(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        return f"{stamp}.{int((record.created - seconds) * 1000):03d}Z"


def formatter(log_format: str = "text") -> logging.Formatter:
    """The formatter of a ``LOG_FORMAT`` value (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(FORMAT)
    raise ValueError(f"unknown log format {log_format!r} (text or json)")


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
    *,
    token: str = "",
    level: int = logging.INFO,
    handler: logging.Handler | None = None,
    log_format: str = "text",
) -> logging.Handler:
    """Set up the root logger once for a process; returns the (redacting) root handler.

    ``handler`` replaces the default stderr handler (tests capture with their own; it keeps
    its formatter). ``log_format``: ``text`` or ``json`` (``LOG_FORMAT``).
    """
    global _chat_key, _own_handler
    root = logging.getLogger()
    if handler is None:
        handler = _own_handler = logging.StreamHandler()
        handler.setFormatter(formatter(log_format))
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


def use_log_format(log_format: str) -> None:
    """Switch the stderr handler ``configure_logging`` made to ``log_format`` (a handler a
    caller gave keeps its own formatter). bot/app.py applies ``LOG_FORMAT`` with it when it
    wires a running bot, so ``aduan run`` logs in that format whoever set up logging."""
    if _own_handler is not None:
        _own_handler.setFormatter(formatter(log_format))


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
