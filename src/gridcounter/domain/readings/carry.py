"""A customer's reading taken off the route's fixed reading day, carried to that day.

A customer who reads the meter on the 3rd, when the route's fixed day is the 15th, has told us how much was used
since the last actual reading: the daily average over those days. Carried at that average to the fixed day, the
reading becomes the value the bill uses for the fixed day, marked as derived from the customer's reading (which
is kept as it was read). Dates are parameters; nothing here reads the clock.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def daily_average(*, last_value: Decimal, last_date: date, value: Decimal, read_date: date) -> Decimal | None:
    """kWh a day (register units) between the last actual reading and the customer's; None if not a forward span."""
    days = (read_date - last_date).days
    if days <= 0 or value < last_value:
        return None
    return (Decimal(value) - Decimal(last_value)) / days


def carried_value(*, last_value: Decimal, last_date: date, value: Decimal, read_date: date,
                  fixed_date: date) -> Decimal | None:
    """The register value on ``fixed_date``, carried from the customer's ``value`` on ``read_date`` at the daily
    average since the last actual reading (``last_value`` on ``last_date``); rounded half up to 0.01.

    None when there is nothing to carry from: no forward span, or a fixed day on or before the last actual reading.
    A fixed day before the customer's reading lies between the two readings (interpolated); one after it is
    carried forward at the same average.
    """
    if fixed_date <= last_date:
        return None
    daily = daily_average(last_value=last_value, last_date=last_date, value=value, read_date=read_date)
    if daily is None:
        return None
    carried = Decimal(value) + daily * (fixed_date - read_date).days
    return carried.quantize(CENT, rounding=ROUND_HALF_UP)


def in_doubt(codes: list[str], *, blocking: set[str] | frozenset[str], off_schedule: str = "OFF_SCHEDULE") -> list[str]:
    """The blocking codes of a customer's reading that put its value in doubt: all but being off the fixed day."""
    return [code for code in codes if code in blocking and code != off_schedule]
