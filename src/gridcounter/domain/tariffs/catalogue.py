"""Parse and validate tariff files and regulation tables (TOML text) into a catalogue. No file I/O here."""
from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from gridcounter.domain.tariffs.model import (
    TOU_ORDER,
    BasicCharge,
    CriticalPeak,
    EnergyPricing,
    LargeHouseholdBonus,
    PowerFactorTable,
    PriceTable,
    Tariff,
    TariffVersion,
    TierBasis,
    TierSchedule,
    TouPeriod,
    TouWindow,
)

HUNDREDTH = Decimal("0.01")


class CatalogueError(ValueError):
    """A tariff or rules file is malformed; the message names the file and the field."""


class UnknownTariff(LookupError):
    """No tariff with this id in the catalogue."""

    def __init__(self, tariff_id: str, known: Iterable[str]):
        self.tariff_id = tariff_id
        super().__init__(f"unknown tariff {tariff_id!r} (known: {', '.join(sorted(known)) or 'none'})")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Catalogue:
    tariffs: Mapping[str, Tariff]
    power_factor_tables: Mapping[tuple[str, Decimal], PowerFactorTable]

    def get(self, tariff_id: str) -> Tariff:
        try:
            return self.tariffs[tariff_id]
        except KeyError:
            raise UnknownTariff(tariff_id, self.tariffs) from None


def build_catalogue(
    *,
    tariff_sources: Iterable[tuple[str, str]],
    rule_sources: Iterable[tuple[str, str]] = (),
    extra_tariff_sources: Iterable[tuple[str, str]] = (),
) -> Catalogue:
    """Build a catalogue from (origin, TOML text) pairs.

    Two catalogue files with the same tariff id are an error; an extra file (a tariff being tried out)
    replaces the catalogue's tariff of the same id.
    """
    tables: dict[tuple[str, Decimal], PowerFactorTable] = {}
    for origin, text in rule_sources:
        for table in parse_power_factor_rules(text, origin=origin):
            key = (table.id, table.standard)
            if key in tables:
                raise CatalogueError(f"{origin}: power-factor table {table.id} standard {table.standard} defined twice")
            tables[key] = table
    tariffs: dict[str, Tariff] = {}
    for origin, text in tariff_sources:
        tariff = parse_tariff(text, origin=origin, power_factor_tables=tables)
        if tariff.id in tariffs:
            raise CatalogueError(f"{origin}: tariff id {tariff.id} already defined in {tariffs[tariff.id].origin}")
        tariffs[tariff.id] = tariff
    for origin, text in extra_tariff_sources:
        tariff = parse_tariff(text, origin=origin, power_factor_tables=tables)
        tariffs[tariff.id] = tariff
    return Catalogue(tariffs=dict(sorted(tariffs.items())), power_factor_tables=tables)


