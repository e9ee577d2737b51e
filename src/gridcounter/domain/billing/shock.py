"""Bill shock: a bill far above the account's usual amount for the season that only more usage explains."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Codes whose presence explains a higher bill by something other than "more usage".
EXPLAINING_CODES = frozenset({"TIER_CROSSED", "PRICE_CHANGE", "CATEGORY_CHANGE", "ESTIMATED", "CATCH_UP",
                              "METER_EXCHANGE"})


@dataclass(frozen=True)
class PeriodFigures:
    """What an earlier bill of the same account showed."""

    period: str
    kwh: Decimal
    amount_fen: int
    days: int


@dataclass(frozen=True)
class ShockAssessment:
    is_shock: bool
    seasonal: bool  # high against the previous period but in line with the same period last year
    basis: str  # SAME_PERIOD_LAST_YEAR, RECENT_AVERAGE or NONE (no history: never a shock)
    baseline_fen: int  # the usual amount, scaled to this period's days
    increase_pct: Decimal | None  # this bill against the baseline
    threshold_pct: Decimal
    usage_increase_pct: Decimal | None = None  # this bill's kWh against the same baseline's kWh


def percent_change(*, new: Decimal, old: Decimal) -> Decimal | None:
    """(new − old) / old in percent, one decimal, ROUND_HALF_UP; None when old is zero."""
    if old == 0:
        return None
    return ((Decimal(new) - Decimal(old)) * 100 / Decimal(old)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _scaled(figures: PeriodFigures, *, days: int) -> Decimal:
    if figures.days <= 0:
        return Decimal(figures.amount_fen)
    return Decimal(figures.amount_fen) * days / figures.days


def _scaled_kwh(figures: PeriodFigures, *, days: int) -> Decimal:
    if figures.days <= 0:
        return Decimal(figures.kwh)
    return Decimal(figures.kwh) * days / figures.days


def assess_shock(*, amount_fen: int, days: int, last_year: PeriodFigures | None, recent: list[PeriodFigures],
                 previous: PeriodFigures | None, explaining_codes: set[str] | frozenset[str],
                 threshold_pct: Decimal, kwh: Decimal | None = None) -> ShockAssessment:
    """Is this bill a shock?

    The usual amount is the same period last year when there is one, else the average of the recent bills;
    earlier amounts are scaled to this period's number of days. A bill more than `threshold_pct` above it is
    a shock unless one of EXPLAINING_CODES is present (tier crossing, price or category change, estimate,
    catch-up, meter exchange). With `kwh` given, the usage must also be more than `threshold_pct` above the
    same baseline's usage (scaled the same way): a dearer bill for no more usage is the price — an annual tier
    reached as the year's usage adds up, a new price — not more usage, so not a shock. A bill far above the
    previous period but within the threshold of the same period last year is seasonal (summer
    air-conditioning, winter heating).
    """
    threshold = Decimal(threshold_pct)
    if last_year is not None and last_year.amount_fen > 0:
        basis, baseline = "SAME_PERIOD_LAST_YEAR", _scaled(last_year, days=days)
        baseline_kwh = _scaled_kwh(last_year, days=days)
    else:
        usable = [f for f in recent if f.amount_fen > 0]
        if not usable:
            return ShockAssessment(False, False, "NONE", 0, None, threshold)
        basis = "RECENT_AVERAGE"
        baseline = sum((_scaled(f, days=days) for f in usable), Decimal(0)) / len(usable)
        baseline_kwh = sum((_scaled_kwh(f, days=days) for f in usable), Decimal(0)) / len(usable)
    baseline_fen = int(baseline.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    increase = percent_change(new=Decimal(amount_fen), old=baseline) if baseline else None
    above = increase is not None and increase > threshold
    explained = bool(set(explaining_codes) & EXPLAINING_CODES)
    usage_increase, usage_up = None, True
    if kwh is not None:
        usage_increase = percent_change(new=Decimal(kwh), old=baseline_kwh)
        usage_up = Decimal(kwh) > 0 if usage_increase is None else usage_increase > threshold
    is_shock = above and usage_up and not explained
    seasonal = False
    if not is_shock and basis == "SAME_PERIOD_LAST_YEAR" and previous is not None and previous.amount_fen > 0:
        vs_previous = percent_change(new=Decimal(amount_fen), old=_scaled(previous, days=days))
        seasonal = vs_previous is not None and vs_previous > threshold and not above
    return ShockAssessment(is_shock, seasonal, basis, baseline_fen, increase, threshold, usage_increase)
