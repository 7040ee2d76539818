"""``aduan apikey issue NAME | revoke ID | list``: Open311 API keys from the command line.

For operators without a superadmin account at hand (the bot's /apikey does the same). A key
issued here has no issuing staff member; its secret is printed once and never stored.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from bot.app import prepare_database
from bot.settings import Settings
from storage.api_keys import issue_api_key, list_api_keys, revoke_api_key
from storage.database import create_engine, session_factory
from storage.unit_of_work import UnitOfWork


def add_apikey_parser(commands: Any) -> None:
    """The ``apikey`` sub-command on the CLI's sub-parsers."""
    apikey = commands.add_parser("apikey", help="issue, revoke or list Open311 API keys")
    actions = apikey.add_subparsers(dest="action", required=True)
    issue = actions.add_parser("issue", help="make a key; its secret is printed once")
    issue.add_argument("name", help="who the key is for, e.g. the partner system's name")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)
    actions.add_parser("list", help="every key: id, name, created, last used, revoked")


def _moment(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else "-"


async def run_apikey(settings: Settings, args: argparse.Namespace) -> int:
    """Do what ``args`` asks on the configured database (migrated first); the exit code."""
    engine = create_engine(settings.database_url)
    try:
        await prepare_database(settings, engine)
        async with UnitOfWork(session_factory(engine)) as uow:
            now = datetime.now(UTC)
            if args.action == "issue":
                key, secret = await issue_api_key(
                    session=uow.session, name=args.name[:100], created_by=None, now=now
                )
                await uow.commit()
                print(f"API key #{key.id} for {key.name}. Its secret, shown only now:")
                print(secret)
                return 0
            if args.action == "revoke":
                revoked = await revoke_api_key(session=uow.session, key_id=args.id, now=now)
                await uow.commit()
                if revoked is None:
                    print(f"There is no API key #{args.id}.")
                    return 1
                print(f"API key #{revoked.id} ({revoked.name}) is revoked.")
                return 0
            for key in await list_api_keys(session=uow.session):
                state = f"revoked {_moment(key.revoked_at)}" if key.revoked_at else "active"
                print(
                    f"#{key.id}\t{key.name}\tcreated {_moment(key.created_at)}\t"
                    f"last used {_moment(key.last_used_at)}\t{state}"
                )
            return 0
    finally:
        await engine.dispose()
