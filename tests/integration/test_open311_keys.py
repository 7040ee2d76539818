"""Open311 API keys: issued and revoked by a superadmin's /apikey and by ``aduan apikey``;
only the SHA-256 of a secret is stored."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import build_app
from storage.api_keys import active_api_key
from storage.models import ApiKey
from tests.conftest import make_settings
from tests.integration.test_cli import run
from tests.support.flow_driver import Citizen, FakeClock

ADMIN = 9301
SECRET = re.compile(r"aduan_[A-Za-z0-9_-]{40,}")


async def test_a_superadmin_issues_lists_and_revokes_keys(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, admin_ids=str(ADMIN))
    app = await build_app(settings, engine=engine, clock=FakeClock())
    try:
        admin, stranger = Citizen(app, user_id=ADMIN), Citizen(app, user_id=4242)
        await admin.say("/apikey")
        assert "/apikey issue" in admin.text
        await admin.say("/apikey issue Portal Kelurahan")
        [secret] = SECRET.findall(admin.text)
        assert "Portal Kelurahan" in admin.text
        async with app.sessions() as session:
            [key] = (await session.exec(select(ApiKey))).all()
            assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
            assert secret not in repr(key.model_dump()) and key.created_by is not None
            assert await active_api_key(session=session, secret=secret) is not None
        await admin.say("/apikey list")
        assert "Portal Kelurahan" in admin.text and secret not in admin.text
        await stranger.say("/apikey issue Palsu")
        assert not SECRET.findall(stranger.text)
        await stranger.say(f"/apikey revoke {key.id}")
        async with app.sessions() as session:
            assert await active_api_key(session=session, secret=secret) is not None
        await admin.say(f"/apikey revoke {key.id}")
        assert app.translator("id", "apikey.revoked", id=key.id, name=key.name) in admin.text
        async with app.sessions() as session:
            assert await active_api_key(session=session, secret=secret) is None
            [key] = (await session.exec(select(ApiKey))).all()
            assert key.revoked_at == app.clock()
        await admin.say("/apikey revoke 999")
        assert "999" in admin.text
        await admin.say("/staff")
        assert "/apikey" in admin.text  # the superadmin's command list names it
    finally:
        await app.close()


def test_the_command_line_issues_lists_and_revokes_keys(tmp_path: Path) -> None:
    issued = run(["apikey", "issue", "Dasbor Kota"], tmp_path)
    assert issued.returncode == 0, issued.stderr
    [secret] = SECRET.findall(issued.stdout)
    database = tmp_path / "data" / "aduan.db"
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT id, name, key_hash, created_by FROM apikey").fetchall()
    assert rows == [(1, "Dasbor Kota", hashlib.sha256(secret.encode()).hexdigest(), None)]
    assert secret.encode() not in database.read_bytes()
    listed = run(["apikey", "list"], tmp_path)
    assert listed.returncode == 0 and "Dasbor Kota" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout
    revoked = run(["apikey", "revoke", "1"], tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in run(["apikey", "list"], tmp_path).stdout
    assert run(["apikey", "revoke", "7"], tmp_path).returncode == 1
    with sqlite3.connect(database) as connection:
        [(revoked_at,)] = connection.execute("SELECT revoked_at FROM apikey").fetchall()
    assert revoked_at is not None
