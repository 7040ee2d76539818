"""Tests for bot.core.calendar: working days, SLA deadlines and the shipped holiday file."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.calendar import DEFAULT_HOLIDAYS_PATH, WorkingCalendar, load_holidays

# Reference weekdays used below (1 Jan 2026 is a Thursday):
#   Jan 2026: Sun 4, Mon 5, Tue 6, Wed 7, Thu 8, Fri 9, Sat 10, Sun 11, Mon 12, Tue 13,
#             Wed 14, Thu 15, Fri 16 (Isra Mikraj), Sat 17, Sun 18, Mon 19, Tue 20.
#   Dec 2026: Wed 23, Thu 24 (cuti bersama), Fri 25 (Natal), Mon 28, Tue 29, Wed 30, Thu 31;
#   Jan 2027: Fri 1 (Tahun Baru), Sat 2, Sun 3, Mon 4.
# WIB (Asia/Jakarta) is UTC+7 and WITA (Asia/Makassar) UTC+8, neither with DST, so local
# 23:59:59 is 16:59:59 UTC in WIB and 15:59:59 UTC in WITA.

WIB = ZoneInfo("Asia/Jakarta")


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Aware datetime at the given WIB wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=WIB)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """Aware datetime in UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def plain() -> WorkingCalendar:
    """WIB calendar with no holidays: only weekends are off."""
    return WorkingCalendar()


@pytest.fixture
def shipped() -> WorkingCalendar:
    """WIB calendar with the shipped holiday file."""
    return WorkingCalendar(holidays=load_holidays(DEFAULT_HOLIDAYS_PATH))


# --- is_working_day / local ----------------------------------------------------------------


def test_is_working_day_weekdays_weekends_and_holidays() -> None:
    cal = WorkingCalendar(holidays=[date(2026, 1, 16)])
    assert cal.is_working_day(date(2026, 1, 5))  # Monday
    assert cal.is_working_day(date(2026, 1, 9))  # Friday
    assert not cal.is_working_day(date(2026, 1, 10))  # Saturday
    assert not cal.is_working_day(date(2026, 1, 11))  # Sunday
    assert not cal.is_working_day(date(2026, 1, 16))  # Friday, but a holiday


def test_holidays_accept_mapping_and_keep_names() -> None:
    cal = WorkingCalendar(holidays={date(2026, 8, 17): "Proklamasi"})
    assert cal.holidays == {date(2026, 8, 17): "Proklamasi"}
    assert not cal.is_working_day(date(2026, 8, 17))  # a Monday


def test_holidays_reject_datetimes() -> None:
    # A datetime never equals a date, so it would silently never match a day.
    with pytest.raises(ValueError, match="dates"):
        WorkingCalendar(holidays=[datetime(2026, 8, 17, tzinfo=UTC)])


def test_unknown_timezone_rejected() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        WorkingCalendar(timezone="Mars/Olympus")


def test_local_converts_utc_to_wib(plain: WorkingCalendar) -> None:
    # 2026-01-04 18:00 UTC + 7 h = 2026-01-05 01:00 WIB, a Monday (Sunday in UTC).
    local = plain.local(utc(2026, 1, 4, 18))
    assert (local.date(), local.hour, local.weekday()) == (date(2026, 1, 5), 1, 0)
    assert local.tzinfo == WIB


def test_naive_datetimes_rejected(plain: WorkingCalendar) -> None:
    naive = datetime(2026, 1, 5, 9)
    aware = utc(2026, 1, 5, 9)
    with pytest.raises(ValueError, match="naive"):
        plain.local(naive)
    with pytest.raises(ValueError, match="naive"):
        plain.add_working_days(naive, 3)
    with pytest.raises(ValueError, match="naive"):
        plain.add_calendar_days(naive, 14)
    with pytest.raises(ValueError, match="naive"):
        plain.working_days_between(naive, aware)
    with pytest.raises(ValueError, match="naive"):
        plain.working_days_between(aware, naive)
    with pytest.raises(ValueError, match="naive"):
        plain.extend(naive, timedelta(hours=1))


# --- add_working_days ------------------------------------------------------------------------


