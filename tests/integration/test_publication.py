"""storage/publication.py: only public and anonymous reports, never a personal column."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_app
from storage.publication import (
    published_history,
    published_photo,
    published_report,
    published_reports,
)
from tests.conftest import make_settings
from tests.support.open_data import seed_open_data


async def test_only_public_and_anonymous_reports_are_published(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    app = await build_app(make_settings(tmp_path), engine=engine)
    async with app.sessions() as session:
        data = await seed_open_data(session)
        await session.commit()
    async with app.sessions() as session:
        reports = await published_reports(session, limit=100)
        assert sorted(r.tracking_code for r in reports) == sorted(data.published_codes)
        for code in data.hidden_codes:
            assert await published_report(session, code=code) is None
            assert await published_history(session, code=code) == []
        work = await published_report(session, code=data.codes["public_work"])
        assert work is not None and work.is_open and work.agency_name
        assert work.photo_ids == tuple(data.photos["public_work"][:1])
        assert work.expected_at is not None and work.expected_at.tzinfo is not None
        anon = await published_report(session, code=data.codes["anon_work"])
        assert anon is not None and anon.photo_ids == ()
        done = await published_report(session, code=data.codes["public_done"])
        assert done is not None and not done.is_open and done.expected_at is None
        history = await published_history(session, code=data.codes["public_work"])
        assert [e.action for e in history] == ["submitted", "forward", "acknowledge", "progress"]
        assert await published_photo(session, attachment_id=data.photos["public_new"][0])
        for label in ("anon_work", "secret_work"):
            assert await published_photo(session, attachment_id=data.photos[label][0]) is None
        assert await published_photo(session, attachment_id=data.photos["public_work"][1]) is None
        opened = await published_reports(session, is_open=True, limit=100)
        assert data.codes["public_done"] not in [r.tracking_code for r in opened]
        roads = await published_reports(session, category_codes=["health"], limit=100)
        assert [r.tracking_code for r in roads] == [data.codes["public_fixed"]]
    await app.close()
