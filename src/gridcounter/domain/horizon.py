"""How far back and how far ahead an imported date may lie, relative to the import's business date.

A date before EARLIEST_DATE is taken for a typing error (no meter of the grid was installed, and no reading taken,
before it); a date after the business date is in the future: installations and readings are of the past, and a
head-end may send intervals up to INTERVAL_LEAD ahead of it (a clock set to another zone, a day's file sent
early), no further. The business date is the import's, passed in: these rules never read the clock.
"""
from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

EARLIEST_DATE = date(1950, 1, 1)
INTERVAL_LEAD = timedelta(days=1)


class Horizon(StrEnum):
    TOO_EARLY = "TOO_EARLY"
    IN_FUTURE = "IN_FUTURE"


def latest_date(*, today: date, lead: timedelta = timedelta(0)) -> date:
    """The last date an import on business date `today` accepts, `lead` ahead of it."""
    return today + lead


def horizon_problem(day: date, *, today: date, lead: timedelta = timedelta(0)) -> Horizon | None:
    """Why `day` is outside [EARLIEST_DATE, today + lead], or None when it is inside."""
    if day < EARLIEST_DATE:
        return Horizon.TOO_EARLY
    if day > latest_date(today=today, lead=lead):
        return Horizon.IN_FUTURE
    return None
