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

Years the package does not know yet can be added as data (`YearNotice`: the notice's days off and worked weekend
days, with its source), read from `rules/working-calendar.toml` by `application.working_calendar`; a
`WorkingCalendar` is the package's years plus those, without gaps. Every function takes the calendar to count on
(`calendar=`, the package's years alone by default).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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

    def __init__(self, day: date, *, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR):
        self.day = day
        self.first_year = first_year
        self.last_year = last_year
        super().__init__(self.text_en)

    @property
    def text_zh(self) -> str:
        return (f"工作日历只收录 {self.first_year}—{self.last_year} 年的节假日安排，{self.day.isoformat()} 所在的 "
                f"{self.day.year} 年不在其中，无法计算工作日；国务院公布该年节假日安排后，请升级 chinesecalendar"
                f"或将该年安排录入 rules/working-calendar.toml。")

    @property
    def text_en(self) -> str:
        return (f"the working-day calendar covers {self.first_year} to {self.last_year} only; {self.day.isoformat()} "
                f"is in {self.day.year}, whose holidays it does not know, so its working days cannot be counted "
                f"(once the State Council has published that year's holiday notice, upgrade chinesecalendar or "
                f"enter the notice in rules/working-calendar.toml)")


class WorkingCalendarError(ValueError):
    """A year's notice that cannot be used (a day outside its year, a day both off and worked, a worked day that
    is not a weekend, a year the package already knows, a gap between years)."""


@dataclass(frozen=True)
class YearNotice:
    """One year's holiday arrangement as the State Council's notice gives it: the days off (放假, weekdays and
    weekends alike) and the Saturdays and Sundays worked instead (调休上班). Every other Monday to Friday is a
    working day, every other Saturday and Sunday a day off."""

    year: int
    days_off: frozenset[date]
    weekend_days_worked: frozenset[date]
    source: str

    def __post_init__(self):
        for day in self.days_off | self.weekend_days_worked:
            if day.year != self.year:
                raise WorkingCalendarError(f"{self.year}: {day.isoformat()} is not in {self.year}")
        both = self.days_off & self.weekend_days_worked
        if both:
            raise WorkingCalendarError(f"{self.year}: {min(both).isoformat()} is both a day off and a day worked")
        weekday = [day for day in self.weekend_days_worked if day.weekday() < 5]
        if weekday:
            raise WorkingCalendarError(f"{self.year}: {min(weekday).isoformat()} is a weekday; only a Saturday or "
                                       "Sunday can be a weekend day worked")
        if not self.source.strip():
            raise WorkingCalendarError(f"{self.year}: the notice's source (its title and number) is required")

    def is_working_day(self, day: date) -> bool:
        if day in self.weekend_days_worked:
            return True
        return day.weekday() < 5 and day not in self.days_off


@dataclass(frozen=True)
class WorkingCalendar:
    """The package's years, then the `notices` for the years after them, one after another without a gap."""

    notices: tuple[YearNotice, ...] = field(default=())

    def __post_init__(self):
        years = [notice.year for notice in self.notices]
        expected = list(range(LAST_YEAR + 1, LAST_YEAR + 1 + len(years)))
        if sorted(years) != expected:
            raise WorkingCalendarError(
                f"the years entered must follow the package's last year ({LAST_YEAR}) one after another without "
                f"a gap or a repeat: {expected[0] if expected else LAST_YEAR + 1} first; entered {sorted(years)}")
        object.__setattr__(self, "_by_year", {notice.year: notice for notice in self.notices})

    @property
    def first_year(self) -> int:
        return FIRST_YEAR

    @property
    def last_year(self) -> int:
        return LAST_YEAR + len(self.notices)

    def knows(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def is_working_day(self, day: date) -> bool:
        if not self.knows(day):
            raise OutsideWorkingCalendar(day, first_year=self.first_year, last_year=self.last_year)
        notice = self._by_year.get(day.year)
        return notice.is_working_day(day) if notice else chinese_calendar.is_workday(day)


LIBRARY = WorkingCalendar()  # the package's years alone


def year_notices(entries: Iterable[dict]) -> tuple[YearNotice, ...]:
    """YearNotice values of entries as the rules file gives them: {"year", "source", "days_off": [ISO dates],
    "weekend_days_worked": [ISO dates]}. Raises WorkingCalendarError naming the year and the field."""
    notices = []
    for entry in entries:
        year = entry.get("year")
        if not isinstance(year, int):
            raise WorkingCalendarError(f"each year's notice needs a whole-number year, not {year!r}")
        days = {}
        for key in ("days_off", "weekend_days_worked"):
            try:
                days[key] = frozenset(date.fromisoformat(str(text)) for text in entry.get(key, []))
            except ValueError as error:
                raise WorkingCalendarError(f"{year}: {key}: {error}") from None
        notices.append(YearNotice(year=year, source=str(entry.get("source", "")), **days))
    return tuple(notices)


class NegativeTimeLimit(ValueError):
    """A time limit of fewer than 0 working days."""

    def __init__(self, days: int):
        super().__init__(f"a time limit is 0 or more working days, not {days}")
        self.days = days


def in_calendar(day: date, *, calendar: WorkingCalendar = LIBRARY) -> bool:
    """Whether the calendar knows the working days of `day`'s year."""
    return calendar.knows(day)


def is_working_day(day: date, *, calendar: WorkingCalendar = LIBRARY) -> bool:
    """Whether `day` is a working day (an adjusted Saturday or Sunday is; a public holiday is not).
    Raises OutsideWorkingCalendar."""
    return calendar.is_working_day(_checked(day, calendar))


def next_working_day(day: date, *, calendar: WorkingCalendar = LIBRARY) -> date:
    """The first working day strictly after `day`. Raises OutsideWorkingCalendar."""
    day = _checked(day, calendar) + _DAY
    while not calendar.is_working_day(day):
        day += _DAY
    return day


def due_date(*, start: date, days: int, calendar: WorkingCalendar = LIBRARY) -> date:
    """The last day of a time limit of `days` working days starting the working day after `start` (see the module's
    docstring): the `days`-th working day strictly after `start`, or `start` itself when `days` is 0.

    Raises NegativeTimeLimit, OutsideWorkingCalendar (for `start`, or for a year the count runs into).
    """
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days is a whole number of working days, not {days!r}")
    if days < 0:
        raise NegativeTimeLimit(days)
    due = _checked(start, calendar)
    for _counted in range(days):
        due = next_working_day(due, calendar=calendar)
    return due


def working_days_between(start: date, end: date, *, calendar: WorkingCalendar = LIBRARY) -> int:
    """The working days d with start <= d < end (half-open, as every period here); negative when end is before
    start (`working_days_between(b, a) == -working_days_between(a, b)`). Raises OutsideWorkingCalendar."""
    if end < start:
        return -working_days_between(end, start, calendar=calendar)
    _checked(start, calendar)
    if end > start:
        _checked(end - _DAY, calendar)
    count, day = 0, start
    while day < end:
        count += calendar.is_working_day(day)
        day += _DAY
    return count


def working_days_overdue(*, due: date, as_of: date, calendar: WorkingCalendar = LIBRARY) -> int:
    """How many working days a step due on `due` is late on `as_of`: the working days after `due` up to and
    including `as_of`; 0 when it is not late. Raises OutsideWorkingCalendar."""
    if as_of <= due:
        return 0
    return working_days_between(due + _DAY, as_of + _DAY, calendar=calendar)


def _checked(day: date, calendar: WorkingCalendar) -> date:
    if not isinstance(day, date) or isinstance(day, datetime):
        raise TypeError(f"a date is needed, not {day!r}")
    if not calendar.knows(day):
        raise OutsideWorkingCalendar(day, first_year=calendar.first_year, last_year=calendar.last_year)
    return day
