"""The ``aduan`` command: ``aduan run`` starts the bot, ``aduan migrate`` prepares the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from bot.app import build_app, prepare_database
from bot.settings import Settings
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


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        ]
        print("Aduan cannot start: a setting is wrong.\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


async def _run(settings: Settings) -> None:
    app = await build_app(settings)
    runtime = app.aiogram_runtime()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stop)
    logging.getLogger("aduan").info(
        "Aduan is running (%s, %s); %s agencies, %s categories. Press Ctrl+C to stop.",
        settings.bot_mode.value,
        app.engine.url.render_as_string(hide_password=True),
        app.reference.agencies,
        app.reference.categories,
    )
    try:
        await runtime.run()
    finally:
        await app.close()


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        counts = await prepare_database(settings, engine)
    finally:
        await engine.dispose()
    print(f"Database is up to date; {counts.agencies} agencies, {counts.categories} categories.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="aduan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (applies migrations first)")
    commands.add_parser("migrate", help="apply database migrations and load reference data")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler logs every run of every job at INFO: the outbox alone runs every 2 s.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    settings = _settings()
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if not settings.telegram_bot_token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    asyncio.run(_run(settings))
    return 0
