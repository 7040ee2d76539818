"""Agencies and categories: loaded idempotently from the city's reference-data file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Agency, Category


@dataclass(frozen=True)
class ReferenceCounts:
    """How many active agencies and categories the file defines."""

    agencies: int
    categories: int


def read_reference_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Parse and check the file, naming the entry at fault when something is wrong."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    agencies = raw.get("agency", [])
    categories = raw.get("category", [])
    codes = set()
    for entry in agencies:
        for key in ("code", "name", "short_name"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ValueError(f"{path}: agency {entry!r} needs a text {key!r}")
        codes.add(entry["code"])
    if not categories:
        raise ValueError(f"{path}: at least one [[category]] is needed")
    for entry in categories:
        for key in ("code", "name_id", "name_en"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ValueError(f"{path}: category {entry!r} needs a text {key!r}")
        if entry.get("agency") is not None and entry["agency"] not in codes:
            raise ValueError(f"{path}: category {entry['code']!r} names unknown agency")
    return {"agency": agencies, "category": categories}


async def load_reference_data(*, session: AsyncSession, path: Path) -> ReferenceCounts:
    """Insert or update every agency and category by code; deactivate those no longer listed."""
    data = read_reference_file(path)
    agencies = {a.code: a for a in (await session.exec(select(Agency))).all()}
    for entry in data["agency"]:
        agency = agencies.get(entry["code"]) or Agency(code=entry["code"], name="", short_name="")
        agency.name, agency.short_name, agency.active = entry["name"], entry["short_name"], True
        session.add(agency)
        agencies[agency.code] = agency
    listed_agencies = {entry["code"] for entry in data["agency"]}
    for code, agency in agencies.items():
        if code not in listed_agencies:
            agency.active = False
    await session.flush()

    categories = {c.code: c for c in (await session.exec(select(Category))).all()}
    for position, entry in enumerate(data["category"]):
        category = categories.get(entry["code"]) or Category(
            code=entry["code"], name_id="", name_en=""
        )
        category.name_id, category.name_en = entry["name_id"], entry["name_en"]
        category.agency_id = agencies[entry["agency"]].id if entry.get("agency") else None
        category.position, category.active = position, True
        session.add(category)
        categories[category.code] = category
    listed_categories = {entry["code"] for entry in data["category"]}
    for code, category in categories.items():
        if code not in listed_categories:
            category.active = False
    await session.flush()
    return ReferenceCounts(len(listed_agencies), len(listed_categories))


async def active_categories(*, session: AsyncSession) -> list[Category]:
    """The categories a citizen can choose, in the file's order."""
    query = select(Category).where(col(Category.active)).order_by(col(Category.position))
    return list((await session.exec(query)).all())


async def get_category(*, session: AsyncSession, category_id: int) -> Category | None:
    """One category by id."""
    return await session.get(Category, category_id)


async def get_agency(*, session: AsyncSession, agency_id: int) -> Agency | None:
    """One agency by id."""
    return await session.get(Agency, agency_id)


async def category_by_code(*, session: AsyncSession, code: str) -> Category | None:
    """One category by its code (the reference file's key)."""
    return (await session.exec(select(Category).where(Category.code == code))).first()


async def active_agencies(*, session: AsyncSession) -> list[Agency]:
    """The agencies reports can be forwarded to, by name."""
    query = select(Agency).where(col(Agency.active)).order_by(col(Agency.name))
    return list((await session.exec(query)).all())
