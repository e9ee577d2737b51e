"""The tariff catalogue's data: tariffs, their dated versions, and the unit prices derived from them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class TouPeriod(StrEnum):
    CRITICAL_PEAK = "CRITICAL_PEAK"
    PEAK = "PEAK"
    FLAT = "FLAT"
    VALLEY = "VALLEY"


# The order lines are printed and proportional splits are rounded in.
TOU_ORDER: tuple[TouPeriod, ...] = (TouPeriod.CRITICAL_PEAK, TouPeriod.PEAK, TouPeriod.FLAT, TouPeriod.VALLEY)


class TierBasis(StrEnum):
    MONTHLY = "MONTHLY"
    ANNUAL = "ANNUAL"


class BasicChargeBasis(StrEnum):
    CAPACITY = "CAPACITY"
    DEMAND = "DEMAND"


@dataclass(frozen=True, slots=True)
class LargeHouseholdBonus:
    """Households of at least `min_size` people get `extra_kwh_per_month` more on every threshold."""

    min_size: int
    extra_kwh_per_month: Decimal


@dataclass(frozen=True, slots=True)
class TierSchedule:
    basis: TierBasis
    thresholds: tuple[Decimal, ...]  # upper bounds of tiers 1..n-1, kWh per month or per calendar year
    large_household: LargeHouseholdBonus | None = None


@dataclass(frozen=True, slots=True)
class TouWindow:
    """Clock hours of one time-of-use period; informational for rating (the meter registers split usage)."""

    period: TouPeriod
    hours: tuple[tuple[int, int], ...]  # [start, end) hours; start > end wraps past midnight
    months: tuple[int, ...] | None = None  # None: every month


@dataclass(frozen=True, slots=True)
class CriticalPeak:
    multiplier: Decimal  # critical-peak price = peak price × multiplier
    months: frozenset[int]


@dataclass(frozen=True, slots=True)
class EnergyPricing:
    """Energy prices as written in the file: explicit tables, or a base price with period ratios."""

    untimed: tuple[Decimal, ...] | None = None  # per tier; None: time-of-use readings are required
    tou: Mapping[TouPeriod, tuple[Decimal, ...]] | None = None  # explicit, per period, per tier
    base: tuple[Decimal, ...] | None = None  # per tier (flat price), with `ratios`
    ratios: Mapping[TouPeriod, Decimal] | None = None
    critical_peak: CriticalPeak | None = None
    price_places: int = 4  # derived prices are rounded half up to this many decimals


@dataclass(frozen=True, slots=True)
class BasicCharge:
    """Basic charge of a two-part tariff, yuan per kVA·month (capacity) or per kW·month (demand)."""

    capacity_price: Decimal | None
    demand_price: Decimal | None
    excess_demand_ratio: Decimal = Decimal("1.05")  # demand above contract × ratio is "excess"
    excess_demand_multiplier: Decimal = Decimal("2")  # excess demand is charged at price × multiplier


@dataclass(frozen=True, slots=True)
class PowerFactorTable:
    """One adjustment table of a power-factor regulation: cos φ (2 decimals) → percent of the charges."""

    id: str
    name: str
    source: str
    standard: Decimal
    applies_to: str
    rows: Mapping[Decimal, Decimal]

    def percent_for(self, cos_phi: Decimal) -> Decimal:
        return self.rows[cos_phi]


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Unit prices in force for one version, derived once at load; what a vectorised kernel reuses.

    `untimed[t]` and `tou[period][t]` are yuan/kWh for tier t (0-based); one tier when there are no tiers.
    """

    basis: TierBasis | None
    thresholds: tuple[Decimal, ...]
    untimed: tuple[Decimal, ...] | None
    tou: Mapping[TouPeriod, tuple[Decimal, ...]]
    critical_months: frozenset[int]

    @property
    def tier_count(self) -> int:
        return len(self.thresholds) + 1


@dataclass(frozen=True, slots=True)
class TariffVersion:
    effective_from: date
    effective_to: date | None  # exclusive; None: until the next version, or open-ended
    source: str
    energy: EnergyPricing
    prices: PriceTable
    tiers: TierSchedule | None = None
    time_of_use: tuple[TouWindow, ...] = ()
    basic_charge: BasicCharge | None = None
    power_factor: PowerFactorTable | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    name: str
    name_en: str
    province: str
    usage_categories: tuple[str, ...]
    versions: tuple[TariffVersion, ...]  # sorted by effective_from, not overlapping
    origin: str = ""  # the file it came from
    description: str = ""
    _ends: tuple[date | None, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ends", version_ends(self.versions))

    def version_on(self, day: date) -> tuple[TariffVersion, date | None] | None:
        """The version in force on `day` and the (exclusive) date it stops being in force."""
        for version, end in zip(self.versions, self._ends, strict=True):
            if version.effective_from <= day and (end is None or day < end):
                return version, end
        return None


def version_ends(versions: tuple[TariffVersion, ...]) -> tuple[date | None, ...]:
    """Each version ends at its effective_to, else at the next version's effective_from, else never."""
    ends: list[date | None] = []
    for i, version in enumerate(versions):
        following = versions[i + 1].effective_from if i + 1 < len(versions) else None
        ends.append(version.effective_to if version.effective_to is not None else following)
    return tuple(ends)
