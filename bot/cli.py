"""The ``aduan`` command: ``run`` (the bot; ``--workers N``: N webhook worker processes, see
bot/workers.py), ``migrate`` (the database), ``sandbox`` (training), ``doctor`` (check a setup
and say how to fix it), ``backup [PATH]`` (an online backup), ``apikey issue NAME | revoke ID |
list`` (Open311 API keys, bot/opendata/key_admin.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.app import DatabaseUnavailable, connect_app, prepare_database
from bot.backup import run_backup
from bot.doctor import run_doctor
from bot.logs import configure_logging
from bot.opendata.key_admin import add_apikey_parser, run_apikey
from bot.sandbox.training import DEFAULT_PORT, SandboxOptions, serve
from bot.settings import BotMode, Settings
from bot.workers import supervise
from storage.database import create_engine

NO_TOKEN = """\
Aduan needs a Telegram bot token, and TELEGRAM_BOT_TOKEN is not set.

How to get one (two minutes):
  1. In Telegram, open a chat with @BotFather.
  2. Send /newbot, choose a display name and a username ending in "bot".
  3. BotFather answers with a token like 123456789:AA...; keep it secret.
  4. Put it in a file named .env next to README.md:
         TELEGRAM_BOT_TOKEN=123456789:AA...
     (or export it in the environment), then run the bot again.

All other settings are optional; see .env.example."""

POLLING_IS_ONE_PROCESS = (
    "Polling: run exactly one process with this token (Telegram answers a second poller with "
    "409 Conflict); to run several processes use BOT_MODE=webhook."
)

SANDBOX_INSTEAD = """
Meanwhile, try Aduan in the training sandbox: the real bot on a simulated Telegram, in your
browser, with no token and no internet (its own database: ./data/sandbox.db).
"""


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        ]
        print("Aduan cannot start: a setting is wrong.\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


async def _run(settings: Settings, worker: int | None = None) -> None:
    # One of several workers (bot/workers.py): only worker 0 registers with Telegram.
    bot = await connect_app(settings, registers=worker in (None, 0))
    try:
        app, runtime = bot.app, bot.runtime
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.stop)
        log = logging.getLogger("aduan")
        if worker is not None:
            log.info("worker %s of %s is running", worker, settings.workers)
        log.info(
            "Aduan is running (%s, %s, %s); %s agencies, %s categories. Press Ctrl+C to stop.",
            settings.runtime.value,
            settings.bot_mode.value,
            app.engine.url.render_as_string(hide_password=True),
            app.reference.agencies,
            app.reference.categories,
        )
        if settings.bot_mode is BotMode.POLLING:
            log.info(POLLING_IS_ONE_PROCESS)
        await runtime.run()
    finally:
        await bot.close()


def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """Run the training sandbox until Ctrl+C."""
    options = SandboxOptions(
        port=args.port,
        scenario=getattr(args, "scenario", False),
        language=getattr(args, "language", "id"),
    )
    # The page is the sandbox's interface: keep the terminal to warnings and the URL.
    for noisy in ("alembic", "apscheduler", "aiogram", "telegram", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, options, stop)

    try:
        asyncio.run(main())
    except OSError as error:  # most often: the port is taken
        flag = "--sandbox-port" if args.command == "run" else "--port"
        print(
            f"The sandbox cannot start: {error}. Another program uses port {args.port}: "
            f"stop it, or choose another port with `aduan {args.command} {flag} N`"
            + (" (with make: make sandbox ARGS='--port N')." if args.command == "run" else "."),
            file=sys.stderr,
        )
        return 1
    return 0


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        counts = await prepare_database(settings, engine)
    finally:
        await engine.dispose()
    print(f"Database is up to date; {counts.agencies} agencies, {counts.categories} categories.")


def _until_done(work: Coroutine[Any, Any, None]) -> int:
    """Run ``work``; a database that never came up ends it with one clear line (exit 1)."""
    try:
        asyncio.run(work)
    except DatabaseUnavailable as error:
        logging.getLogger("aduan").error("Aduan cannot start: %s", error)
        return 1
    return 0


def _until_code(work: Coroutine[Any, Any, int]) -> int:
    """``_until_done`` for work that returns an exit code (the workers' supervisor)."""
    try:
        return asyncio.run(work)
    except DatabaseUnavailable as error:
        logging.getLogger("aduan").error("Aduan cannot start: %s", error)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="aduan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot (applies migrations first)")
    run.add_argument(
        "--sandbox-if-no-token",
        action="store_true",
        help="without TELEGRAM_BOT_TOKEN, start the training sandbox instead of exiting",
    )
    run.add_argument(
        "--sandbox-port", dest="port", type=int, default=DEFAULT_PORT, help="the sandbox's port"
    )
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="N webhook worker processes sharing HTTP_LISTEN (overrides WORKERS; N > 1 needs "
        "BOT_MODE=webhook and PostgreSQL)",
    )
    # Set by the supervisor (bot/workers.py) on the processes it starts; not for people.
    run.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    commands.add_parser("migrate", help="apply database migrations and load reference data")
    commands.add_parser(
        "doctor", help="check settings, database, token, webhook, reference data and holidays"
    )
    backup = commands.add_parser(
        "backup", help="back up the database (SQLite: online copy; PostgreSQL: pg_dump)"
    )
    backup.add_argument(
        "path", nargs="?", type=Path, default=None, help="folder for it (default ./data/backups)"
    )
    sandbox = commands.add_parser(
        "sandbox", help="the training sandbox: the bot on a simulated Telegram, in a web page"
    )
    sandbox.add_argument(
        "--scenario", action="store_true", help="pre-load sample reports in every status"
    )
    sandbox.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of the web page")
    sandbox.add_argument(
        "--language", choices=("id", "en"), default="id", help="the simulated users' language"
    )
    add_apikey_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "doctor":
        # Before _settings(): the doctor reports each invalid setting as a line of its own.
        return asyncio.run(run_doctor())
    workers = getattr(args, "workers", None)
    settings = _settings() if workers is None else _settings(workers=workers)
    configure_logging(token=settings.telegram_bot_token, log_format=settings.log_format)
    if args.command == "backup":
        return asyncio.run(run_backup(settings, args.path))
    if args.command == "migrate":
        return _until_done(_migrate(settings))
    if args.command == "apikey":
        return _until_code(run_apikey(settings, args))
    if args.command == "sandbox":
        return _sandbox(settings, args)
    if not settings.telegram_bot_token:
        print(NO_TOKEN, file=sys.stderr)
        if args.sandbox_if_no_token:
            print(SANDBOX_INSTEAD, file=sys.stderr)
            return _sandbox(settings, args)
        return 2
    if args.worker_index is not None:
        return _until_done(_run(settings, worker=args.worker_index))
    if settings.workers > 1:
        return _until_code(supervise(settings))
    return _until_done(_run(settings))
