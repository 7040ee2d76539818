"""Quiet hours across midnight, in local time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.quiet_hours import QuietHours

WIB = "Asia/Jakarta"  # UTC+7


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (
            datetime(2026, 12, 1, 13, 59, tzinfo=UTC),
            datetime(2026, 12, 1, 13, 59, tzinfo=UTC),
        ),  # 20:59
        (
            datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
            datetime(2026, 12, 2, 0, 0, tzinfo=UTC),
        ),  # 21:00
        (
            datetime(2026, 12, 1, 17, 30, tzinfo=UTC),
            datetime(2026, 12, 2, 0, 0, tzinfo=UTC),
        ),  # 00:30
        (
            datetime(2026, 12, 1, 23, 59, tzinfo=UTC),
            datetime(2026, 12, 2, 0, 0, tzinfo=UTC),
        ),  # 06:59
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),  # 07:00
    ],
)
def test_notifications_wait_until_seven_local(utc: datetime, expected: datetime) -> None:
    assert QuietHours.parse("21:00-07:00", WIB).next_allowed(utc) == expected


def test_a_daytime_window_and_none() -> None:
    lunch = QuietHours.parse("12:00-13:00", WIB)
    assert lunch.next_allowed(datetime(2026, 12, 1, 5, 30, tzinfo=UTC)) == datetime(
        2026, 12, 1, 6, 0, tzinfo=UTC
    )
    moment = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert QuietHours.parse("", WIB).next_allowed(moment) == moment
    with pytest.raises(ValueError, match="21:00-07:00"):
        QuietHours.parse("late", WIB)
