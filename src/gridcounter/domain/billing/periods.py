"""Billing periods: the half-open interval between a route's fixed-day readings of two consecutive months."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
RECENT_PERIODS = 3  # the periods the bill-shock rule's "recent average" looks back over
EARLIER_PERIODS = 12  # the earlier periods a billing period names (back to the same period last year)


class InvalidPeriod(ValueError):
    """The period is not written YYYY-MM."""


@dataclass(frozen=True)
class BillingPeriod:
    """A route's billing period, parsed once (`billing_period`): its dates, and the earlier periods a bill is
    compared with, so that no one parses YYYY-MM again."""

    period: str  # YYYY-MM: the month of the closing fixed-day reading
    start_date: date  # previous month's fixed reading day (inclusive)
    end_date: date  # this month's fixed reading day (exclusive)
    earlier: tuple[str, ...] = ()  # the EARLIER_PERIODS periods before, newest first

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days

    @property
    def previous(self) -> str:
        return self.earlier[0]

    @property
    def last_year(self) -> str:
        """The same period last year."""
        return self.earlier[11]

    @property
    def recent(self) -> tuple[str, ...]:
        """The RECENT_PERIODS periods before, newest first."""
        return self.earlier[:RECENT_PERIODS]

    def back(self, months: int) -> str:
        """The period `months` (1 … EARLIER_PERIODS) before."""
        return self.earlier[months - 1]

    @property
    def year(self) -> int:
        return int(self.period[:4])


def parse_period(text: str) -> tuple[int, int]:
    """'2025-07' -> (2025, 7). Raises InvalidPeriod."""
    match = _PERIOD.match(str(text).strip())
    if not match:
        raise InvalidPeriod(f"period must be YYYY-MM, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def format_period(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift_period(period: str, *, months: int) -> str:
    """The period `months` months later (negative: earlier)."""
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return format_period(index // 12, index % 12 + 1)


def previous_period(period: str) -> str:
    return shift_period(period, months=-1)


def same_period_last_year(period: str) -> str:
    return shift_period(period, months=-12)


def period_of(day: date) -> str:
    return format_period(day.year, day.month)


def billing_period(*, period: str, reading_day: int) -> BillingPeriod:
    """[fixed day of the previous month, fixed day of this month). Raises InvalidPeriod."""
    year, month = parse_period(period)
    if not 1 <= reading_day <= 28:
        raise InvalidPeriod(f"fixed reading day must be 1–28, got {reading_day}")
    index = year * 12 + month - 1
    earlier = tuple(format_period((index - k) // 12, (index - k) % 12 + 1) for k in range(1, EARLIER_PERIODS + 1))
    return BillingPeriod(
        period=period,
        start_date=date(int(earlier[0][:4]), int(earlier[0][5:]), reading_day),
        end_date=date(year, month, reading_day),
        earlier=earlier,
    )


def is_due(*, billing: BillingPeriod, as_of: date) -> bool:
    """A period can be billed once its closing fixed reading day has come."""
    return billing.end_date <= as_of


@dataclass(frozen=True)
class MeterSpan:
    """What one meter's register recorded inside the period: from `start_value` to `end_value`."""

    start_value: Decimal
    end_value: Decimal
    digits: int
    multiplier: Decimal


@dataclass(frozen=True)
class SpanUse:
    kwh: Decimal
    rolled_over: bool


def span_use(span: MeterSpan) -> SpanUse:
    """(end − start) × multiplier; a register that passed its last digit rolled over (10^digits added)."""
    raw = span.end_value - span.start_value
    rolled = raw < 0
    if rolled:
        raw += Decimal(10) ** span.digits
    return SpanUse(kwh=raw * span.multiplier, rolled_over=rolled)


def register_use(spans: list[MeterSpan]) -> SpanUse:
    """Consumption of one register over the period, summed over the meters that served it.

    A meter exchange inside the period gives two spans: old meter (previous reading → final reading)
    and new meter (initial reading → current reading).
    """
    total = Decimal(0)
    rolled = False
    for span in spans:
        use = span_use(span)
        total += use.kwh
        rolled = rolled or use.rolled_over
    return SpanUse(kwh=total, rolled_over=rolled)