def load_toml(text: str, *, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{origin}: not valid TOML: {exc}") from None


class _Table:
    """A TOML table being read: every access names its path, and unread keys are refused."""

    def __init__(self, data: Any, *, origin: str, path: str):
        if not isinstance(data, dict):
            raise CatalogueError(f"{origin}: {path} must be a table")
        self.data, self.origin, self.path, self.seen = data, origin, path, set()

    def error(self, key: str, message: str) -> CatalogueError:
        where = f"{self.path}.{key}" if self.path else key
        return CatalogueError(f"{self.origin}: {where}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, *, required: bool = True) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is required")
            return None
        return self.data[key]

    def text(self, key: str, *, required: bool = True, default: str = "") -> str:
        value = self.raw(key, required=required)
        if value is None:
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(key, "must be a non-empty string")
        return value

    def date(self, key: str, *, required: bool = True) -> date | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        if not isinstance(value, date) or hasattr(value, "hour"):
            raise self.error(key, "must be a TOML date such as 2024-01-01")
        return value

    def decimal(self, key: str, *, required: bool = True, minimum: Decimal | None = Decimal(0)) -> Decimal | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        return self.to_decimal(value, key, minimum=minimum)

    def to_decimal(self, value: Any, key: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self.error(key, f"must be a number, not {value!r}")
        try:
            number = Decimal(value) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise self.error(key, f"must be a number, not {value!r}") from None
        if not number.is_finite():
            raise self.error(key, "must be a finite number")
        if minimum is not None and number < minimum:
            raise self.error(key, f"must be at least {minimum}, not {number}")
        return number

    def decimals(self, key: str, *, required: bool = True) -> tuple[Decimal, ...] | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        if isinstance(value, list):
            if not value:
                raise self.error(key, "must not be empty")
            return tuple(self.to_decimal(v, key) for v in value)
        return (self.to_decimal(value, key),)

    def integer(self, key: str, *, required: bool = True, minimum: int = 0, maximum: int | None = None) -> int | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum
        ):
            raise self.error(key, f"must be a whole number from {minimum}" + (f" to {maximum}" if maximum else ""))
        return value

    def months(self, key: str, *, required: bool = True) -> tuple[int, ...] | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        if not isinstance(value, list) or not value or any(
            isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 12 for m in value
        ) or len(set(value)) != len(value):
            raise self.error(key, "must be a list of distinct months 1..12")
        return tuple(value)

    def sub(self, key: str, *, required: bool = True) -> _Table | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        return _Table(value, origin=self.origin, path=f"{self.path}.{key}" if self.path else key)

    def subs(self, key: str) -> list[_Table]:
        value = self.raw(key, required=False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be an array of tables ([[...]])")
        prefix = f"{self.path}.{key}" if self.path else key
        return [_Table(v, origin=self.origin, path=f"{prefix}[{i}]") for i, v in enumerate(value)]

    def period_map(self, key: str, *, required: bool = True) -> dict[TouPeriod, Any] | None:
        table = self.sub(key, required=required)
        if table is None:
            return None
        result: dict[TouPeriod, Any] = {}
        for name in table.data:
            try:
                result[TouPeriod(name)] = table.raw(name)
            except ValueError:
                raise table.error(name, f"unknown time-of-use period (use {', '.join(TOU_ORDER)})") from None
        return result

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown field (see docs/tariffs.md)")


def parse_power_factor_rules(text: str, *, origin: str) -> list[PowerFactorTable]:
    """A power-factor rules file: an id, a source, and one table of rows per standard."""
    doc = _Table(load_toml(text, origin=origin), origin=origin, path="")
    rule_id = doc.text("id")
    kind = doc.text("kind")
    if kind != "POWER_FACTOR_ADJUSTMENT":
        raise doc.error("kind", "only POWER_FACTOR_ADJUSTMENT rules are known")
    name = doc.text("name")
    doc.text("name_en", required=False)
    source = doc.text("source")
    doc.text("note", required=False)
    tables: list[PowerFactorTable] = []
    for entry in doc.subs("tables"):
        standard = entry.decimal("standard")
        applies_to = entry.text("applies_to", required=False)
        raw_rows = entry.raw("rows")
        if not isinstance(raw_rows, list):
            raise entry.error("rows", "must be an array of [cos_phi, percent] pairs")
        rows: dict[Decimal, Decimal] = {}
        for row in raw_rows:
            if not isinstance(row, list) or len(row) != 2:
                raise entry.error("rows", f"each row must be [cos_phi, percent], not {row!r}")
            cos_phi = entry.to_decimal(row[0], "rows", minimum=Decimal(0))
            percent = entry.to_decimal(row[1], "rows", minimum=None)
            if cos_phi > 1 or cos_phi != cos_phi.quantize(HUNDREDTH):
                raise entry.error("rows", f"cos φ {cos_phi} must be 0.00..1.00 in steps of 0.01")
            key = cos_phi.quantize(HUNDREDTH)
            if key in rows:
                raise entry.error("rows", f"cos φ {key} appears twice")
            rows[key] = percent
        missing = [k for k in (Decimal(i) * HUNDREDTH for i in range(101)) if k not in rows]
        if missing:
            raise entry.error("rows", f"must cover every cos φ from 0.00 to 1.00; missing {missing[0]}")
        if rows[standard.quantize(HUNDREDTH)] != 0:
            raise entry.error("rows", f"the standard {standard} itself must have 0 %")
        entry.done()
        tables.append(PowerFactorTable(id=rule_id, name=name, source=source, standard=standard,
                                       applies_to=applies_to, rows=rows))
    if not tables:
        raise doc.error("tables", "at least one table is required")
    doc.done()
    return tables


def parse_tariff(
    text: str, *, origin: str, power_factor_tables: Mapping[tuple[str, Decimal], PowerFactorTable]
) -> Tariff:
    doc = _Table(load_toml(text, origin=origin), origin=origin, path="")
    tariff_id = doc.text("id")
    if not tariff_id.replace("-", "").replace("_", "").isalnum() or tariff_id != tariff_id.upper():
        raise doc.error("id", "must be upper-case letters, digits and hyphens")
    categories = doc.raw("usage_categories")
    if not isinstance(categories, list) or not categories or not all(
        isinstance(c, str) and c and c == c.upper() for c in categories
    ):
        raise doc.error("usage_categories", "must be a list of UPPERCASE usage-category codes")
    versions = tuple(_parse_version(v, power_factor_tables) for v in doc.subs("versions"))
    if not versions:
        raise doc.error("versions", "at least one [[versions]] is required")
    for earlier, later in zip(versions, versions[1:], strict=False):
        if later.effective_from <= earlier.effective_from:
            raise doc.error("versions", "must be listed in order of effective_from, without repeats")
        if earlier.effective_to is not None and earlier.effective_to > later.effective_from:
            raise doc.error("versions", f"version from {earlier.effective_from} overlaps the one from {later.effective_from}")
    tariff = Tariff(
        id=tariff_id,
        name=doc.text("name"),
        name_en=doc.text("name_en"),
        province=doc.text("province"),
        usage_categories=tuple(categories),
        versions=versions,
        origin=origin,
        description=doc.text("description", required=False),
    )
    doc.done()
    return tariff


def _parse_version(
    table: _Table, power_factor_tables: Mapping[tuple[str, Decimal], PowerFactorTable]
) -> TariffVersion:
    effective_from = table.date("effective_from")
    effective_to = table.date("effective_to", required=False)
    if effective_to is not None and effective_to <= effective_from:
        raise table.error("effective_to", "must be after effective_from (it is exclusive)")
    source = table.text("source")
    note = table.text("note", required=False)
    tiers = _parse_tiers(table.sub("tiers", required=False))
    windows = tuple(_parse_window(w) for w in table.subs("time_of_use"))
    energy_table = table.sub("energy")
    energy = _parse_energy(energy_table)
    prices = derive_prices(tiers=tiers, energy=energy, error=energy_table.error)
    _check_windows(table, windows, prices)
    basic = _parse_basic(table.sub("basic_charge", required=False))
    pf_table = None
    pf = table.sub("power_factor", required=False)
    if pf is not None:
        ref = pf.text("table")
        standard = pf.decimal("standard")
        pf.done()
        pf_table = power_factor_tables.get((ref, standard))
        if pf_table is None:
            raise pf.error("table", f"no power-factor table {ref} with standard {standard} in the rules folder")
    table.done()
    return TariffVersion(
        effective_from=effective_from, effective_to=effective_to, source=source, note=note, energy=energy,
        prices=prices, tiers=tiers, time_of_use=windows, basic_charge=basic, power_factor=pf_table,
    )


def _parse_tiers(table: _Table | None) -> TierSchedule | None:
    if table is None:
        return None
    basis_text = table.text("basis")
    try:
        basis = TierBasis(basis_text)
    except ValueError:
        raise table.error("basis", "must be MONTHLY or ANNUAL") from None
    thresholds = table.decimals("thresholds")
    assert thresholds is not None
    if any(t <= 0 for t in thresholds) or list(thresholds) != sorted(set(thresholds)):
        raise table.error("thresholds", "must be positive and strictly increasing")
    bonus = None
    household = table.sub("large_household", required=False)
    if household is not None:
        min_size = household.integer("min_size", minimum=1)
        extra = household.decimal("extra_kwh_per_month")
        household.done()
        assert min_size is not None and extra is not None
        bonus = LargeHouseholdBonus(min_size=min_size, extra_kwh_per_month=extra)
    table.done()
    return TierSchedule(basis=basis, thresholds=thresholds, large_household=bonus)


def _parse_energy(table: _Table) -> EnergyPricing:
    untimed = table.decimals("untimed", required=False)
    tou_raw = table.period_map("tou", required=False)
    tou = None
    if tou_raw is not None:
        tou = {p: tuple(table.to_decimal(x, f"tou.{p}") for x in (v if isinstance(v, list) else [v]))
               for p, v in tou_raw.items()}
    base = table.decimals("base", required=False)
    ratios_raw = table.period_map("ratios", required=False)
    ratios = None
    if ratios_raw is not None:
        ratios = {p: table.to_decimal(v, f"ratios.{p}") for p, v in ratios_raw.items()}
    if (base is None) != (ratios is None):
        raise table.error("base" if base is None else "ratios", "base and ratios go together")
    if tou is not None and ratios is not None:
        raise table.error("tou", "give either explicit tou prices or base + ratios, not both")
    if untimed is None and tou is None and ratios is None:
        raise table.error("untimed", "give untimed prices, tou prices, or base + ratios")
    for prices in (tou, ratios):
        if prices is not None and TouPeriod.CRITICAL_PEAK in prices:
            raise table.error("critical_peak", "critical peak is priced by [critical_peak] multiplier, not listed")
    critical = None
    crit = table.sub("critical_peak", required=False)
    if crit is not None:
        multiplier = crit.decimal("multiplier")
        months = crit.months("months")
        crit.done()
        assert multiplier is not None and months is not None
        critical = CriticalPeak(multiplier=multiplier, months=frozenset(months))
    places = table.integer("price_places", required=False, minimum=0, maximum=8)
    table.done()
    return EnergyPricing(untimed=untimed, tou=tou, base=base, ratios=ratios, critical_peak=critical,
                         price_places=4 if places is None else places)


def derive_prices(*, tiers: TierSchedule | None, energy: EnergyPricing, error=None) -> PriceTable:
    """The unit prices per period and tier: explicit tables as written, ratios × base rounded half up."""
    def fail(key: str, message: str) -> CatalogueError:
        return error(key, message) if error else CatalogueError(f"{key}: {message}")

    tier_count = len(tiers.thresholds) + 1 if tiers else 1
    step = Decimal(1).scaleb(-energy.price_places)
    tou: dict[TouPeriod, tuple[Decimal, ...]] = {}
    if energy.tou is not None:
        tou = dict(energy.tou)
    elif energy.ratios is not None and energy.base is not None:
        tou = {p: tuple((b * r).quantize(step, rounding=ROUND_HALF_UP) for b in energy.base)
               for p, r in energy.ratios.items()}
    if energy.critical_peak is not None:
        if TouPeriod.PEAK not in tou:
            raise fail("critical_peak", "needs a PEAK price to multiply")
        tou[TouPeriod.CRITICAL_PEAK] = tuple(
            (p * energy.critical_peak.multiplier).quantize(step, rounding=ROUND_HALF_UP) for p in tou[TouPeriod.PEAK]
        )
    for key, prices in [("untimed", energy.untimed), ("base", energy.base), *((f"tou.{p}", v) for p, v in tou.items())]:
        if prices is not None and len(prices) != tier_count:
            raise fail(key, f"needs {tier_count} price(s), one per tier, not {len(prices)}")
    ordered = {p: tou[p] for p in TOU_ORDER if p in tou}
    return PriceTable(
        basis=tiers.basis if tiers else None,
        thresholds=tiers.thresholds if tiers else (),
        untimed=energy.untimed,
        tou=ordered,
        critical_months=energy.critical_peak.months if energy.critical_peak else frozenset(),
    )


def _parse_window(table: _Table) -> TouWindow:
    try:
        period = TouPeriod(table.text("period"))
    except ValueError:
        raise table.error("period", f"must be one of {', '.join(TOU_ORDER)}") from None
    raw = table.raw("hours")
    if not isinstance(raw, list) or not raw or not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 24 for x in h)
        and h[0] != h[1] for h in raw
    ):
        raise table.error("hours", "must be a list of [start, end) hour pairs 0..24, e.g. [[10, 12], [15, 21]]")
    months = table.months("months", required=False)
    table.done()
    return TouWindow(period=period, hours=tuple((h[0], h[1]) for h in raw), months=months)


