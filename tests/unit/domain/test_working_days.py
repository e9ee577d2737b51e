"""Time limits in working days on the Chinese calendar: holidays, adjusted working days, a start on a holiday, the
calendar's edge."""
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcounter.domain.working_days import (
    FIRST_YEAR,
    LAST_YEAR,
    NegativeTimeLimit,
    OutsideWorkingCalendar,
    WorkingCalendar,
    WorkingCalendarError,
    YearNotice,
    due_date,
    is_working_day,
    next_working_day,
    working_days_between,
    working_days_overdue,
)


def test_adjusted_weekends_work_and_holidays_do_not():
    # State Council notices: 2025 Spring Festival 28 Jan – 4 Feb off, Sun 26 Jan and Sat 8 Feb worked;
    # 2026 Spring Festival 15–23 Feb off, Sat 14 Feb and Sat 28 Feb worked; National Day 2026 1–7 Oct off,
    # Sun 20 Sep and Sat 10 Oct worked.
    for worked in (date(2025, 1, 26), date(2025, 2, 8), date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20),
                   date(2026, 10, 10), date(2025, 9, 28), date(2025, 10, 11)):
        assert worked.weekday() >= 5 and is_working_day(worked), worked
    for off in (date(2025, 1, 28), date(2025, 2, 4), date(2026, 2, 16), date(2026, 2, 23), date(2025, 10, 8),
                date(2026, 10, 1), date(2026, 10, 7)):
        assert off.weekday() < 5 and not is_working_day(off), off


@pytest.mark.parametrize(("start", "days", "due"), [
    # an ordinary week: Mon + 3 → Thu; Fri + 1 → the next Mon
    (date(2026, 3, 9), 3, date(2026, 3, 12)),
    (date(2026, 3, 13), 1, date(2026, 3, 16)),
    # Spring Festival 2025: accepted Mon 27 Jan, the eve; 28 Jan – 4 Feb off → 5, 6, 7 Feb
    (date(2025, 1, 27), 3, date(2025, 2, 7)),
    # … and 5 working days reach the adjusted Saturday 8 Feb
    (date(2025, 1, 27), 4, date(2025, 2, 8)),
    # Spring Festival 2026: accepted Fri 13 Feb → Sat 14 Feb (worked) is day 1, then 24, 25, 26, 27 Feb
    (date(2026, 2, 13), 1, date(2026, 2, 14)),
    (date(2026, 2, 13), 5, date(2026, 2, 27)),
    # National Day 2025: 1–8 Oct off, Sat 11 Oct worked → 9, 10, 11 Oct
    (date(2025, 9, 30), 3, date(2025, 10, 11)),
    # National Day 2026: 1–7 Oct off, Sat 10 Oct worked → 8, 9, 10 Oct
    (date(2026, 9, 30), 3, date(2026, 10, 10)),
    # the State Grid's 5 working days for a meter test, requested Fri 25 Sep 2026 (Mid-Autumn, off):
    # 28, 29, 30 Sep, then 8, 9 Oct after National Day
    (date(2026, 9, 25), 5, date(2026, 10, 9)),
])
def test_due_date_across_holidays_and_adjusted_working_days(start, days, due):
    assert due_date(start=start, days=days) == due


def test_a_start_on_a_holiday_counts_from_the_first_working_day_after_it():
    # Sun 15 Feb 2026, inside the Spring Festival: day 1 is Tue 24 Feb, as for a start on Sat 14 Feb (worked)
    assert due_date(start=date(2026, 2, 15), days=1) == date(2026, 2, 24)
    assert due_date(start=date(2026, 2, 15), days=5) == date(2026, 2, 28)
    assert due_date(start=date(2026, 2, 14), days=5) == due_date(start=date(2026, 2, 23), days=5)
    # an ordinary Saturday counts from the Monday, as a start on the Friday before would
    assert due_date(start=date(2026, 3, 14), days=2) == due_date(start=date(2026, 3, 13), days=2) == date(2026, 3, 17)


def test_zero_days_is_due_the_same_day_even_a_holiday():
    assert due_date(start=date(2026, 3, 10), days=0) == date(2026, 3, 10)
    assert due_date(start=date(2026, 10, 1), days=0) == date(2026, 10, 1)


def test_a_negative_time_limit_is_refused():
    with pytest.raises(NegativeTimeLimit):
        due_date(start=date(2026, 3, 10), days=-1)


def test_a_timestamp_is_not_a_date():
    with pytest.raises(TypeError):
        due_date(start=datetime(2026, 3, 10, 9, 0), days=1)


def test_a_year_outside_the_calendar_is_an_error_in_both_languages_never_a_guess():
    beyond = date(LAST_YEAR + 1, 3, 10)
    with pytest.raises(OutsideWorkingCalendar) as raised:
        due_date(start=beyond, days=0)
    assert raised.value.day == beyond
    assert f"{FIRST_YEAR} to {LAST_YEAR}" in raised.value.text_en and str(LAST_YEAR + 1) in raised.value.text_en
    assert f"{FIRST_YEAR}—{LAST_YEAR} 年" in raised.value.text_zh and "chinesecalendar" in raised.value.text_zh
    with pytest.raises(OutsideWorkingCalendar):
        is_working_day(date(FIRST_YEAR - 1, 12, 31))
    with pytest.raises(OutsideWorkingCalendar):
        working_days_between(date(LAST_YEAR, 12, 1), date(LAST_YEAR + 1, 1, 2))


