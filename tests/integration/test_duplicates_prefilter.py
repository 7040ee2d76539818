"""The case card's possible duplicates, narrowed by the database, are exactly the reports the
plain rule finds (same category, ±30 days, within 100 m or the same address after strip and
casefold), also for addresses only Unicode folds together and points at the band's edge."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.app import prepare_database
from bot.settings import Settings
from storage.complaints import distance_m, possible_duplicates
from storage.database import session_factory
from storage.models import Category, Complaint
from storage.unit_of_work import UnitOfWork

ADDRESSES = [
    "Jl. Ganet 5",
    "jl. ganet 5",
    "  JL. GANET 5 ",
    "Jl. Ganet 5\t",
    "\u00a0Jl. Ganet 5",  # a no-break space, stripped by Python
    "Jl. \u212aampung 1",  # KELVIN SIGN: casefolds to k
    "Jl. kampung 1",
    "Straße 3",
    "STRASSE 3",
    "strasse 3",
    "",
    "   ",
    None,
    "Jl. Lain 9",
]


def _rows(category: int, rng: random.Random) -> list[dict[str, object]]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    band = math.degrees(100 / 6_371_000)
    rows = []
    for n in range(1, 401):
        located = rng.random() < 0.6
        edge = rng.choice([0.0, band * 0.999, band * 1.001, band * 0.5, band * 3])
        rows.append(
            {
                "tracking_code": f"TPI-2026-{n:07d}",
                "year": 2026,
                "sequence": n,
                "kind": "complaint",
                "category_id": category,
                "description": "x",
                "privacy": "public",
                "channel": "telegram",
                "status": "submitted",
                "submitted_at": start + timedelta(hours=rng.randrange(24 * 80)),
                "updated_at": start,
                "latitude": 0.92 + rng.choice([-1, 1]) * edge if located else None,
                "longitude": 104.45 + rng.uniform(-0.0005, 0.0005) if located else None,
                "address": rng.choice(ADDRESSES),
            }
        )
    return rows


def _plain_rule(me: Complaint, others: list[Complaint]) -> list[int | None]:
    address = (me.address or "").strip().casefold()
    found = []
    for other in sorted(others, key=lambda o: (o.submitted_at, o.id or 0)):
        if other.id == me.id or other.category_id != me.category_id:
            continue
        if abs(other.submitted_at - me.submitted_at) > timedelta(days=30):
            continue
        points = (me.latitude, me.longitude, other.latitude, other.longitude)
        near = None not in points and (distance_m(*(value or 0 for value in points)) <= 100)
        if near or (bool(address) and address == (other.address or "").strip().casefold()):
            found.append(other.id)
    return found


async def test_the_narrowed_duplicates_are_the_plain_rules(engine: AsyncEngine) -> None:
    settings = Settings(_env_file=None, database_url="sqlite://")
    await prepare_database(settings, engine)
    sessions = session_factory(engine)
    async with UnitOfWork(sessions) as uow:
        category = (await uow.session.exec(select(Category.id))).first()
        assert category is not None
        connection = await uow.session.connection()
        await connection.execute(insert(Complaint), _rows(category, random.Random(7)))
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        everyone = list((await uow.session.exec(select(Complaint))).all())
        matched = 0
        for me in everyone[:150]:
            found = await possible_duplicates(session=uow.session, complaint=me)
            expected = _plain_rule(me, everyone)
            # Ties in submission time may come in either order.
            assert sorted(c.id or 0 for c in found) == sorted(n or 0 for n in expected), me.id
            assert [c.submitted_at for c in found] == sorted(c.submitted_at for c in found)
            matched += len(found)
        assert matched > 100  # the fixture has duplicates of every kind
        ids = [c.id for c in everyone if c.address and "\u212a" in c.address]
        kelvin = (await uow.session.exec(select(Complaint).where(col(Complaint.id).in_(ids)))).all()
        assert kelvin and any(await possible_duplicates(session=uow.session, complaint=kelvin[0]))