def test_deadline_across_weekend(plain: WorkingCalendar) -> None:
    # Start Thu 8 Jan 10:00 WIB; days after it: Fri 9 (1), [Sat, Sun], Mon 12 (2), Tue 13 (3).
    # End of Tue 13 Jan WIB = 23:59:59 WIB = 16:59:59 UTC.
    deadline = plain.add_working_days(wib(2026, 1, 8, 10), 3)
    assert deadline == utc(2026, 1, 13, 16, 59, 59)
    assert deadline.tzinfo is UTC


def test_deadline_across_holiday() -> None:
    cal = WorkingCalendar(holidays=[date(2026, 1, 16)])
    # Start Wed 14 Jan 09:00 WIB: Thu 15 (1), [Fri 16 holiday, Sat, Sun], Mon 19 (2),
    # Tue 20 (3) -> 2026-01-20 16:59:59 UTC.
    assert cal.add_working_days(wib(2026, 1, 14, 9), 3) == utc(2026, 1, 20, 16, 59, 59)


def test_deadline_across_year_end() -> None:
    cal = WorkingCalendar(holidays={date(2027, 1, 1): "Tahun Baru 2027 Masehi"})
    # Start Thu 31 Dec 2026 14:00 WIB: [Fri 1 Jan holiday, Sat 2, Sun 3], Mon 4 Jan (1)
    # -> 2027-01-04 16:59:59 UTC.
    assert cal.add_working_days(wib(2026, 12, 31, 14), 1) == utc(2027, 1, 4, 16, 59, 59)
    # 3 days: Mon 4 (1), Tue 5 (2), Wed 6 (3) -> 2027-01-06 16:59:59 UTC.
    assert cal.add_working_days(wib(2026, 12, 31, 14), 3) == utc(2027, 1, 6, 16, 59, 59)


def test_deadline_across_christmas_with_shipped_file(shipped: WorkingCalendar) -> None:
    # Start Wed 23 Dec 2026 10:00 WIB: [Thu 24 cuti bersama, Fri 25 Natal, Sat, Sun],
    # Mon 28 (1), Tue 29 (2), Wed 30 (3) -> 2026-12-30 16:59:59 UTC.
    assert shipped.add_working_days(wib(2026, 12, 23, 10), 3) == utc(2026, 12, 30, 16, 59, 59)


def test_deadline_across_lebaran_with_shipped_file(shipped: WorkingCalendar) -> None:
    # Start Tue 17 Mar 2026 09:00 WIB. Off: Wed 18 (cuti Nyepi), Thu 19 (Nyepi), Fri 20
    # (cuti), Sat 21 + Sun 22 (Idulfitri), Mon 23 + Tue 24 (cuti). Working: Wed 25 (1),
    # Thu 26 (2), Fri 27 (3) -> 2026-03-27 16:59:59 UTC.
    assert shipped.add_working_days(wib(2026, 3, 17, 9), 3) == utc(2026, 3, 27, 16, 59, 59)


def test_start_on_saturday(plain: WorkingCalendar) -> None:
    # Sat 10 Jan 10:00 WIB: the next working day Mon 12 is day 1 -> 2026-01-12 16:59:59 UTC.
    assert plain.add_working_days(wib(2026, 1, 10, 10), 1) == utc(2026, 1, 12, 16, 59, 59)
    # 3 days: Mon 12 (1), Tue 13 (2), Wed 14 (3) -> 2026-01-14 16:59:59 UTC.
    assert plain.add_working_days(wib(2026, 1, 10, 10), 3) == utc(2026, 1, 14, 16, 59, 59)


def test_start_on_holiday() -> None:
    cal = WorkingCalendar(holidays=[date(2026, 1, 16)])
    # Fri 16 Jan (holiday) 08:00 WIB: [Sat, Sun], Mon 19 (1) -> 2026-01-19 16:59:59 UTC.
    assert cal.add_working_days(wib(2026, 1, 16, 8), 1) == utc(2026, 1, 19, 16, 59, 59)