def _hours(window: TouWindow) -> list[int]:
    hours: list[int] = []
    for start, end in window.hours:
        hours.extend(range(start, end) if start < end else [*range(start, 24), *range(0, end)])
    return hours


def _check_windows(table: _Table, windows: tuple[TouWindow, ...], prices: PriceTable) -> None:
    """When hours are given: ordinary periods cover the day once and match the prices; critical hours fit its months."""
    priced = {p for p in prices.tou if p is not TouPeriod.CRITICAL_PEAK}
    if not prices.tou:
        if windows:
            raise table.error("time_of_use", "hours are given but the energy prices have no periods")
        return
    if not windows:
        return  # the hours are informational; a file may leave them out when its source does not give them
    ordinary = [w for w in windows if w.period is not TouPeriod.CRITICAL_PEAK]
    if {w.period for w in ordinary} != priced:
        raise table.error("time_of_use", f"periods with hours must be exactly the priced periods {sorted(priced)}")
    covered = sorted(h for w in ordinary for h in _hours(w))
    if covered != list(range(24)):
        raise table.error("time_of_use", "the peak/flat/valley hours must cover each hour of the day exactly once")
    for window in windows:
        if window.period is TouPeriod.CRITICAL_PEAK:
            if not prices.critical_months:
                raise table.error("time_of_use", "critical-peak hours need [energy.critical_peak]")
            if window.months is None or not set(window.months) <= prices.critical_months:
                raise table.error("time_of_use", "critical-peak hours must name months listed in energy.critical_peak")


def _parse_basic(table: _Table | None) -> BasicCharge | None:
    if table is None:
        return None
    capacity = table.decimal("capacity_price", required=False)
    demand = table.decimal("demand_price", required=False)
    if capacity is None and demand is None:
        raise table.error("capacity_price", "a basic charge needs capacity_price or demand_price")
    ratio = table.decimal("excess_demand_ratio", required=False, minimum=Decimal(1))
    multiplier = table.decimal("excess_demand_multiplier", required=False, minimum=Decimal(1))
    table.done()
    return BasicCharge(
        capacity_price=capacity, demand_price=demand,
        excess_demand_ratio=Decimal("1.05") if ratio is None else ratio,
        excess_demand_multiplier=Decimal("2") if multiplier is None else multiplier,
    )
