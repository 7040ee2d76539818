"""Quiet hours: citizen notifications wait until morning (default 21:00–07:00 local)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """A nightly window in local time; ``start == end`` means no quiet hours."""

    start: time
    end: time
    timezone: ZoneInfo

    @classmethod
    def parse(cls, text: str, timezone: str | ZoneInfo) -> QuietHours:
        """From ``"21:00-07:00"`` (an empty string disables quiet hours)."""
        zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        if not text.strip():
            return cls(time(0), time(0), zone)
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError as error:
            raise ValueError(f"quiet hours must look like 21:00-07:00, got {text!r}") from error
        return cls(start, end, zone)

    def is_quiet(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the window."""
        if self.start == self.end:
            return False
        now = moment.astimezone(self.timezone).time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """``moment`` itself, or the end of the quiet window it falls in (UTC)."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(self.timezone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.timezone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.timezone)
        return end.astimezone(UTC)