def test_a_count_that_runs_past_the_calendar_s_last_year_is_an_error():
    # 2026 is the last year the library knows; three working days from 30 Dec run into 2027
    assert LAST_YEAR == 2026
    with pytest.raises(OutsideWorkingCalendar) as raised:
        due_date(start=date(2026, 12, 30), days=3)
    assert raised.value.day == date(2027, 1, 1)


def test_working_days_between_is_half_open():
    # Spring Festival week 2026: Sat 14 (worked) … Mon 23 Feb (off): only the 14th works in [13, 24)
    assert working_days_between(date(2026, 2, 13), date(2026, 2, 24)) == 2  # 13 and 14 Feb
    assert working_days_between(date(2026, 2, 14), date(2026, 2, 24)) == 1
    assert working_days_between(date(2026, 2, 24), date(2026, 2, 24)) == 0
    assert working_days_between(date(2026, 2, 24), date(2026, 2, 13)) == -2


def test_overdue_by_working_days():
    due = date(2026, 9, 30)  # Wed, before National Day
    assert working_days_overdue(due=due, as_of=due) == 0
    assert working_days_overdue(due=due, as_of=date(2026, 9, 29)) == 0
    assert working_days_overdue(due=due, as_of=date(2026, 10, 7)) == 0  # the whole holiday: not a working day late
    assert working_days_overdue(due=due, as_of=date(2026, 10, 8)) == 1
    assert working_days_overdue(due=due, as_of=date(2026, 10, 10)) == 3  # the adjusted Saturday counts


in_calendar_dates = st.dates(min_value=date(FIRST_YEAR, 1, 1), max_value=date(LAST_YEAR, 11, 30))


@settings(max_examples=300, deadline=None)
@given(start=in_calendar_dates, days=st.integers(min_value=1, max_value=15))
def test_the_due_date_is_a_working_day_strictly_after_the_start_and_exactly_n_working_days_on(start, days):
    due = due_date(start=start, days=days)

    assert due > start
    assert is_working_day(due)
    assert working_days_between(start + timedelta(days=1), due + timedelta(days=1)) == days
    assert due_date(start=start, days=days + 1) == next_working_day(due)


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=date(FIRST_YEAR, 3, 1), max_value=date(LAST_YEAR, 11, 30)),
       days=st.integers(min_value=1, max_value=15))
def test_a_non_working_start_counts_as_the_last_working_day_before_it(start, days):
    last_working = start
    while not is_working_day(last_working):
        last_working -= timedelta(days=1)

    assert due_date(start=start, days=days) == due_date(start=last_working, days=days)


def _notice(year=2027, days_off=("2027-01-01",), worked=("2027-01-02",), source="a test's notice"):
    return YearNotice(year=year, days_off=frozenset(date.fromisoformat(d) for d in days_off),
                      weekend_days_worked=frozenset(date.fromisoformat(d) for d in worked), source=source)


def test_a_year_entered_after_the_package_s_last_is_counted_as_its_notice_says():
    calendar = WorkingCalendar(notices=(_notice(),))

    assert calendar.last_year == LAST_YEAR + 1 == 2027
    assert not is_working_day(date(2027, 1, 1), calendar=calendar)  # a Friday, off
    assert is_working_day(date(2027, 1, 2), calendar=calendar)  # a Saturday, worked
    assert not is_working_day(date(2027, 1, 9), calendar=calendar)  # an ordinary Saturday
    assert due_date(start=date(2026, 12, 30), days=3, calendar=calendar) == date(2027, 1, 4)
    assert working_days_between(date(2026, 12, 28), date(2027, 1, 5), calendar=calendar) == 6
    with pytest.raises(OutsideWorkingCalendar) as raised:
        is_working_day(date(2028, 1, 3), calendar=calendar)
    assert "2004 to 2027" in raised.value.text_en and "working-calendar.toml" in raised.value.text_zh


@pytest.mark.parametrize(("notices", "words"), [
    ((_notice(year=2028, days_off=("2028-01-03",), worked=()),), "2027 first"),  # a gap
    ((_notice(year=2026, days_off=("2026-01-05",), worked=()),), "2027 first"),  # a year the package knows
    ((_notice(), _notice()), "repeat"),
])
def test_years_entered_must_follow_the_package_s_without_gap_or_repeat(notices, words):
    with pytest.raises(WorkingCalendarError, match=words):
        WorkingCalendar(notices=notices)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"days_off": ("2028-01-01",)}, "is not in 2027"),
    ({"days_off": ("2027-01-02",)}, "both a day off and a day worked"),
    ({"worked": ("2027-01-04",)}, "is a weekday"),
    ({"source": " "}, "source"),
])
def test_a_notice_that_cannot_be_right_is_refused_naming_the_day(kwargs, words):
    with pytest.raises(WorkingCalendarError, match=words):
        _notice(**kwargs)