def test_zero_days(plain: WorkingCalendar) -> None:
    holiday_cal = WorkingCalendar(holidays=[date(2026, 1, 16)])
    # Working day: end of Mon 5 Jan itself -> 2026-01-05 16:59:59 UTC.
    assert plain.add_working_days(wib(2026, 1, 5, 9), 0) == utc(2026, 1, 5, 16, 59, 59)
    # Saturday 10 Jan: end of the next working day, Mon 12 -> 2026-01-12 16:59:59 UTC.
    assert plain.add_working_days(wib(2026, 1, 10, 10), 0) == utc(2026, 1, 12, 16, 59, 59)
    # Holiday Fri 16 Jan: next working day Mon 19 -> 2026-01-19 16:59:59 UTC.
    assert holiday_cal.add_working_days(wib(2026, 1, 16, 8), 0) == utc(2026, 1, 19, 16, 59, 59)


def test_negative_days_rejected(plain: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        plain.add_working_days(wib(2026, 1, 5, 9), -1)
    with pytest.raises(ValueError, match=">= 0"):
        plain.add_calendar_days(wib(2026, 1, 5, 9), -1)


def test_local_boundary_late_monday_evening(plain: WorkingCalendar) -> None:
    # 2026-01-05 16:30 UTC = Mon 5 Jan 23:30 WIB: still Monday locally.
    # 0 days -> end of Mon 5 -> 16:59:59 UTC the same day.
    assert plain.add_working_days(utc(2026, 1, 5, 16, 30), 0) == utc(2026, 1, 5, 16, 59, 59)
    # 1 day -> Tue 6 -> 2026-01-06 16:59:59 UTC.
    assert plain.add_working_days(utc(2026, 1, 5, 16, 30), 1) == utc(2026, 1, 6, 16, 59, 59)
    # One hour later, 17:30 UTC, is Tue 6 Jan 00:30 WIB although UTC still says Monday:
    # 1 day -> Wed 7 -> 2026-01-07 16:59:59 UTC.
    assert plain.add_working_days(utc(2026, 1, 5, 17, 30), 1) == utc(2026, 1, 7, 16, 59, 59)


def test_local_boundary_sunday_utc_is_monday_wib(plain: WorkingCalendar) -> None:
    # 2026-01-04 18:00 UTC (a Sunday in UTC) = Mon 5 Jan 01:00 WIB.
    # 1 working day after Monday -> Tue 6 -> 2026-01-06 16:59:59 UTC. (Reading the UTC date,
    # Sunday, would wrongly give Mon 5.)
    assert plain.add_working_days(utc(2026, 1, 4, 18), 1) == utc(2026, 1, 6, 16, 59, 59)
    # 0 days -> Monday itself -> 2026-01-05 16:59:59 UTC.
    assert plain.add_working_days(utc(2026, 1, 4, 18), 0) == utc(2026, 1, 5, 16, 59, 59)


def test_other_timezone_wita() -> None:
    wita = WorkingCalendar(timezone="Asia/Makassar")
    wib_cal = WorkingCalendar(timezone=ZoneInfo("Asia/Jakarta"))
    start = utc(2026, 1, 9, 16, 30)
    # WITA (UTC+8): 16:30 UTC = Sat 10 Jan 00:30 -> 0 days = end of Mon 12 Jan WITA
    # = 23:59:59 - 8 h = 2026-01-12 15:59:59 UTC.
    assert wita.add_working_days(start, 0) == utc(2026, 1, 12, 15, 59, 59)
    # WIB (UTC+7): the same instant is Fri 9 Jan 23:30 -> end of Fri 9 = 16:59:59 UTC.
    assert wib_cal.add_working_days(start, 0) == utc(2026, 1, 9, 16, 59, 59)
    # WITA, 1 day from Sat 10: Mon 12 (1) -> 2026-01-12 15:59:59 UTC.
    assert wita.add_working_days(start, 1) == utc(2026, 1, 12, 15, 59, 59)


# --- add_calendar_days -----------------------------------------------------------------------


def test_add_calendar_days(plain: WorkingCalendar) -> None:
    # 2026-01-05 16:30 UTC = Mon 5 Jan 23:30 WIB; +14 days = Mon 19 Jan -> 16:59:59 UTC.
    assert plain.add_calendar_days(utc(2026, 1, 5, 16, 30), 14) == utc(2026, 1, 19, 16, 59, 59)
    # 17:30 UTC = Tue 6 Jan 00:30 WIB; +14 = Tue 20 Jan -> 2026-01-20 16:59:59 UTC.
    assert plain.add_calendar_days(utc(2026, 1, 5, 17, 30), 14) == utc(2026, 1, 20, 16, 59, 59)
    # 60 days from Mon 5 Jan: Jan has 26 days left (to 31), Feb 28 -> 54, +6 -> Fri 6 Mar.
    assert plain.add_calendar_days(wib(2026, 1, 5, 9), 60) == utc(2026, 3, 6, 16, 59, 59)
    # Weekends are not skipped: Fri 9 Jan + 1 = Sat 10 Jan.
    assert plain.add_calendar_days(wib(2026, 1, 9, 9), 1) == utc(2026, 1, 10, 16, 59, 59)


# --- working_days_between --------------------------------------------------------------------


def test_working_days_between_across_weekend(plain: WorkingCalendar) -> None:
    # Fri 9 Jan 12:00 -> Mon 12 Jan 12:00 WIB: 12 h on Friday + 0 on Sat/Sun + 12 h on
    # Monday = 24 h = 1.0 working day.
    start, end = wib(2026, 1, 9, 12), wib(2026, 1, 12, 12)
    assert plain.working_days_between(start, end) == pytest.approx(1.0)
    # Reversed: -1.0.
    assert plain.working_days_between(end, start) == pytest.approx(-1.0)


def test_working_days_between_within_a_day(plain: WorkingCalendar) -> None:
    # Mon 5 Jan 09:00 -> 15:00 WIB = 6 h = 6 / 24 = 0.25.
    assert plain.working_days_between(wib(2026, 1, 5, 9), wib(2026, 1, 5, 15)) == pytest.approx(
        0.25
    )
    # Same instant -> 0.0.
    assert plain.working_days_between(wib(2026, 1, 5, 9), wib(2026, 1, 5, 9)) == 0.0


def test_working_days_between_uses_local_days(plain: WorkingCalendar) -> None:
    # 2026-01-04 12:00 UTC = Sun 19:00 WIB -> 2026-01-04 18:00 UTC = Mon 01:00 WIB.
    # Only Mon 00:00-01:00 WIB is working time: 1 h = 1 / 24.
    assert plain.working_days_between(utc(2026, 1, 4, 12), utc(2026, 1, 4, 18)) == pytest.approx(
        1 / 24
    )


def test_working_days_between_skips_holiday(shipped: WorkingCalendar) -> None:
    # Thu 15 Jan 12:00 -> Mon 19 Jan 12:00 WIB: 12 h Thu + Fri 16 holiday + weekend
    # + 12 h Mon = 1.0.
    start, end = wib(2026, 1, 15, 12), wib(2026, 1, 19, 12)
    assert shipped.working_days_between(start, end) == pytest.approx(1.0)
    # Entirely inside a weekend: Sat 10 Jan 08:00 -> Sun 11 Jan 20:00 WIB = 0.0.
    assert shipped.working_days_between(wib(2026, 1, 10, 8), wib(2026, 1, 11, 20)) == 0.0


# --- extend ----------------------------------------------------------------------------------


def test_extend_pause_crossing_weekend(plain: WorkingCalendar) -> None:
    # Deadline Fri 9 Jan 23:59:59 WIB (16:59:59 UTC), paused 1 day -> Sat 10 23:59:59 WIB,
    # not a working day -> same time on Mon 12 -> 2026-01-12 16:59:59 UTC.
    deadline = utc(2026, 1, 9, 16, 59, 59)
    extended = plain.extend(deadline, timedelta(days=1))
    assert extended == utc(2026, 1, 12, 16, 59, 59)
    assert extended.tzinfo is UTC
    # Thu 8 Jan 17:00 WIB (10:00 UTC) + 2 days 3 h = Sat 10 Jan 20:00 WIB -> Mon 12 Jan
    # 20:00 WIB = 13:00 UTC.
    assert plain.extend(utc(2026, 1, 8, 10), timedelta(days=2, hours=3)) == utc(2026, 1, 12, 13)


def test_extend_lands_on_working_day_or_holiday() -> None:
    cal = WorkingCalendar(holidays=[date(2026, 1, 16)])
    # Wed 14 Jan 17:00 WIB (10:00 UTC) + 1 day = Thu 15 17:00 WIB, a working day: unchanged.
    assert cal.extend(utc(2026, 1, 14, 10), timedelta(days=1)) == utc(2026, 1, 15, 10)
    # Thu 15 Jan 17:00 WIB + 1 day = Fri 16 (holiday) -> skip Sat, Sun -> Mon 19 17:00 WIB
    # = 10:00 UTC.
    assert cal.extend(utc(2026, 1, 15, 10), timedelta(days=1)) == utc(2026, 1, 19, 10)
    # No pause: unchanged.
    assert cal.extend(utc(2026, 1, 15, 10), timedelta(0)) == utc(2026, 1, 15, 10)


def test_extend_rejects_negative_pause(plain: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="paused"):
        plain.extend(utc(2026, 1, 15, 10), timedelta(hours=-1))


# --- load_holidays ---------------------------------------------------------------------------


def test_shipped_holiday_file() -> None:
    holidays = load_holidays(DEFAULT_HOLIDAYS_PATH)
    with DEFAULT_HOLIDAYS_PATH.open("rb") as fh:
        raw = tomllib.load(fh)["holiday"]
    # No duplicates: every entry produced its own key.
    assert len(raw) == len(holidays)
    assert len({entry["date"] for entry in raw}) == len(raw)
    assert all(day.year in (2026, 2027) for day in holidays)
    assert holidays[date(2026, 8, 17)].startswith("Proklamasi")
    assert date(2026, 1, 1) in holidays and date(2027, 1, 1) in holidays
    # The 2026 SKB: 17 national holidays + 8 days of cuti bersama.
    kinds_2026 = [entry["kind"] for entry in raw if entry["date"].year == 2026]
    assert kinds_2026.count("national") == 17
    assert kinds_2026.count("cuti_bersama") == 8


def test_default_calendar_uses_shipped_file(shipped: WorkingCalendar) -> None:
    assert not shipped.is_working_day(date(2026, 8, 17))  # Monday, Independence Day
    assert not shipped.is_working_day(date(2026, 3, 23))  # Monday, cuti bersama Idulfitri
    assert shipped.is_working_day(date(2026, 8, 18))  # ordinary Tuesday


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[holiday]]\ndate = "2026-01-01"\nname = "X"\nkind = "national"\n', "bare TOML date"),
        ("[[holiday]]\ndate = 2026-01-01T08:00:00\nname = 'X'\nkind = 'national'\n", "bare"),
        ("[[holiday]]\ndate = 2026-01-01\nkind = 'national'\n", "missing keys"),
        ("[[holiday]]\ndate = 2026-01-01\nname = ''\nkind = 'national'\n", "non-empty"),
        ("[[holiday]]\ndate = 2026-01-01\nname = 'X'\nkind = 'regional'\n", "kind must be"),
        ("[[holiday]]\ndate = 2026-01-01\nname = 'X'\nkind = 'national'\nnote = 1\n", "unknown"),
        ("holiday = 5\n", "array of tables"),
        ("[holidays]\n", "unexpected top-level"),
        ("[[holiday]\n", "not valid TOML"),
    ],
)
def test_load_holidays_bad_file(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_holidays(_write(tmp_path, body))


def test_load_holidays_error_names_entry(tmp_path: Path) -> None:
    body = (
        "[[holiday]]\ndate = 2026-01-01\nname = 'A'\nkind = 'national'\n"
        "[[holiday]]\ndate = 2026-01-01\nname = 'B'\nkind = 'national'\n"
    )
    # The second entry repeats the first one's date.
    with pytest.raises(ValueError, match=r"holiday #2 \(date = 2026-01-01\).*duplicate"):
        load_holidays(_write(tmp_path, body))


def test_load_holidays_empty_file(tmp_path: Path) -> None:
    assert load_holidays(_write(tmp_path, "# no holidays configured\n")) == {}
