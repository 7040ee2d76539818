"""``/apikey``: superadmins issue, revoke and list the Open311 API keys of other systems.

The secret is shown once, in the reply to the superadmin who issued it; only its SHA-256 is
stored (storage/api_keys.py), so a lost secret means revoking the key and issuing another.
"""

from __future__ import annotations

from bot.core.events import Event
from bot.core.lifecycle import Role
from bot.core.replies import Message, Reply
from handlers.context import Context
from handlers.staff import denied
from storage.api_keys import issue_api_key, list_api_keys, revoke_api_key

NAME_MAX = 100


async def on_apikey(event: Event, ctx: Context, args: str) -> list[Reply]:
    """``/apikey issue <name>``, ``/apikey revoke <id>``, ``/apikey list`` (superadmins)."""
    if ctx.staff is None or ctx.staff.role != Role.SUPERADMIN:
        return denied(ctx)
    command, _, rest = args.strip().partition(" ")
    command, rest = command.lower(), rest.strip()
    if command == "issue" and rest:
        return await _issue(ctx, rest[:NAME_MAX])
    if command == "revoke" and rest.lstrip("#").isdigit():
        return await _revoke(ctx, int(rest.lstrip("#")))
    if command == "list":
        return await _list(ctx)
    return [Message(ctx.t("apikey.usage"))]


async def _issue(ctx: Context, name: str) -> list[Reply]:
    assert ctx.staff is not None
    key, secret = await issue_api_key(
        session=ctx.session, name=name, created_by=ctx.staff.id, now=ctx.now
    )
    return [Message(ctx.t("apikey.issued", id=key.id, name=name, secret=secret))]


async def _revoke(ctx: Context, key_id: int) -> list[Reply]:
    key = await revoke_api_key(session=ctx.session, key_id=key_id, now=ctx.now)
    if key is None:
        return [Message(ctx.t("apikey.not_found", id=key_id))]
    return [Message(ctx.t("apikey.revoked", id=key.id, name=key.name))]


async def _list(ctx: Context) -> list[Reply]:
    keys = await list_api_keys(session=ctx.session)
    if not keys:
        return [Message(ctx.t("apikey.list_empty"))]
    lines = [ctx.t("apikey.list_header")]
    for key in keys:
        revoked = (
            ctx.t("apikey.revoked_mark", when=ctx.local_time(key.revoked_at))
            if key.revoked_at
            else ""
        )
        used = ctx.local_time(key.last_used_at) if key.last_used_at else ctx.t("apikey.never")
        lines.append(
            ctx.t(
                "apikey.list_item",
                id=key.id,
                name=key.name,
                created=ctx.local_time(key.created_at),
                used=used,
                revoked=revoked,
            )
        )
    return [Message("\n".join(lines))]
