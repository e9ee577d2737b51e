"""Estimates for missing readings, and the catch-up when the next actual reading arrives."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .validation import CycleUse, PriorReading, Thresholds, dial_span, expected_consumption

WHOLE_KWH = Decimal(1)


class NoHistoryForEstimate(ValueError):
    """There is no previous reading or no actual consumption history to estimate from."""


@dataclass(frozen=True)
class Estimate:
    value: Decimal  # the estimated register value on read_date
    kwh: Decimal  # the estimated consumption since the previous reading
    daily: Decimal
    basis: str  # SAME_MONTH_LAST_YEAR or RECENT_AVERAGE


def estimate_reading(*, previous: PriorReading | None, read_date: date, history: Sequence[CycleUse], digits: int,
                     rules: Thresholds) -> Estimate:
    """The register value on ``read_date`` from the account's average daily use over recent actual cycles,
    or the same month last year scaled by the recent trend when there is one. Whole kWh, ROUND_HALF_UP.

    Raises NoHistoryForEstimate.
    """
    if previous is None or read_date <= previous.read_date:
        raise NoHistoryForEstimate("no earlier reading to estimate from")
    recent_rules = Thresholds(**{**rules.__dict__, "typical_cycles": rules.estimate_recent_cycles})
    expectation = expected_consumption(history=history, start_date=previous.read_date, end_date=read_date,
                                       rules=recent_rules)
    if expectation is None:
        raise NoHistoryForEstimate("no actual consumption history to estimate from")
    kwh = expectation.kwh.quantize(WHOLE_KWH, rounding=ROUND_HALF_UP)
    value = previous.value + kwh
    span = dial_span(digits)
    if value >= span:
        value -= span
    return Estimate(value=value, kwh=kwh, daily=expectation.daily, basis=expectation.basis)


def consecutive_estimates(readings: Sequence[PriorReading]) -> int:
    """How many of the latest accepted readings (oldest first) are estimates, counted back from the newest."""
    count = 0
    for reading in reversed(readings):
        if not reading.is_estimate:
            break
        count += 1
    return count


@dataclass(frozen=True)
class CatchUp:
    """What an actual reading settles after estimates, for the bill's "catch-up after estimates" line."""

    estimated_cycles: int  # estimates in a row just before the actual reading
    last_actual_value: Decimal | None
    last_actual_date: date | None
    estimated_kwh: Decimal  # consumption already billed on estimates (last estimate - last actual)
    actual_kwh: Decimal  # true consumption since the last actual reading
    settled_kwh: Decimal  # this cycle's consumption: actual - last estimate (the catch-up)


def catch_up(*, readings: Sequence[PriorReading], digits: int) -> CatchUp:
    """For ``readings`` (accepted, oldest first, the newest being the actual reading that settles)."""
    if not readings:
        raise NoHistoryForEstimate("no readings")
    actual = readings[-1]
    before = list(readings[:-1])
    n = consecutive_estimates(before)
    span = dial_span(digits)

    def advance(a: Decimal, b: Decimal) -> Decimal:
        d = b - a
        return d + span if d < 0 else d

    if not before:
        return CatchUp(estimated_cycles=0, last_actual_value=None, last_actual_date=None,
                       estimated_kwh=Decimal(0), actual_kwh=Decimal(0), settled_kwh=Decimal(0))
    # the baseline is the last actual reading before the estimates (the oldest reading if all are estimates)
    last_actual = before[-n - 1] if n < len(before) else before[0]
    last_reading = before[-1]
    return CatchUp(
        estimated_cycles=n,
        last_actual_value=last_actual.value,
        last_actual_date=last_actual.read_date,
        estimated_kwh=advance(last_actual.value, last_reading.value) if n else Decimal(0),
        actual_kwh=advance(last_actual.value, actual.value),
        settled_kwh=advance(last_reading.value, actual.value),
    )
