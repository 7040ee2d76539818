"""``aduan doctor``: check a deployment (settings, database, token, webhook, data files).

Each check prints one line: ``✔`` passed, ``!`` a warning (worth a look, not a failure) or
``✘`` a failure, followed by what to do about it. The exit code is 1 when any check failed.

Decisions:
- The Bot API is asked over plain HTTP (aiohttp), not through aiogram or python-telegram-bot:
  the doctor checks the deployment, not a framework, and works whichever ``RUNTIME`` is set.
- The token is never printed, not even inside an error message: URLs show ``bot<redacted>``.
- Nothing is changed: the SQLite file is not created when missing, the webhook is not touched
  (``aduan run`` sets or removes it), migrations are not applied (``aduan migrate`` does).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.calendar import load_holidays
from bot.settings import BotMode, Settings
from storage.database import alembic_config, create_engine
from storage.reference import read_reference_file

HTTP_TIMEOUT_SECONDS = 15
# A firewall that drops packets would otherwise keep asyncpg waiting for a minute.
DATABASE_TIMEOUT_SECONDS = 15
# More queued updates than this means nobody is taking them (or far too slowly).
PENDING_UPDATES_WARNING = 100
NO_TOKEN = "skipped: no TELEGRAM_BOT_TOKEN (the sandbox needs none)"


class Outcome(StrEnum):
    """How a check ended; the value is the mark printed before it."""

    PASSED = "✔"
    WARNING = "!"
    FAILED = "✘"


@dataclass(frozen=True)
class Check:
    """One check's result: what was looked at, what was found and what to do about it."""

    name: str
    outcome: Outcome
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The printed line, e.g. ``✘ token: getMe answered 401 … — fix: …``."""
        advice = f" — fix: {self.fix}" if self.fix else ""
        return f"{self.outcome.value} {self.name}: {self.detail}{advice}"


def passed(name: str, detail: str) -> Check:
    """A check that passed."""
    return Check(name, Outcome.PASSED, detail)


def warning(name: str, detail: str, fix: str = "") -> Check:
    """A check worth a look that does not fail the run."""
    return Check(name, Outcome.WARNING, detail, fix)


def failed(name: str, detail: str, fix: str) -> Check:
    """A failed check, with the fix."""
    return Check(name, Outcome.FAILED, detail, fix)


async def run_doctor(settings: Settings | None = None, *, today: date | None = None) -> int:
    """Run every check, print one line each; 1 if any failed, else 0.

    Without ``settings`` they are loaded here, so that invalid settings are reported as checks
    (one line per invalid field) instead of stopping the command.
    """
    if settings is None:
        loaded = load_settings()
        if isinstance(loaded, list):
            return report(loaded)
        settings = loaded
    checks = [check_settings(settings), await check_database(settings)]
    checks += await check_telegram(settings)
    checks += [check_reference_data(settings), check_holidays(settings, today=today)]
    return report(checks)


def report(checks: Sequence[Check]) -> int:
    """Print the checks and a summary; the exit code."""
    for check in checks:
        print(check.line())
    failures = sum(check.outcome is Outcome.FAILED for check in checks)
    warnings = sum(check.outcome is Outcome.WARNING for check in checks)
    if failures:
        print(f"{failures} check(s) failed, {warnings} warning(s).")
        return 1
    print(f"All checks passed ({warnings} warning(s)).")
    return 0


# ------------------------------------------------------------------------------ settings
def load_settings() -> Settings | list[Check]:
    """Settings from the environment and ``.env``, or one failed check per invalid field."""
    try:
        return Settings()
    except ValidationError as error:
        return [
            failed(
                "settings",
                f"{'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}",
                "correct it in the environment or .env (every setting is in .env.example)",
            )
            for e in error.errors()
        ]


def check_settings(settings: Settings) -> Check:
    """Combinations that load but cannot work as deployed."""
    database = make_url(settings.database_url).get_backend_name()
    summary = (
        f"{settings.bot_mode.value} mode on {settings.runtime.value}, "
        f"{'SQLite' if database == 'sqlite' else 'PostgreSQL'} database, {settings.timezone}"
    )
    # WORKERS arrives with the multi-worker runtime; until then a process is one worker.
    workers = int(getattr(settings, "workers", 1) or 1)
    if workers > 1:
        summary += f", {workers} workers"
        if settings.bot_mode is BotMode.POLLING:
            return failed(
                "settings",
                f"{summary}: polling is one process by Telegram's design",
                "set BOT_MODE=webhook (behind nginx) or WORKERS=1",
            )
        if database == "sqlite":
            return failed(
                "settings",
                f"{summary}: several workers need PostgreSQL",
                "set DATABASE_URL=postgresql://… or WORKERS=1",
            )
    if settings.bot_mode is BotMode.WEBHOOK and not settings.webhook_url.startswith("https://"):
        return warning(
            "settings",
            f"{summary}; WEBHOOK_URL is not https, which Telegram refuses (a local test only)",
            "set WEBHOOK_URL to the public https address nginx serves",
        )
    return passed("settings", summary)


# ------------------------------------------------------------------------------ database
async def check_database(settings: Settings) -> Check:
    """The database answers and its schema is at Alembic's head revision."""
    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        return missing
    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), engine.connect() as connection:
            server = await _server_version(connection.dialect.name, connection)
            current = await connection.run_sync(_current_revisions)
    except TimeoutError:
        return failed(
            "database",
            f"{shown} did not answer within {DATABASE_TIMEOUT_SECONDS} s",
            "check DATABASE_URL, the database server and the firewall between them",
        )
    except Exception as error:  # any driver error: the point is to report it
        return failed(
            "database",
            f"cannot connect to {shown}: {_one_line(error)}",
            "check DATABASE_URL and that the database server is running and reachable",
        )
    finally:
        await engine.dispose()
    return _migration_check(server, current)


