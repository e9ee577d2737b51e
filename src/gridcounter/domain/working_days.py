"""Working days on the Chinese calendar: the due date of a time limit of N working days, and working days between.

A working day is a day the State Council's annual holiday notice (国务院办公厅关于某年部分节假日安排的通知) makes one:
Monday to Friday unless it is a public holiday or a day off in lieu, plus the Saturdays and Sundays that the notice
turns into working days (调休上班). The days come from the maintained `chinesecalendar` package (import name
`chinese_calendar`), which copies each year's notice; it knows the years from `FIRST_YEAR` to `LAST_YEAR` and nothing
outside them. A date outside that range is refused with `OutsideWorkingCalendar`, never guessed as "Monday to
Friday": a new year's notice (published each November or December) arrives with a new release of the package.

How a time limit is counted (`due_date`), as the State Grid commitments count "N working days":
- the day the limit starts from (the day an application is accepted, a test is requested, …) never counts, whatever
  kind of day it is; day 1 is the first working day strictly after it;
- so a start on a holiday or a weekend counts from the first working day after it, exactly as a start on the working
  day before that holiday would (an application taken online on a Saturday and one taken on the Friday before are
  both due N working days after that Friday: nothing is gained or lost by the weekend);
- the due date is the N-th such working day, the last day on which the step is on time;
- N = 0 means "the same day": the due date is the start date itself (no working day is allowed);
- the dates are business dates (Asia/Shanghai, see `business_time`); nothing here reads the clock.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
from chinese_calendar.constants import holidays as _library_holidays

SOURCE = ("chinesecalendar (Python package chinese_calendar), which copies the State Council's annual holiday "
          "notices (国务院办公厅关于部分节假日安排的通知)")
FIRST_YEAR = min(day.year for day in _library_holidays)
LAST_YEAR = max(day.year for day in _library_holidays)
_DAY = timedelta(days=1)


class OutsideWorkingCalendar(ValueError):
    """A date whose year the calendar has no holiday notice for: its working days are unknown. Its message is in
    both languages (`text_zh`, `text_en`); str() is the English one."""

    def __init__(self, day: date):
        self.day = day
        self.first_year = FIRST_YEAR
        self.last_year = LAST_YEAR
        super().__init__(self.text_en)

    @property
    def text_zh(self) -> str:
        return (f"工作日历只收录 {self.first_year}—{self.last_year} 年的节假日安排，{self.day.isoformat()} 所在的 "
                f"{self.day.year} 年不在其中，无法计算工作日；国务院公布该年节假日安排后，请升级 chinesecalendar。")

    @property
    def text_en(self) -> str:
        return (f"the working-day calendar covers {self.first_year} to {self.last_year} only; {self.day.isoformat()} "
                f"is in {self.day.year}, whose holidays it does not know, so its working days cannot be counted "
                f"(upgrade chinesecalendar once the State Council has published that year's holiday notice)")


class NegativeTimeLimit(ValueError):
    """A time limit of fewer than 0 working days."""

    def __init__(self, days: int):
        super().__init__(f"a time limit is 0 or more working days, not {days}")
        self.days = days


def in_calendar(day: date) -> bool:
    """Whether the calendar knows the working days of `day`'s year."""
    return FIRST_YEAR <= day.year <= LAST_YEAR


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day (an adjusted Saturday or Sunday is; a public holiday is not).
    Raises OutsideWorkingCalendar."""
    if not in_calendar(day):
        raise OutsideWorkingCalendar(day)
    return chinese_calendar.is_workday(day)


def next_working_day(day: date) -> date:
    """The first working day strictly after `day`. Raises OutsideWorkingCalendar."""
    day = _checked(day)
    day += _DAY
    while not is_working_day(day):
        day += _DAY
    return day


def due_date(*, start: date, days: int) -> date:
    """The last day of a time limit of `days` working days starting the working day after `start` (see the module's
    docstring): the `days`-th working day strictly after `start`, or `start` itself when `days` is 0.

    Raises NegativeTimeLimit, OutsideWorkingCalendar (for `start`, or for a year the count runs into).
    """
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days is a whole number of working days, not {days!r}")
    if days < 0:
        raise NegativeTimeLimit(days)
    due = _checked(start)
    for _counted in range(days):
        due = next_working_day(due)
    return due


def working_days_between(start: date, end: date) -> int:
    """The working days d with start <= d < end (half-open, as every period here); negative when end is before
    start (`working_days_between(b, a) == -working_days_between(a, b)`). Raises OutsideWorkingCalendar."""
    if end < start:
        return -working_days_between(end, start)
    _checked(start)
    if end > start:
        _checked(end - _DAY)
    count, day = 0, start
    while day < end:
        count += chinese_calendar.is_workday(day)
        day += _DAY
    return count


def working_days_overdue(*, due: date, as_of: date) -> int:
    """How many working days a step due on `due` is late on `as_of`: the working days after `due` up to and
    including `as_of`; 0 when it is not late. Raises OutsideWorkingCalendar."""
    if as_of <= due:
        return 0
    return working_days_between(due + _DAY, as_of + _DAY)


def _checked(day: date) -> date:
    if not isinstance(day, date) or isinstance(day, datetime):
        raise TypeError(f"a date is needed, not {day!r}")
    if not in_calendar(day):
        raise OutsideWorkingCalendar(day)
    return day
