"""The working-day calendar in force: the chinesecalendar package's years plus the years entered in the file the
settings name (rules/working-calendar.toml; see domain.working_days)."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from gridcounter.domain.working_days import WorkingCalendar, WorkingCalendarError, year_notices


def load_working_calendar(*, path: str | Path) -> WorkingCalendar:
    """The calendar with the years of the file at `path`. Raises OSError, tomllib.TOMLDecodeError,
    WorkingCalendarError."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    entries = data.get("years", [])
    if not isinstance(entries, list):
        raise WorkingCalendarError(f"{path}: years must be a list of [[years]] tables")
    return WorkingCalendar(notices=year_notices(entries))


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> WorkingCalendar:
    return load_working_calendar(path=path)


def working_calendar() -> WorkingCalendar:
    """The calendar in force: settings.GRIDCOUNTER_WORKING_CALENDAR's years added (reread when the file changes)."""
    from django.conf import settings

    path = Path(settings.GRIDCOUNTER_WORKING_CALENDAR)
    return _cached(str(path), path.stat().st_mtime)
