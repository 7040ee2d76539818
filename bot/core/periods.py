"""The period of a statistic or export, as staff type it after /stats or /export.

Grammar (case-insensitive; days are local days in ``settings.timezone``; every period is a
half-open interval ``[start, end)`` of local midnights, stored as aware UTC):

- *(nothing)*: this month, from its first day to the first day of the next month;
- ``7d``, ``30d`` (``Nd``, 1 ≤ N ≤ 3660): the N local days ending today, today included;
- ``2026``: a calendar year; ``2026-11``: a month; ``2026-Q4``: a quarter;
- ``2026-11-05``: one day; ``2026-11-01..2026-11-15`` (or two dates separated by a space):
  both days included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 3660
_DATE = r"(\d{4}-\d{2}-\d{2})"


class PeriodError(ValueError):
    """The text is not a period this grammar knows."""


@dataclass(frozen=True)
class Period:
    """A half-open interval of local days, with a language-neutral label."""

    first_day: date
    last_day: date  # included
    timezone: ZoneInfo
    label: str

    @property
    def start(self) -> datetime:
        """Local midnight starting the first day, as aware UTC."""
        return _midnight(self.first_day, self.timezone)

    @property
    def end(self) -> datetime:
        """Local midnight after the last day, as aware UTC (excluded)."""
        return _midnight(self.last_day + timedelta(days=1), self.timezone)

    @property
    def days(self) -> int:
        """How many local days the period spans."""
        return (self.last_day - self.first_day).days + 1

    @property
    def slug(self) -> str:
        """The label as a file name part (no spaces or slashes)."""
        return re.sub(r"[^A-Za-z0-9-]+", "_", self.label).strip("_")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise PeriodError(text) from error


def _month_end(year: int, month: int) -> date:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


def month_of(day: date, zone: ZoneInfo) -> Period:
    """The calendar month that contains ``day``."""
    return Period(
        day.replace(day=1), _month_end(day.year, day.month), zone, f"{day.year}-{day.month:02d}"
    )


def previous_month(day: date, zone: ZoneInfo) -> Period:
    """The calendar month before the one that contains ``day``."""
    return month_of(day.replace(day=1) - timedelta(days=1), zone)


def parse_period(text: str, *, now: datetime, timezone: ZoneInfo) -> Period:
    """The period ``text`` names, relative to ``now``; raises PeriodError otherwise."""
    raw = " ".join(text.strip().lower().split())
    today = now.astimezone(timezone).date()
    if raw == "":
        return month_of(today, timezone)
    if match := re.fullmatch(r"(\d{1,4})d", raw):
        days = int(match.group(1))
        if not 1 <= days <= MAX_DAYS:
            raise PeriodError(text)
        first = today - timedelta(days=days - 1)
        return Period(first, today, timezone, f"{first.isoformat()}..{today.isoformat()}")
    if match := re.fullmatch(r"(\d{4})", raw):
        year = int(match.group(1))
        return Period(date(year, 1, 1), date(year, 12, 31), timezone, f"{year}")
    if match := re.fullmatch(r"(\d{4})-(\d{2})", raw):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(text)
        return month_of(date(year, month, 1), timezone)
    if match := re.fullmatch(r"(\d{4})-q([1-4])", raw):
        year, quarter = int(match.group(1)), int(match.group(2))
        first = date(year, 3 * quarter - 2, 1)
        last = _month_end(year, 3 * quarter)
        return Period(first, last, timezone, f"{year}-Q{quarter}")
    if re.fullmatch(_DATE, raw):
        day = _day(raw)
        return Period(day, day, timezone, day.isoformat())
    if match := re.fullmatch(_DATE + r"\s*(?:\.\.|\s)\s*" + _DATE, raw):
        first, last = _day(match.group(1)), _day(match.group(2))
        if last < first or (last - first).days + 1 > MAX_DAYS:
            raise PeriodError(text)
        return Period(first, last, timezone, f"{first.isoformat()}..{last.isoformat()}")
    raise PeriodError(text)
