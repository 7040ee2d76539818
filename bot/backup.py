"""``aduan backup [PATH]``: a consistent copy of the database while the bot keeps running.

- SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies the live file into
  ``<PATH or ./data/backups>/aduan-YYYYMMDD-HHMMSS.db`` (UTC); the copy is switched to a
  rollback journal (one self-contained file), checked with ``PRAGMA integrity_check`` and only
  then given its final name.
- PostgreSQL: ``pg_dump --format=custom`` into ``aduan-YYYYMMDD-HHMMSS.dump`` when pg_dump is
  installed (then listed with ``pg_restore --list`` as a check), or the command to run.

Decisions:
- The password never reaches the output or pg_dump's command line (which other local users
  can read in the process list): pg_dump gets it in ``PGPASSWORD``, the printed command
  shows ``PGPASSWORD=***``.
- No backup made is exit code 1, also when pg_dump is missing: a cron job or timer must
  notice that nothing was saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bot.settings import Settings

DEFAULT_FOLDER = Path("data") / "backups"
# asyncpg's ``ssl`` query parameter is libpq's ``sslmode``.
_ASYNCPG_TO_LIBPQ = {"ssl": "sslmode"}


async def run_backup(
    settings: Settings, path: Path | None = None, *, now: datetime | None = None
) -> int:
    """Back the database up into the folder ``path`` (default ./data/backups); the exit code."""
    folder = path or DEFAULT_FOLDER
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return await asyncio.to_thread(_backup_sqlite, url, folder, stamp)
    if url.get_backend_name() == "postgresql":
        return await _backup_postgres(url, folder, stamp)
    return _error(f"Cannot back up a {url.get_backend_name()} database: only SQLite, PostgreSQL.")


# ----------------------------------------------------------------------------- SQLite
def _backup_sqlite(url: URL, folder: Path, stamp: str) -> int:
    source = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source.is_file():
        return _error(f"No SQLite database at {url.database!r}: nothing to back up.")
    target = _new_file_name(folder, f"aduan-{stamp}", ".db")
    partial = target.with_name(target.name + ".partial")
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as live,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            # One step: in WAL mode the read snapshot does not block the bot's writes, and a
            # stepwise copy would restart whenever the bot writes in between.
            live.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            verdict = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        return _error(f"The backup of {source} failed: {error}")
    if verdict != ["ok"]:
        partial.unlink(missing_ok=True)
        return _error(f"The copy of {source} failed its integrity check: {'; '.join(verdict)}")
    partial.rename(target)
    print(f"Backup written: {target} ({_size(target)}), integrity check ok.")
    print(f"To restore: stop the bot, then copy it over {source}.")
    return 0


# ------------------------------------------------------------------------- PostgreSQL
def libpq_url(url: URL) -> tuple[str, str]:
    """The database URL as libpq reads it, without the password; and the password."""
    query = {_ASYNCPG_TO_LIBPQ.get(key, key): value for key, value in url.query.items()}
    # URL.set(password=None) would keep the password: build the URL anew.
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=query,
    )
    return plain.render_as_string(hide_password=False), url.password or ""


async def _backup_postgres(url: URL, folder: Path, stamp: str) -> int:
    dsn, password = libpq_url(url)
    pg_dump = shutil.which("pg_dump")
    planned = folder / f"aduan-{stamp}.dump"
    if pg_dump is None:
        shown = _command_line(planned, dsn, password)
        print("pg_dump is not installed here. Install PostgreSQL's client tools of the server's")
        print("major version (Debian: postgresql-client-15), or run this where they are:")
        print(f"  {shown}")
        return 1
    target = _new_file_name(folder, f"aduan-{stamp}", ".dump")
    partial = target.with_name(target.name + ".partial")
    environment = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    dumped = await _run([pg_dump, "--format=custom", f"--file={partial}", dsn], environment)
    if dumped.returncode != 0:
        partial.unlink(missing_ok=True)
        reason = _scrub(dumped.stderr, password)
        return _error(f"pg_dump failed ({dumped.returncode}): {reason}")
    checked = await _listed_entries(partial)
    partial.rename(target)
    listed = f", {checked} entries listed by pg_restore" if checked is not None else ""
    print(f"Backup written: {target} ({_size(target)}){listed}.")
    print(f"To restore: pg_restore --clean --if-exists --dbname=<database URL> {target}")
    return 0


async def _listed_entries(dump: Path) -> int | None:
    """How many entries ``pg_restore --list`` reads from the dump (None without pg_restore)."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        return None
    listed = await _run([pg_restore, "--list", str(dump)], dict(os.environ))
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line and not line.startswith(";"))


class _Finished:
    """A finished subprocess: exit code and decoded output."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout.decode(errors="replace")
        self.stderr = stderr.decode(errors="replace").strip()


async def _run(command: list[str], environment: dict[str, str]) -> _Finished:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    stdout, stderr = await process.communicate()
    return _Finished(process.returncode or 0, stdout, stderr)


def _command_line(target: Path, dsn: str, password: str) -> str:
    prefix = "PGPASSWORD=*** " if password else ""
    return f"{prefix}pg_dump --format=custom --file={target} '{dsn}'"


# ------------------------------------------------------------------------------ common
def _new_file_name(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem+suffix`` (the folder created), or ``stem-2``… if that name is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    candidate, number = folder / f"{stem}{suffix}", 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _scrub(message: str, password: str) -> str:
    message = " ".join(message.split())
    return message.replace(password, "***") if password else message


def _error(message: str) -> int:
    print(message, file=sys.stderr)
    return 1
