"""Readings: one taken now through `readings.submit_reading`, or a history laid down as it stands.

A test's own reading (the one whose checks it looks at) goes through `submit`, i.e. `submit_reading`: validated,
possibly held, audited. A history (months of fixed-day readings before the test's moment, or a planted problem
such as a reading already HELD with DECREASE) is written directly by `read`, `monthly` and `history`, with the
status, codes and findings it is given, the way the readings would stand after their own validation months ago.
That is a deliberate fast path: `submit_reading` would validate each one again (priors, swaps, audit event), which
made the suite slower (the numbers are in tests/factories/__init__.py) and would re-judge the planted problems.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from gridcounter.application.readings import ReadingOutcome, submit_reading
from gridcounter.data.audit.context import Actor
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Meter
from gridcounter.domain.business_time import BUSINESS_TZ

from .registry import ACTOR

TZ = BUSINESS_TZ  # Asia/Shanghai


def local(day: date, hour: int = 10) -> datetime:
    """`hour` o'clock of `day` in Shanghai (aware)."""
    return datetime.combine(day, time(hour), TZ)


def utc(day: date, hour: int = 10) -> datetime:
    """`hour` o'clock of `day` in Shanghai, in UTC."""
    return local(day, hour).astimezone(UTC)


def month_days(last: date, n: int) -> list[date]:
    """The 15th (or ``last.day``) of the ``n`` months ending with ``last``, oldest first."""
    days = []
    year, month = last.year, last.month
    for _ in range(n):
        days.append(date(year, month, last.day))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return days[::-1]


def months_back(day: date, months: int) -> date:
    """The same day of the month `months` months before `day` (after it when negative)."""
    month0 = day.month - 1 - months
    return date(day.year + month0 // 12, month0 % 12 + 1, day.day)


def on_time_day(today: date) -> int:
    """A fixed reading day (1–28) within ±2 days of ``today``, so that today's readings are on schedule."""
    if today.day <= 28:
        return today.day
    return 28 if today.day <= 30 else 1


def submit(*, meter: Meter, value, read_at: datetime, register: str = "TOTAL", source: str = "AMI",
           received_at: datetime | None = None, actor: Actor = ACTOR, **kwargs) -> ReadingOutcome:
    """`readings.submit_reading`: the reading validated as it comes in."""
    return submit_reading(meter=meter, register=register, read_at=read_at, value=Decimal(str(value)), source=source,
                          actor=actor, received_at=received_at or read_at, **kwargs)


def read(meter: Meter, account: Account | None, day: date, value, *, created_at: datetime, register: str = "TOTAL",
         status: str = Reading.Status.ACCEPTED, codes=(), findings=(), source: str = Reading.Source.HANDHELD,
         is_estimate: bool = False, read_at: datetime | None = None, note: str = "") -> Reading:
    """One reading as it stands (direct: history or a planted problem; see the module's doc)."""
    return Reading.objects.create(
        meter=meter, account=account, register=register, read_at=read_at or local(day), read_date=day,
        value=Decimal(str(value)), source=source, is_estimate=is_estimate, status=status, codes=list(codes),
        findings=list(findings), created_at=created_at, note=note,
    )


def monthly(meter: Meter, account: Account, *, usages: list, created_at: datetime, start: date = date(2024, 1, 15),
            value=Decimal(0), register: str = "TOTAL") -> list[Reading]:
    """Readings on `start`'s day of each month from `start`: the first at `value`, then + each usage in turn."""
    value = Decimal(str(value))
    readings = [read(meter, account, start, value, register=register, created_at=created_at)]
    year, month = start.year, start.month
    for use in usages:
        month += 1
        if month == 13:
            year, month = year + 1, 1
        value += Decimal(str(use))
        readings.append(read(meter, account, date(year, month, start.day), value, register=register,
                             created_at=created_at))
    return readings


def history(meter: Meter, account: Account, *, start_value, uses, last: date, created_at: datetime,
            register: str = "TOTAL", estimates=(), source: str = Reading.Source.AMI) -> Decimal:
    """Accepted readings on the fixed days ending ``last``: start_value, then advanced by each use (modulo the dial).

    The cycles whose index is in `estimates` end on an estimate (source ESTIMATE, read at midnight). Returns the
    last value."""
    days = month_days(last, len(uses) + 1)
    value = Decimal(start_value)
    for i, day in enumerate(days):
        if i:
            value += Decimal(uses[i - 1])
            value %= Decimal(10) ** meter.digits
        estimate = (i - 1) in estimates
        read(meter, account, day, value, register=register, read_at=local(day, 0 if estimate else 10),
             is_estimate=estimate, source=Reading.Source.ESTIMATE if estimate else source, created_at=created_at)
    return value


def stored_at(day: date) -> datetime:
    """When a reading of `day` was stored, for histories kept with their own day: noon in Shanghai, in UTC."""
    return utc(day, 12)