def _missing_sqlite_file(database_url: str) -> Check | None:
    """A failed check when SQLite has no file yet (connecting would create an empty one)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        return failed("database", "an in-memory SQLite keeps nothing", "set DATABASE_URL to a file")
    if not Path(url.database).exists():
        return failed(
            "database",
            f"no SQLite file at {url.database}",
            "run `aduan migrate` (it creates the file), from the bot's working directory",
        )
    return None


async def _server_version(dialect: str, connection: AsyncConnection) -> str:
    if dialect == "sqlite":
        version = (await connection.execute(text("select sqlite_version()"))).scalar_one()
        return f"SQLite {version}"
    number = (await connection.execute(text("show server_version_num"))).scalar_one()
    return f"PostgreSQL {int(number) // 10000}"


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    # Alembic logs its dialect at INFO when configured; the doctor's output is its checks.
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        logger.setLevel(level)


def _migration_check(server: str, current: tuple[str, ...]) -> Check:
    script = ScriptDirectory.from_config(alembic_config())
    heads = tuple(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    if set(current) == set(heads):
        return passed("database", f"{server}, migrations at head ({', '.join(heads)})")
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        return failed(
            "database",
            f"{server}, at revision {', '.join(unknown)}, which this Aduan does not know",
            "run the Aduan version that migrated it, or restore a backup taken before",
        )
    lower = current[0] if current else "base"
    pending = len(list(script.iterate_revisions(heads[0], lower)))
    where = f"at {', '.join(current)}" if current else "empty (no migration applied)"
    return failed(
        "database",
        f"{server}, {where}; {pending} migration(s) pending up to {', '.join(heads)}",
        "run `aduan migrate`",
    )


# ------------------------------------------------------------------------------ Telegram
async def check_telegram(settings: Settings) -> list[Check]:
    """The token (getMe) and the webhook (getWebhookInfo)."""
    token = settings.telegram_bot_token
    if not token:
        fix = "set TELEGRAM_BOT_TOKEN before `aduan run`"
        return [warning("token", NO_TOKEN, fix), warning("webhook", NO_TOKEN, fix)]
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        me = await _call(session, settings, "getMe")
        if not isinstance(me, dict):
            skipped = warning("webhook", "skipped: the token check failed")
            return [_token_failure(me), skipped]
        name = f"@{me.get('username', '?')} (id {me.get('id', '?')})"
        token_check = passed("token", f"getMe answered: {name}")
        info = await _call(session, settings, "getWebhookInfo")
    if not isinstance(info, dict):
        return [token_check, failed("webhook", info, "check TELEGRAM_API_URL and the network")]
    return [token_check, _webhook_check(settings, info)]


async def _call(session: aiohttp.ClientSession, settings: Settings, method: str) -> Any:
    """The method's ``result``, or a one-line description of why there is none (a str)."""
    token = settings.telegram_bot_token
    shown = f"{settings.telegram_api_url}/bot<redacted>/{method}"
    try:
        async with session.get(f"{settings.telegram_api_url}/bot{token}/{method}") as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        reason = _one_line(error).replace(token, "<redacted>") or type(error).__name__
        return f"cannot reach {shown}: {reason}"
    if isinstance(body, dict) and body.get("ok"):
        return body.get("result")
    if isinstance(body, dict):
        description = str(body.get("description", "")).replace(token, "<redacted>")
        return f"{method} answered {body.get('error_code', status)} {description}".strip()
    return f"{method} answered HTTP {status}, not the Bot API (is TELEGRAM_API_URL right?)"


