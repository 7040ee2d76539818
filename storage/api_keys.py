"""Open311 API keys: issued with a secret shown once, kept only as its SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ApiKey

SECRET_PREFIX = "aduan_"


def hash_secret(secret: str) -> str:
    """What is stored of a key's secret (a random secret needs no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_api_key(
    *, session: AsyncSession, name: str, created_by: int | None, now: datetime
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is not stored and cannot be shown again."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, key_hash=hash_secret(secret), created_by=created_by, created_at=now)
    session.add(key)
    await session.flush()
    return key, secret


async def revoke_api_key(*, session: AsyncSession, key_id: int, now: datetime) -> ApiKey | None:
    """Revoke a key (once; a revoked key keeps its first revocation time); None if unknown."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        await session.flush()
    return key


async def list_api_keys(*, session: AsyncSession) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    return list((await session.exec(select(ApiKey).order_by(col(ApiKey.id)))).all())


async def active_api_key(*, session: AsyncSession, secret: str) -> ApiKey | None:
    """The unrevoked key with this secret (looked up by its hash), or None."""
    if not secret:
        return None
    query = select(ApiKey).where(
        col(ApiKey.key_hash) == hash_secret(secret), col(ApiKey.revoked_at).is_(None)
    )
    return (await session.exec(query)).first()


async def mark_api_key_used(*, session: AsyncSession, key: ApiKey, now: datetime) -> None:
    """Remember when a key last wrote."""
    key.last_used_at = now
    session.add(key)
    await session.flush()
