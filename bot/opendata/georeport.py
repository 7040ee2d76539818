"""Open311 GeoReport v2 documents: the spec's field names, in JSON and XML, and its errors.

The shapes follow http://wiki.open311.org/GeoReport_v2: a JSON list of objects, or an XML
root holding one element per item (``<services><service>…``, ``<service_requests><request>…``)
whose children are the fields, empty when the value is unknown; errors are
``[{"code": 400, "description": "…"}]`` / ``<errors><error><code>…``. Only this module knows
the spec's names; bot/opendata/open311.py decides what goes in them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree

from aiohttp import web

from bot.core.calendar import WorkingCalendar
from storage.publication import PublishedReport

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# The element of each item of a list, by the list's name.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
}


class Format(StrEnum):
    """The formats served: XML (the spec's required one) and JSON."""

    JSON = "json"
    XML = "xml"

    @property
    def content_type(self) -> str:
        """The HTTP content type (UTF-8 is implied by the charset of the response)."""
        return "application/json" if self is Format.JSON else "text/xml"


def parse_format(value: str) -> Format | None:
    """The format named by a path's extension (None: not one of the two)."""
    try:
        return Format(value.lower())
    except ValueError:
        return None


Document = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def respond(
    fmt: Format,
    root: str,
    body: Document,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``body`` as a response: JSON as it is, XML under ``root`` (lists: one item element each)."""
    if fmt is Format.JSON:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    else:
        element = ElementTree.Element(root)
        _fill(element, root, body)
        text = '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(
            element, encoding="unicode"
        )
    return web.Response(
        text=text, status=status, content_type=fmt.content_type, charset="utf-8", headers=headers
    )


def error(
    fmt: Format, code: int, description: str, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The spec's error list with one error."""
    body = [{"code": code, "description": description}]
    return respond(fmt, "errors", body, status=code, headers=headers)


def _fill(element: ElementTree.Element, name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), key, item)
    elif isinstance(value, list | tuple):
        tag = ITEM_TAGS.get(name, "item")
        for item in value:
            _fill(ElementTree.SubElement(element, tag), tag, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def w3c(calendar: WorkingCalendar, moment: datetime | None) -> str | None:
    """A moment as the spec writes it: ISO 8601 with the city's UTC offset."""
    return calendar.local(moment).isoformat(timespec="seconds") if moment else None


def service_request(
    report: PublishedReport,
    *,
    calendar: WorkingCalendar,
    service_name: str,
    status_notes: str | None,
    media_url: str | None,
) -> dict[str, Any]:
    """One report under the spec's field names (the reporter appears in none of them)."""
    return {
        "service_request_id": report.tracking_code,
        "status": "open" if report.is_open else "closed",
        "status_notes": status_notes,
        "service_name": service_name,
        "service_code": report.category_code,
        "description": report.description,
        "agency_responsible": report.agency_name,
        "service_notice": None,
        "requested_datetime": w3c(calendar, report.submitted_at),
        "updated_datetime": w3c(calendar, report.updated_at),
        "expected_datetime": w3c(calendar, report.expected_at),
        "address": report.address,
        "address_id": None,
        "zipcode": None,
        "lat": report.latitude,
        "long": report.longitude,
        "media_url": media_url,
    }


def discovery(*, base_url: str, changeset: str, contact: str, key_service: str) -> dict[str, Any]:
    """The service discovery document: one production endpoint, both formats."""
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": changeset,
                "type": "production",
                "formats": [Format.XML.content_type, Format.JSON.content_type],
            }
        ],
    }
