"""Working-day calendar for SLA deadlines: weekends, public holidays and a local timezone."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_HOLIDAYS_PATH", "HOLIDAY_KINDS", "WorkingCalendar", "load_holidays"]

DEFAULT_HOLIDAYS_PATH = Path(__file__).resolve().parent.parent / "data" / "holidays.toml"
HOLIDAY_KINDS = frozenset({"national", "cuti_bersama"})

_ENTRY_KEYS = frozenset({"date", "name", "kind"})
# A deadline is "by the end of" a day; 23:59:59 rather than next midnight keeps the
# deadline on the day a citizen is told about.
_END_OF_DAY = time(23, 59, 59)
_SECONDS_PER_DAY = 86_400.0


def load_holidays(path: Path) -> dict[date, str]:
    """Read a holidays TOML file (``[[holiday]]`` entries) into a date -> name mapping."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc

    unknown = set(data) - {"holiday"}
    if unknown:
        raise ValueError(f"{path}: unexpected top-level keys {sorted(unknown)}; use [[holiday]]")
    entries = data.get("holiday", [])
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'holiday' must be an array of tables ([[holiday]])")

    holidays: dict[date, str] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: holiday #{index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be a table with date, name and kind")
        if "date" in entry:
            value = entry["date"]
            shown = value.isoformat() if isinstance(value, date) else repr(value)
            where = f"{where} (date = {shown})"
        extra = set(entry) - _ENTRY_KEYS
        if extra:
            raise ValueError(f"{where}: unknown keys {sorted(extra)}")
        missing = _ENTRY_KEYS - set(entry)
        if missing:
            raise ValueError(f"{where}: missing keys {sorted(missing)}")

        day = entry["date"]
        # TOML local dates load as `date`; a quoted string or a datetime is a typo that
        # would otherwise never match a day and silently drop the holiday.
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ValueError(f"{where}: date must be a bare TOML date like 2026-01-01")
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: name must be a non-empty string")
        kind = entry["kind"]
        if kind not in HOLIDAY_KINDS:
            raise ValueError(f"{where}: kind must be one of {sorted(HOLIDAY_KINDS)}, not {kind!r}")
        if day in holidays:
            raise ValueError(f"{where}: duplicate date, already listed as {holidays[day]!r}")
        holidays[day] = name.strip()
    return holidays


def _require_aware(moment: datetime, what: str) -> None:
    """Reject naive datetimes, whose wall-clock meaning is ambiguous."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {moment.isoformat()})")


class WorkingCalendar:
    """Monday–Friday minus configured holidays, evaluated in one local timezone."""

    timezone: ZoneInfo

    def __init__(
        self,
        *,
        timezone: str | ZoneInfo = "Asia/Jakarta",
        holidays: Mapping[date, str] | Iterable[date] = (),
    ) -> None:
        """Build a calendar for ``timezone`` with the given holidays (dates or date -> name)."""
        if isinstance(timezone, ZoneInfo):
            self.timezone = timezone
        else:
            try:
                self.timezone = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown timezone {timezone!r}") from exc

        names: dict[date, str] = {}
        if isinstance(holidays, Mapping):
            names.update(holidays)
        else:
            names.update((day, "") for day in holidays)
        for day in names:
            # datetime subclasses date but never equals a date, so it would never match.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise ValueError(f"holidays must be dates, got {day!r}")
        self._holidays: Mapping[date, str] = MappingProxyType(names)

    @property
    def holidays(self) -> Mapping[date, str]:
        """Read-only date -> name mapping of the configured holidays."""
        return self._holidays

    def is_working_day(self, day: date) -> bool:
        """Return True for Monday–Friday that is not a configured holiday."""
        return day.weekday() < 5 and day not in self._holidays

    def local(self, moment: datetime) -> datetime:
        """Convert an aware datetime to the configured timezone; naive input raises ValueError."""
        _require_aware(moment, "moment")
        return moment.astimezone(self.timezone)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Deadline "within ``days`` working days of ``start``", as an aware UTC datetime.

        Semantics: the end (local 23:59:59) of the ``days``-th working day strictly after
        ``start``'s local date. Starting on a weekend or holiday counts the same way, so the
        next working day is day 1. ``days == 0`` means the end of ``start``'s own local day if
        it is a working day, else the end of the next working day. ``days`` must be >= 0.
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        day = self.local(start).date()
        if days == 0:
            day = self._next_working_day(day, include_self=True)
        else:
            for _ in range(days):
                day = self._next_working_day(day, include_self=False)
        return self._end_of_day(day)

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        """End (local 23:59:59) of the local day ``days`` after ``start``, as aware UTC."""
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        return self._end_of_day(self.local(start).date() + timedelta(days=days))

    def working_days_between(self, start: datetime, end: datetime) -> float:
        """Working days elapsed (hours on local working days / 24); negative if end < start."""
        # Fractional 24-hour days, so Friday 12:00 -> Monday 12:00 is 1.0: response-time
        # statistics then read in the same unit as the SLA targets.
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end < start:
            return -self.working_days_between(end, start)
        start_utc = start.astimezone(UTC)
        end_utc = end.astimezone(UTC)
        seconds = 0.0
        day = self.local(start).date()
        last = self.local(end).date()
        while day <= last:
            if self.is_working_day(day):
                # Compare in UTC: subtracting aware datetimes sharing a tzinfo ignores
                # UTC offsets, which would miscount any day with a DST change.
                day_start = self._start_of_day(day)
                day_end = self._start_of_day(day + timedelta(days=1))
                lo = max(start_utc, day_start)
                hi = min(end_utc, day_end)
                if hi > lo:
                    seconds += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return seconds / _SECONDS_PER_DAY

    def extend(self, deadline: datetime, paused: timedelta) -> datetime:
        """Return ``deadline + paused`` as aware UTC, moved onto the next working day if off."""
        # A paused clock (needs_info) must not end on a day the agency cannot act, so keep the
        # local time but slide it to the next working day.
        if paused < timedelta(0):
            raise ValueError(f"paused must be >= 0, got {paused}")
        _require_aware(deadline, "deadline")
        # Add in UTC so the pause is elapsed time, not wall-clock time across an offset change.
        moved = self.local(deadline.astimezone(UTC) + paused)
        day = moved.date()
        if self.is_working_day(day):
            return moved.astimezone(UTC)
        target = self._next_working_day(day, include_self=False)
        return datetime.combine(target, moved.timetz()).astimezone(UTC)

    def _next_working_day(self, day: date, *, include_self: bool) -> date:
        """Return the first working day on or after (``include_self``) or strictly after ``day``."""
        if not include_self:
            day += timedelta(days=1)
        # Terminates: holidays are finite, so some Monday–Friday ahead is free.
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _start_of_day(self, day: date) -> datetime:
        """Local midnight starting ``day``, as aware UTC."""
        return datetime.combine(day, time(0), tzinfo=self.timezone).astimezone(UTC)

    def _end_of_day(self, day: date) -> datetime:
        """Local 23:59:59 of ``day``, as aware UTC."""
        return datetime.combine(day, _END_OF_DAY, tzinfo=self.timezone).astimezone(UTC)
