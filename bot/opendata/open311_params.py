"""Reading Open311 requests: GET /requests filters and POST /requests fields, checked.

Every problem is an ``ApiProblem``: its HTTP status and a catalog key (``open311.error.*``)
the site says in the caller's language; nothing here answers HTTP itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from bot.core.calendar import WorkingCalendar
from bot.core.lifecycle import Channel, Privacy, ReportKind
from bot.core.text import clean
from bot.settings import Settings
from storage.complaints import NewComplaint

# GeoReport v2: without dates the most recent 90 days; a range may not span more.
WINDOW = timedelta(days=90)
# GeoReport v2 caps a response at 1000 requests; ``page_size`` (an extension) may ask fewer.
MAX_PAGE_SIZE = 1000
MAX_CODES = 100
NAME_MAX = 100
CONTACT_MAX = 200
ADDRESS_MAX = 500


class ApiProblem(Exception):
    """A request the API refuses: an HTTP status and what to say (catalog key and values)."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.http_status = status
        self.key = key
        self.values = values


@dataclass(frozen=True)
class RequestFilters:
    """What GET /requests asks for (``codes`` set: every other filter is ignored)."""

    codes: tuple[str, ...] | None = None
    category_codes: tuple[str, ...] | None = None
    is_open: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    page_size: int = MAX_PAGE_SIZE

    @property
    def offset(self) -> int:
        """The first row of the page."""
        return (self.page - 1) * self.page_size


def _words(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _number(query: Mapping[str, str], name: str, default: int, top: int) -> int:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise ApiProblem(400, "open311.error.bad_number", field=name, min=1, max=top)
    return int(raw)


def parse_moment(value: str, name: str, calendar: WorkingCalendar) -> datetime:
    """A W3C date-time (a date alone: the local midnight; no offset: the city's time)."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.combine(datetime.fromisoformat(text).date(), time())
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiProblem(400, "open311.error.bad_date", field=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=calendar.timezone)
    return moment


def parse_filters(
    query: Mapping[str, str], *, now: datetime, calendar: WorkingCalendar
) -> RequestFilters:
    """The filters of GET /requests, with the spec's default window and limits."""
    page = _number(query, "page", 1, 1_000_000)
    page_size = _number(query, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    ids = _words(query.get("service_request_id", ""))
    if ids:
        if len(ids) > MAX_CODES:
            raise ApiProblem(400, "open311.error.too_many_ids", max=MAX_CODES)
        # The spec: with service_request_id, every other parameter is ignored.
        return RequestFilters(codes=ids, page=page, page_size=page_size)
    statuses = {word.lower() for word in _words(query.get("status", ""))}
    if not statuses <= {"open", "closed"}:
        raise ApiProblem(400, "open311.error.bad_status")
    is_open = None if len(statuses) != 1 else statuses == {"open"}
    start_text, end_text = query.get("start_date", ""), query.get("end_date", "")
    start = parse_moment(start_text, "start_date", calendar) if start_text.strip() else None
    end = parse_moment(end_text, "end_date", calendar) if end_text.strip() else None
    if start is None and end is None:
        start = now - WINDOW
    elif start is None:
        assert end is not None
        start = end - WINDOW
    elif end is None:
        end = start + WINDOW
    if end is not None and (end < start or end - start > WINDOW):
        raise ApiProblem(400, "open311.error.bad_range", days=WINDOW.days)
    codes = _words(query.get("service_code", ""))
    return RequestFilters(
        category_codes=codes or None,
        is_open=is_open,
        start=start,
        end=end,
        page=page,
        page_size=page_size,
    )


@dataclass(frozen=True)
class Submission:
    """A POST /requests, checked: the category code and the report to store."""

    service_code: str
    report: NewComplaint = field(repr=False)


def _text(form: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    text = clean(value).strip()
    if len(text) > limit:
        raise ApiProblem(400, "open311.error.too_long", field=name, max=limit)
    return text or None


def _coordinate(form: Mapping[str, Any], name: str, bound: float) -> float | None:
    raw = _text(form, name, 40)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiProblem(400, "open311.error.bad_location") from None
    if not -bound <= value <= bound:
        raise ApiProblem(400, "open311.error.bad_location")
    return value


def parse_submission(form: Mapping[str, Any], *, settings: Settings) -> Submission:
    """The fields of POST /requests (the category is checked by the caller, in the database)."""
    service_code = _text(form, "service_code", 32)
    if service_code is None:
        raise ApiProblem(400, "open311.error.missing", field="service_code")
    description = _text(form, "description", settings.description_max_chars)
    if description is None:
        raise ApiProblem(400, "open311.error.missing", field="description")
    if len(description) < settings.description_min_chars:
        raise ApiProblem(
            400,
            "open311.error.description_length",
            min=settings.description_min_chars,
            max=settings.description_max_chars,
        )
    latitude = _coordinate(form, "lat", 90)
    longitude = _coordinate(form, "long", 180)
    if (latitude is None) != (longitude is None):
        raise ApiProblem(400, "open311.error.location_needed")
    address = _text(form, "address_string", ADDRESS_MAX)
    if latitude is None and address is None:
        raise ApiProblem(400, "open311.error.location_needed")
    privacy = (_text(form, "privacy", 16) or Privacy.ANONYMOUS.value).lower()
    if privacy not in set(Privacy):
        raise ApiProblem(400, "open311.error.bad_privacy")
    names = [_text(form, "first_name", NAME_MAX), _text(form, "last_name", NAME_MAX)]
    contacts = [_text(form, "phone", CONTACT_MAX), _text(form, "email", CONTACT_MAX)]
    contact = " / ".join(c for c in contacts if c)
    if len(contact) > CONTACT_MAX:
        raise ApiProblem(400, "open311.error.too_long", field="phone", max=CONTACT_MAX)
    report = NewComplaint(
        kind=ReportKind.COMPLAINT.value,
        category_id=0,
        description=description,
        privacy=privacy,
        latitude=latitude,
        longitude=longitude,
        address=address,
        channel=Channel.OPEN311,
        reporter_name=" ".join(n for n in names if n) or None,
        reporter_contact=contact or None,
    )
    return Submission(service_code=service_code, report=report)
