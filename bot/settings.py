"""All configuration in one class, read from the environment and ``.env`` (see .env.example)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.database import async_url

DATA_DIR = Path(__file__).resolve().parent / "data"


class BotMode(StrEnum):
    """How updates reach the bot."""

    POLLING = "polling"
    WEBHOOK = "webhook"


class LogFormat(StrEnum):
    """How log lines are written (bot/logs.py)."""

    TEXT = "text"
    JSON = "json"


# Where Aduan's HTTP server listens when neither HTTP_LISTEN nor WEBHOOK_LISTEN is set.
DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"


class RuntimeName(StrEnum):
    """Which Telegram framework runs the bot (both behave the same; see the README)."""

    AIOGRAM = "aiogram"
    PTB = "ptb"


class Settings(BaseSettings):
    """Aduan's settings; unsafe or inconsistent values fail at start, not later."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    telegram_bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///./data/aduan.db"
    bot_mode: BotMode = BotMode.POLLING
    runtime: RuntimeName = RuntimeName.AIOGRAM
    webhook_url: str = ""
    webhook_secret: str = ""
    # Aduan's HTTP server (/healthz, /readyz, /metrics; the webhook path in webhook mode):
    # host:port, default 127.0.0.1:8080; "off" or empty: no server (polling mode only).
    # WEBHOOK_LISTEN is its old name, still read when HTTP_LISTEN is not set (``http_address``).
    http_listen: str | None = None
    webhook_listen: str | None = None
    # One line per record: "text" (readable) or "json" (one object per line).
    log_format: LogFormat = LogFormat.TEXT
    # Webhook worker processes sharing HTTP_LISTEN (bot/workers.py); more than 1 needs
    # BOT_MODE=webhook and PostgreSQL. `aduan run --workers N` overrides it.
    workers: int = Field(default=1, ge=1, le=64)
    # /readyz fails when the oldest due notification has waited longer than this.
    ready_outbox_max_age_seconds: float = Field(default=300, gt=0)
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    timezone: str = "Asia/Jakarta"
    default_locale: str = "id"
    tracking_prefix: str = "TPI"
    reference_data: Path = DATA_DIR / "tanjungpinang.toml"
    holidays_file: Path = DATA_DIR / "holidays.toml"

    description_min_chars: int = Field(default=30, ge=1)
    description_max_chars: int = Field(default=3000, le=3900)
    max_attachments: int = Field(default=5, ge=0, le=10)
    draft_ttl_hours: float = Field(default=48, gt=0)
    reports_per_day: int = Field(default=5, ge=1)
    verify_working_days: int = Field(default=3, ge=1)
    # Deadlines after verification (SP4N-LAPOR! practice) and auto-close of resolved reports.
    first_response_working_days: int = Field(default=5, ge=1)
    completion_days: int = Field(default=14, ge=1)
    completion_days_with_inspection: int = Field(default=60, ge=1)
    auto_close_working_days: int = Field(default=10, ge=1)
    # Scheduled duties: reminder lead time, the citizen's periodic update, the staff digest.
    citizen_update_working_days: int = Field(default=5, ge=1)
    digest_time: str = "08:00"
    deadline_scan_minutes: float = Field(default=15, gt=0)
    # Citizen notifications wait outside this local window (empty: no quiet hours).
    quiet_hours: str = "21:00-07:00"
    album_wait_seconds: float = Field(default=0.8, gt=0, le=10)

    # Outbox delivery (bot/outbox.py): how often the dispatcher looks for due notifications,
    # the bot-wide send rate (Telegram allows about 30/s; more only with paid broadcasts) and
    # how many failed attempts (5xx, timeouts) a notification gets before it is dead.
    outbox_interval_seconds: float = Field(default=2, ge=0.05, le=300)
    outbox_rate_per_second: float = Field(default=25, gt=0, le=1000)
    outbox_max_attempts: int = Field(default=5, ge=1, le=50)
    # Statistics, exports and the monthly report run in the background (bot/reports/runner.py):
    # how often it looks for queued /stats and /export requests.
    reports_interval_seconds: float = Field(default=3, ge=0.5, le=300)
    # Start-up: how long `aduan run` / `aduan migrate` wait for an unreachable database
    # (retrying with a growing pause up to 30 s) before giving up; 0 waits forever.
    database_wait_seconds: float = Field(default=300, ge=0)
    # Retention (the hourly prune duty): handled update ids are kept this many days (Telegram
    # redelivers an update for at most 24 h), delivered or dead notifications this many days.
    processed_update_retention_days: float = Field(default=7, ge=2)
    notification_retention_days: float = Field(default=30, ge=1)
    # The public transparency page (/public/, bot/opendata/page.py): how long its figures, map
    # data and searches are kept before the database is asked again; the map's tile URL
    # (Leaflet's {z}/{x}/{y} template; empty: no tiles, markers on a plain background) and the
    # attribution the tile server requires.
    public_cache_seconds: float = Field(default=300, ge=1, le=86_400)
    public_map_tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    public_map_attribution: str = "© OpenStreetMap contributors"
    # Open data (issue 14): the Open311 GeoReport v2 API under /open311/v2/ (public and
    # anonymous reports only, never who sent them); off serves none of it. Writes through the
    # API are limited per key and per process (with N workers, N times this per minute).
    open_data: bool = True
    open311_requests_per_minute: int = Field(default=60, ge=1, le=100_000)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in re.split(r"[,\s]+", value.strip()) if part]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("http_listen", "webhook_listen")
    @classmethod
    def _listen_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parse_listen(value)  # raises ValueError with the reason
        return value.strip()

    @field_validator("public_map_tiles_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        value = value.strip()
        if value and (
            not re.fullmatch(r"https?://[^/\s'\"]+/\S*", value)
            or not all(part in value for part in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError(
                "PUBLIC_MAP_TILES_URL must be empty or an http(s) URL with {z}, {x} and {y}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name such as Asia/Jakarta)"
            ) from error
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        if value.strip() and not re.fullmatch(r"\d{2}:\d{2}-\d{2}:\d{2}", value.strip()):
            raise ValueError("QUIET_HOURS must look like 21:00-07:00 (or be empty)")
        return value.strip()

    @field_validator("digest_time")
    @classmethod
    def _digest_time_shape(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("DIGEST_TIME must look like 08:00")
        return value.strip()

    @field_validator("tracking_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2,6}", value):
            raise ValueError("TRACKING_PREFIX must be 2-6 capital letters, e.g. TPI")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept plain postgres/sqlite URLs and pick the async driver for them."""
        return async_url(value)

    @field_validator("telegram_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_complete(self) -> Settings:
        if self.description_min_chars > self.description_max_chars:
            raise ValueError("DESCRIPTION_MIN_CHARS must not exceed DESCRIPTION_MAX_CHARS")
        if self.bot_mode is BotMode.WEBHOOK:
            problem = webhook_url_problem(self.webhook_url)
            if problem:
                raise ValueError(f"BOT_MODE=webhook needs WEBHOOK_URL: {problem}")
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", self.webhook_secret):
                raise ValueError(
                    "BOT_MODE=webhook needs WEBHOOK_SECRET: 16-256 characters of A-Z a-z 0-9 _ -"
                )
            if self.http_address is None:
                raise ValueError("BOT_MODE=webhook needs HTTP_LISTEN (the webhook is served there)")
        problem = workers_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where the HTTP server listens: HTTP_LISTEN, else the old WEBHOOK_LISTEN, else
        127.0.0.1:8080; None when it is off. (A property, not a validator: ``model_copy``
        with either name keeps working.)"""
        value = self.http_listen if self.http_listen is not None else self.webhook_listen
        return parse_listen(DEFAULT_HTTP_LISTEN if value is None else value)

    @property
    def listen_from_old_name(self) -> bool:
        """Whether the address comes from WEBHOOK_LISTEN (worth a warning: renamed)."""
        return self.http_listen is None and self.webhook_listen is not None


def workers_problem(settings: Settings) -> str | None:
    """Why ``WORKERS`` cannot be used with the other settings (None: it can)."""
    if settings.workers == 1:
        return None
    n = settings.workers
    if settings.bot_mode is BotMode.POLLING:
        return (
            f"WORKERS={n} needs BOT_MODE=webhook: in polling mode Telegram hands updates to one "
            "getUpdates caller only (a second one gets 409 Conflict), so polling is one process. "
            "Use WORKERS=1, or webhook mode (WEBHOOK_URL, WEBHOOK_SECRET) on PostgreSQL."
        )
    if settings.database_url.startswith("sqlite"):
        return (
            f"WORKERS={n} needs PostgreSQL: SQLite has one writer at a time, so several "
            "processes would only wait for each other. Use WORKERS=1, or set DATABASE_URL to a "
            "PostgreSQL database (postgresql://user:password@host:5432/aduan)."
        )
    address = settings.http_address
    if address is not None and address[1] == 0:
        return (
            f"WORKERS={n} needs a fixed port in HTTP_LISTEN (not 0): the workers share one "
            "listening address."
        )
    return None


def parse_listen(value: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:8080`` for IPv6; port 0: any free one) as a pair; None for
    ``off`` or empty. Raises ValueError for anything else."""
    text = value.strip()
    if text.lower() in {"", "off"}:
        return None
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f"{text!r} is no listen address: use host:port (e.g. 127.0.0.1:8080) or off"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a literal loopback address (127.0.0.0/8, ::1); never a DNS name that
    merely starts with 127.0.0.1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url_problem(url: str) -> str | None:
    """What is wrong with a webhook URL, or None: https with a host, or http to loopback only."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        _ = parts.port  # a malformed port raises here
    except ValueError:
        return "not a valid URL"
    if not host:
        return "a full https:// URL with a host is required"
    if parts.username is not None or parts.password is not None:
        return "the URL must not contain a user or password"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(host):
        return None  # a local reverse proxy or the emulator
    return "it must start with https:// (plain http only to 127.0.0.1, ::1 or localhost)"