def _token_failure(reason: str) -> Check:
    if re.search(r"answered (401|404)\b", reason):
        fix = "set TELEGRAM_BOT_TOKEN to the token @BotFather gave you (/token there shows it)"
    elif reason.startswith("cannot reach"):
        fix = "check the server's internet access (or TELEGRAM_API_URL) and try again"
    else:
        fix = "check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL"
    return failed("token", reason, fix)


def _webhook_check(settings: Settings, info: dict[str, Any]) -> Check:
    url = str(info.get("url") or "")
    pending = int(info.get("pending_update_count") or 0)
    error = str(info.get("last_error_message") or "")
    if settings.bot_mode is BotMode.POLLING:
        if url:
            return warning(
                "webhook",
                f"a webhook is set ({url}); polling needs it removed",
                "nothing: `aduan run` removes it (or use BOT_MODE=webhook)",
            )
        return passed("webhook", f"none set, as polling needs; {pending} pending update(s)")
    queue = f"{pending} pending update(s)"
    if not url:
        return warning("webhook", f"not set yet; {queue}", "nothing: `aduan run` sets it")
    if url != settings.webhook_url:
        return failed(
            "webhook",
            f"Telegram posts to {url}, not WEBHOOK_URL ({settings.webhook_url}); {queue}",
            "restart `aduan run` (it sets WEBHOOK_URL), and make sure no other deployment "
            "uses this token",
        )
    if error:
        return warning(
            "webhook",
            f"{url}, {queue}, last error: {error}",
            "check that nginx forwards the webhook path to `aduan run` and the certificate "
            "is valid (an old error clears with the next delivered update)",
        )
    if pending > PENDING_UPDATES_WARNING:
        return warning(
            "webhook",
            f"{url}, {queue}",
            "is `aduan run` running and answering? (see its log, /readyz)",
        )
    return passed("webhook", f"{url}, {queue}, no delivery error")


# ------------------------------------------------------------------------------ data files
def check_reference_data(settings: Settings) -> Check:
    """The city's agencies and categories: present, and every category's agency exists."""
    path = settings.reference_data
    try:
        data = read_reference_file(path)
    except FileNotFoundError:
        return failed(
            "reference data",
            f"no file at {path}",
            "set REFERENCE_DATA to the city's file (bot/data/tanjungpinang.toml is a sample)",
        )
    except (ValueError, OSError) as error:
        return failed("reference data", _one_line(error), f"correct {path}")
    agencies, categories = data["agency"], data["category"]
    if not agencies:
        return failed(
            "reference data",
            f"{path} lists no [[agency]]: reports could not be forwarded",
            "add the city's agencies (OPD) to it",
        )
    return passed(
        "reference data", f"{len(agencies)} agencies, {len(categories)} categories ({path})"
    )


def check_holidays(settings: Settings, *, today: date | None = None) -> Check:
    """The holidays file lists dates for every year of the next 12 months."""
    path = settings.holidays_file
    try:
        holidays = load_holidays(path)
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return failed(
            "holidays",
            f"no file at {path}",
            "set HOLIDAYS_FILE to the holidays file (bot/data/holidays.toml is maintained)",
        )
    except (ValueError, OSError) as error:
        return failed("holidays", _one_line(error), f"correct {path}")
    today = today or datetime.now(ZoneInfo(settings.timezone)).date()
    horizon = _one_year_after(today)
    needed = range(today.year, horizon.year + 1)
    listed = {day.year for day in holidays}
    missing = [year for year in needed if year not in listed]
    if missing:
        years = ", ".join(map(str, missing))
        return failed(
            "holidays",
            f"{path} lists no dates for {years}; deadlines up to {horizon} would count "
            "holidays as working days",
            f"add {years}'s national holidays and cuti bersama (SKB 3 Menteri) to it",
        )
    provisional = sorted(year for year in _provisional_years(source) if year in needed)
    covered = f"{len(holidays)} dates, {', '.join(map(str, needed))} covered up to {horizon}"
    if provisional:
        years = ", ".join(map(str, provisional))
        return warning(
            "holidays",
            f"{years} is provisional in {path} ({covered})",
            "replace the estimates with the official SKB 3 Menteri dates once published",
        )
    return passed("holidays", covered)


def _provisional_years(source: str) -> set[int]:
    """Years the file marks provisional: a ``# 2027 — PROVISIONAL`` heading or an entry's note."""
    years = set()
    for line in source.splitlines():
        if "provisional" not in line.lower():
            continue
        found = re.match(r"\s*date\s*=\s*(\d{4})-", line) or re.match(r"\s*#\s*(\d{4})\b", line)
        if found:
            years.add(int(found.group(1)))
    return years


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _one_line(error: BaseException) -> str:
    """The error's message on one line, without SQLAlchemy's "Background on this error" link."""
    message = re.sub(r"\(Background on this error at: \S+\)", "", str(error))
    return " ".join(message.split()) or type(error).__name__
