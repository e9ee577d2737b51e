"""Vectorised rating, the optimisation of `rating.rate()` for the bill run: its rules over a Polars frame of
usages, in integer units, to the fen. It shares `rating`'s constants, line catalogue (`LINES`, `energy_text`) and
tier rule, and `tests/unit/domain/tariffs/test_rating_frame.py` checks the two agree, as each bill run's sample
does (`application.billrun`, its `_check`).

Units are integers, never floats, named by their suffix as `domain.units` defines them: energy in 0.01 kWh
(``kwh_c``, ``peak_c``, ``ytd_c`` …), capacity, demand and reactive energy in 10⁻⁴ (``capacity_kva_e4``,
``kvarh_e4`` …), prices in 10⁻⁸ yuan (``unit_price_e8``), line quantities in 10⁻⁴ (``quantity_e4``), money in fen.

Every quotient is rounded half up (ties away from zero, as Decimal's ROUND_HALF_UP) with integer
arithmetic on Int128. What depends only on the tariff and the period (version in force, month units,
thresholds, prices) is looked up once per distinct (tariff, start, end, household size) through the
engine's own functions (`Tariff.version_on`, `month_units`, `tier_thresholds`, `price_table`,
`power_factor`), then joined to the rows.

Rows the vectorised path does not cover are rated by `rate()` itself, one by one, and marked
``engine = "FALLBACK"`` in the totals: a period spanning a version change or (annual tiers) a new year,
quantities not representable in the units above, and every input `rate()` refuses (the refusal is kept
in ``error`` / ``error_field``, so the caller can hold the bill).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from gridcounter.domain.tariffs import (
    BasicChargeBasis,
    Catalogue,
    Quote,
    RatingError,
    RatingInput,
    TierBasis,
    TouPeriod,
    UnknownTariff,
    month_units,
    power_factor,
    price_table,
    rate,
    tier_thresholds,
)
from gridcounter.domain.tariffs.rating import LINE_ORDER, LINES, energy_text, line_text
from gridcounter.domain.units import I128, half_up

# The usage components in the order `rate()` splits and prints them: untimed first (a row has either the
# untimed total or time-of-use registers), then the periods in TOU_ORDER.
COMPONENTS: tuple[tuple[str, TouPeriod | None], ...] = (
    ("kwh", None),
    ("critical_peak", TouPeriod.CRITICAL_PEAK),
    ("peak", TouPeriod.PEAK),
    ("flat", TouPeriod.FLAT),
    ("valley", TouPeriod.VALLEY),
)
TOU_COLUMNS = tuple(f"{name}_c" for name, period in COMPONENTS if period is not None)
E4_COLUMNS = ("capacity_kva_e4", "demand_kw_e4", "contract_demand_kw_e4", "kvarh_e4")

USAGE_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "period": pl.String(),
    "tariff_id": pl.String(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    **{f"{name}_c": pl.Int64() for name, _ in COMPONENTS},
    "ytd_c": pl.Int64(),
    "household_size": pl.Int64(),
    **{name: pl.Int64() for name in E4_COLUMNS},
    "basic_charge_basis": pl.String(),
}
LINE_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "period": pl.String(),
    "position": pl.Int32(),
    "code": pl.String(),
    "description": pl.String(),
    "description_en": pl.String(),
    "quantity_e4": pl.Int64(),
    "unit": pl.String(),
    "unit_price_e8": pl.Int64(),
    "amount_fen": pl.Int64(),
    "tier": pl.Int32(),
    "tou_period": pl.String(),
    "segment_start_date": pl.Date(),
    "segment_end_date": pl.Date(),
}
TOTAL_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "period": pl.String(),
    "tariff_id": pl.String(),
    "amount_fen": pl.Int64(),
    "kwh_c": pl.Int64(),
    "ytd_after_c": pl.Int64(),
    "tier_reached": pl.Int32(),
    "engine": pl.String(),  # VECTOR or FALLBACK
    "error_field": pl.String(),
    "error": pl.String(),
}

VECTOR = "VECTOR"
FALLBACK = "FALLBACK"
DAYS_PER_MONTH = 30
PRICE_SCALE = 10**8
QTY_SCALE = 10**4
MAX_QUANTITY = 10**13  # larger inputs (in their own units) are left to rate()


# -- building the input frame ------------------------------------------------------------------------------


def usage_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """A usage frame from dicts holding some of USAGE_SCHEMA's columns (missing ones are null, ytd_c 0)."""
    frame = pl.DataFrame(list(rows), schema_overrides={k: v for k, v in USAGE_SCHEMA.items()}, strict=False)
    return conform(frame)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns as nulls and cast to USAGE_SCHEMA, keeping any extra columns."""
    missing = [pl.lit(0 if name == "ytd_c" else None, dtype=dtype).alias(name)
               for name, dtype in USAGE_SCHEMA.items() if name not in frame.columns]
    if missing:
        frame = frame.with_columns(missing)
    return frame.with_columns([pl.col(name).cast(dtype) for name, dtype in USAGE_SCHEMA.items()])


def _to_units(value: Decimal | int | None, scale: int) -> int | None:
    if value is None:
        return None
    scaled = Decimal(value) * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more decimals than the kernel's unit 1/{scale}")
    return int(scaled)


def row_from_input(*, account_id: int, period: str, tariff_id: str, inp: RatingInput) -> dict[str, Any]:
    """The usage-frame row of one `RatingInput` (energy rounded half up to 0.01 kWh, as `rate()` does).

    Raises ValueError when capacity, demand or kvarh have more than 4 decimals.
    """
    def centi(value: Decimal | None) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    return {
        "account_id": account_id, "period": period, "tariff_id": tariff_id,
        "start_date": inp.start_date, "end_date": inp.end_date,
        **{f"{name}_c": centi(getattr(inp, name)) for name, _ in COMPONENTS},
        "ytd_c": centi(inp.ytd_kwh),
        "household_size": inp.household_size,
        **{name: _to_units(getattr(inp, name.removesuffix("_e4")), QTY_SCALE) for name in E4_COLUMNS},
        "basic_charge_basis": None if inp.basic_charge_basis is None else str(inp.basic_charge_basis),
    }


def rating_input_from_row(row: Mapping[str, Any]) -> RatingInput:
    """The `RatingInput` a usage-frame row stands for (exact: the integer units convert back losslessly)."""
    def kwh(name: str) -> Decimal | None:
        value = row.get(name)
        return None if value is None else Decimal(value) / 100

    def e4(name: str) -> Decimal | None:
        value = row.get(name)
        return None if value is None else Decimal(value) / QTY_SCALE

    basis = row.get("basic_charge_basis")
    return RatingInput(
        start_date=row["start_date"], end_date=row["end_date"],
        **{name: kwh(f"{name}_c") for name, _ in COMPONENTS},
        ytd_kwh=kwh("ytd_c"),  # type: ignore[arg-type]  # None is refused by rate(), as it should be
        household_size=row.get("household_size"),
        **{name.removesuffix("_e4"): e4(name) for name in E4_COLUMNS},
        basic_charge_basis=None if basis is None else BasicChargeBasis(basis),
    )


def lines_from_quote(quote: Quote, *, account_id: int, period: str) -> list[dict[str, Any]]:
    """A quote's lines as LINE_SCHEMA rows (quantities to 10⁻⁴ and prices to 10⁻⁸, half up if finer)."""
    def scaled(value: Decimal, scale: int) -> int:
        return int((value * scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    return [{
        "account_id": account_id, "period": period, "position": i, "code": line.code,
        "description": line.description, "description_en": line.description_en,
        "quantity_e4": scaled(line.quantity, QTY_SCALE), "unit": line.unit,
        "unit_price_e8": scaled(line.unit_price, PRICE_SCALE), "amount_fen": scaled(line.amount, 100),
        "tier": line.tier, "tou_period": None if line.tou_period is None else str(line.tou_period),
        "segment_start_date": line.segment_start, "segment_end_date": line.segment_end,
    } for i, line in enumerate(quote.lines)]


# -- what depends only on tariff, period and household size ---------------------------------------------


@dataclass(frozen=True)
class _PfTable:
    key: int
    percent_e4: dict[int, int]  # cos φ in hundredths → percent × 10⁴
    description: dict[int, tuple[str, str]]


def _exact(value: Decimal, scale: int) -> int | None:
    scaled = value * scale
    return int(scaled) if scaled == scaled.to_integral_value() else None


def _months_touched(start: date, end: date) -> set[int]:
    months, year, month = set(), start.year, start.month
    while date(year, month, 1) < end:
        months.add(month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


class _Contexts:
    """Per distinct (tariff, start, end, household size): whether the vectorised path applies, and its inputs."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.pf_tables: dict[int, _PfTable] = {}
        self.max_thresholds = 0

    def build(self, keys: list[dict[str, Any]]) -> pl.DataFrame:
        rows = [self._one(**k) for k in keys]
        self.max_thresholds = max((len(r["thr"]) for r in rows), default=0)
        out = []
        for r in rows:
            thr = r.pop("thr")
            prices = r.pop("prices")
            for i in range(self.max_thresholds):
                r[f"thr_{i + 1}"] = thr[i] if i < len(thr) else None
            for name, _ in COMPONENTS:
                for t in range(self.max_thresholds + 1):
                    tier_prices = prices.get(name)
                    r[f"p_{name}_{t}"] = tier_prices[t] if tier_prices and t < len(tier_prices) else None
            out.append(r)
        schema = {"tariff_id": pl.String(), "start_date": pl.Date(), "end_date": pl.Date(), "_hs": pl.Int64(),
                  "ctx_ok": pl.Boolean(), "units": pl.Int64(), "tiered": pl.Boolean(), "annual": pl.Boolean(),
                  "has_untimed": pl.Boolean(), "has_tou": pl.Boolean(), "crit_ok": pl.Boolean(),
                  "has_basic": pl.Boolean(), "cap_price_e8": pl.Int64(), "dem_price_e8": pl.Int64(),
                  "ratio_e4": pl.Int64(), "excess_price_e8": pl.Int64(), "excess_zh": pl.String(),
                  "excess_en": pl.String(), "pf_key": pl.Int64(),
                  **{f"thr_{i + 1}": pl.Int64() for i in range(self.max_thresholds)},
                  **{f"p_{name}_{t}": pl.Int64() for name, _ in COMPONENTS for t in range(self.max_thresholds + 1)}}
        return pl.DataFrame(out, schema=schema)

    def _one(self, *, tariff_id: str, start_date: date, end_date: date, _hs: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            "tariff_id": tariff_id, "start_date": start_date, "end_date": end_date, "_hs": _hs, "ctx_ok": False,
            "units": None, "tiered": False, "annual": False, "has_untimed": False, "has_tou": False,
            "crit_ok": False, "has_basic": False, "cap_price_e8": None, "dem_price_e8": None, "ratio_e4": None,
            "excess_price_e8": None, "excess_zh": None, "excess_en": None, "pf_key": None, "thr": (), "prices": {},
        }
        household_size = None if _hs == 0 else _hs
        try:
            tariff = self.catalogue.get(tariff_id)
        except UnknownTariff:
            return row
        if start_date is None or end_date is None or end_date <= start_date or _hs < 0:
            return row
        found = tariff.version_on(start_date)
        if found is None:
            return row
        version, version_end = found
        prices = price_table(version)
        if version_end is not None and end_date > version_end:
            return row  # the period spans a version change
        if prices.basis is TierBasis.ANNUAL and end_date > date(start_date.year + 1, 1, 1):
            return row  # annual tiers start afresh on 1 January
        units = month_units(start_date, end_date)
        thresholds = [_exact(t, 100) for t in tier_thresholds(version, household_size=household_size, units=units)]
        scaled_prices: dict[str, tuple[int | None, ...]] = {}
        if prices.untimed is not None:
            scaled_prices["kwh"] = tuple(_exact(p, PRICE_SCALE) for p in prices.untimed)
        for name, period in COMPONENTS:
            if period is not None and period in prices.tou:
                scaled_prices[name] = tuple(_exact(p, PRICE_SCALE) for p in prices.tou[period])
        if None in thresholds or any(None in p for p in scaled_prices.values()):
            return row  # finer than the kernel's units
        row.update(units=units, tiered=version.tiers is not None, annual=prices.basis is TierBasis.ANNUAL,
                   has_untimed=prices.untimed is not None, has_tou=bool(prices.tou),
                   crit_ok=bool(_months_touched(start_date, end_date) & prices.critical_months),
                   thr=tuple(thresholds), prices=scaled_prices)
        charge = version.basic_charge
        if charge is not None:
            ratio_e4 = _exact(charge.excess_demand_ratio, QTY_SCALE)
            excess = None if charge.demand_price is None else _exact(
                charge.demand_price * charge.excess_demand_multiplier, PRICE_SCALE)
            cap = None if charge.capacity_price is None else _exact(charge.capacity_price, PRICE_SCALE)
            dem = None if charge.demand_price is None else _exact(charge.demand_price, PRICE_SCALE)
            if ratio_e4 is None or (charge.demand_price is not None and (excess is None or dem is None)) or (
                    charge.capacity_price is not None and cap is None):
                return row
            pct = (charge.excess_demand_ratio * 100).normalize()
            row.update(has_basic=True, cap_price_e8=cap, dem_price_e8=dem, ratio_e4=ratio_e4, excess_price_e8=excess,
                       **dict(zip(("excess_zh", "excess_en"), line_text("BASIC_DEMAND_EXCESS", pct=f"{pct:f}"),
                                  strict=True)))
        if version.power_factor is not None:
            table = self._pf_table(version.power_factor)
            if table is None:
                return row
            row["pf_key"] = table.key
        row["ctx_ok"] = True
        return row

    def _pf_table(self, table) -> _PfTable | None:
        key = id(table)
        if key not in self.pf_tables:
            percents = {int(cos * 100): _exact(pct, QTY_SCALE) for cos, pct in table.rows.items()}
            if None in percents.values():
                return None
            descriptions = {}
            for k in percents:
                cos_phi = Decimal(k) * Decimal("0.01")  # as power_factor() returns it
                descriptions[k] = line_text("POWER_FACTOR", cos_phi=cos_phi, standard=table.standard)
            self.pf_tables[key] = _PfTable(key=key, percent_e4=percents, description=descriptions)  # type: ignore[arg-type]
        return self.pf_tables[key]


# -- integer rounding -----------------------------------------------------------------------------------


def _half_up(num: pl.Expr, den: int | pl.Expr) -> pl.Expr:
    """`units.half_up` on Int128."""
    return half_up(num.cast(I128), den)



# -- the kernel -----------------------------------------------------------------------------------------


def rate_frame(usage: pl.DataFrame, *, catalogue: Catalogue) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rate one row per (account_id, period) of USAGE_SCHEMA; lines (LINE_SCHEMA) and totals (TOTAL_SCHEMA) out.

    Equal to `rate(catalogue.get(tariff_id), rating_input_from_row(row))` line by line and to the fen.
    Lines are ordered by (account_id, period, position). Rows `rate()` refuses get a total with
    ``amount_fen`` null and the refusal in ``error_field`` / ``error``, and no lines. Raises nothing for
    bad rows; ValueError when (account_id, period) is not unique.
    """
    frame = conform(usage).with_row_index("_row")
    if frame.select(pl.struct("account_id", "period").is_duplicated().any()).item():
        raise ValueError("usage rows must be unique per (account_id, period)")
    frame = frame.with_columns(_hs=pl.col("household_size").fill_null(0))
    contexts = _Contexts(catalogue)
    keys = frame.select("tariff_id", "start_date", "end_date", "_hs").unique().to_dicts()
    ctx = contexts.build(keys)
    frame = frame.join(ctx, on=["tariff_id", "start_date", "end_date", "_hs"], how="left", nulls_equal=True)
    frame = _classify(frame)
    simple = frame.filter(pl.col("_simple"))
    other = frame.filter(~pl.col("_simple"))
    v_lines, v_totals = _rate_vectorised(simple, contexts)
    f_lines, f_totals = _rate_fallback(other, catalogue)
    lines = pl.concat([v_lines.select(LINE_SCHEMA.keys()), f_lines], how="vertical").sort(
        "account_id", "period", "position")
    totals = pl.concat([v_totals.select(TOTAL_SCHEMA.keys()), f_totals], how="vertical")
    order = frame.select("_row", "account_id", "period")
    totals = order.join(totals, on=["account_id", "period"], how="left").sort("_row").drop("_row")
    return lines, totals


def _classify(frame: pl.DataFrame) -> pl.DataFrame:
    """Mark the rows the vectorised path rates exactly like `rate()` (`_simple`), and their basic-charge basis."""
    c = pl.col
    quantities = [*(f"{n}_c" for n, _ in COMPONENTS), "ytd_c", *E4_COLUMNS]
    in_range = pl.all_horizontal([c(q).is_null() | ((c(q) >= 0) & (c(q) <= MAX_QUANTITY)) for q in quantities])
    untimed = c("kwh_c").is_not_null()
    timed = pl.any_horizontal([c(q).is_not_null() for q in TOU_COLUMNS])
    prices_fit = pl.all_horizontal([
        (c(f"{name}_c").fill_null(0) == 0) | c(f"p_{name}_0").is_not_null() for name, _ in COMPONENTS])
    usage_ok = (untimed & ~timed & c("has_untimed")) | (
        ~untimed & timed & c("has_tou") & prices_fit & ((c("critical_peak_c").fill_null(0) == 0) | c("crit_ok")))
    basis = (
        pl.when(c("basic_charge_basis").is_not_null()).then(c("basic_charge_basis"))
        .when(c("demand_kw_e4").is_not_null() & c("capacity_kva_e4").is_not_null()).then(pl.lit(None, pl.String()))
        .when(c("demand_kw_e4").is_not_null()).then(pl.lit("DEMAND"))
        .when(c("capacity_kva_e4").is_not_null()).then(pl.lit("CAPACITY"))
        .otherwise(pl.lit(None, pl.String()))
    )
    frame = frame.with_columns(_basis=pl.when(c("has_basic")).then(basis).otherwise(pl.lit(None, pl.String())))
    basic_ok = ~c("has_basic").fill_null(False) | (
        ((c("_basis") == "CAPACITY") & c("capacity_kva_e4").is_not_null() & c("cap_price_e8").is_not_null())
        | ((c("_basis") == "DEMAND") & c("demand_kw_e4").is_not_null() & c("contract_demand_kw_e4").is_not_null()
           & c("dem_price_e8").is_not_null())
    ).fill_null(False)
    basis_valid = c("basic_charge_basis").is_null() | c("basic_charge_basis").is_in(["CAPACITY", "DEMAND"])
    simple = (c("ctx_ok").fill_null(False) & in_range & c("ytd_c").is_not_null()
              & (c("household_size").is_null() | (c("household_size") >= 1))
              & usage_ok.fill_null(False) & basic_ok & basis_valid)
    return frame.with_columns(_simple=simple)


def _rate_vectorised(frame: pl.DataFrame, contexts: _Contexts) -> tuple[pl.DataFrame, pl.DataFrame]:
    c = pl.col
    k = contexts.max_thresholds
    tiers = k + 1
    names = [name for name, _ in COMPONENTS]
    work = frame.with_columns(
        [c(f"{n}_c").fill_null(0).cast(I128).alias(f"_u_{n}") for n in names]
    ).with_columns(
        _total=pl.sum_horizontal([c(f"_u_{n}") for n in names]),
        _level=pl.when(c("annual")).then(c("ytd_c").cast(I128)).otherwise(pl.lit(0, dtype=I128)),
    ).with_columns(_top=c("_level") + c("_total"))

    # tier split: the part of [level, top) falling in each tier [low, high)
    parts = []
    for t in range(tiers):
        low = pl.lit(0, dtype=I128) if t == 0 else c(f"thr_{t}").cast(I128)
        high = c(f"thr_{t + 1}").cast(I128) if t < k else pl.lit(None, dtype=I128)
        stop = pl.min_horizontal(c("_top"), high)  # a null high means "no upper bound"
        part = pl.max_horizontal(pl.lit(0, dtype=I128), stop - pl.max_horizontal(c("_level"), low))
        parts.append(pl.when(low.is_null()).then(pl.lit(0, dtype=I128)).otherwise(part).alias(f"_tier_{t}"))
    work = work.with_columns(parts)

    # allocate each tier's kWh to the components by cumulative half-up rounding of what each has left
    work = work.with_columns([c(f"_u_{n}").alias(f"_rem_{n}") for n in names])
    for t in range(tiers):
        total_t = c(f"_tier_{t}")
        left = pl.sum_horizontal([c(f"_rem_{n}") for n in names])
        running = None
        rounded = []
        for n in names:
            running = c(f"_rem_{n}") if running is None else running + c(f"_rem_{n}")
            rounded.append(pl.when(left > 0).then(_half_up(total_t * running, left)).otherwise(pl.lit(0, dtype=I128)))
        cells = []
        for i, n in enumerate(names):
            split = rounded[i] - (rounded[i - 1] if i else pl.lit(0, dtype=I128))
            cells.append(pl.when(total_t == left).then(c(f"_rem_{n}")).otherwise(split).alias(f"_cell_{t}_{n}"))
        work = work.with_columns(cells).with_columns(
            [(c(f"_rem_{n}") - c(f"_cell_{t}_{n}")).alias(f"_rem_{n}") for n in names])

    seg = [c("start_date").alias("segment_start_date"), c("end_date").alias("segment_end_date")]
    pieces: list[pl.DataFrame] = []
    for t in range(tiers):
        for i, (n, period) in enumerate(COMPONENTS):
            qty = c(f"_cell_{t}_{n}")
            price = c(f"p_{n}_{t}").cast(I128)
            tiered_desc = energy_text(tier=t + 1, period=period)
            flat_desc = energy_text(tier=None, period=period)
            piece = work.filter(qty > 0).select(
                "_row", "account_id", "period",
                pl.lit(t * len(COMPONENTS) + i, dtype=pl.Int32).alias("_order"),
                pl.lit("ENERGY").alias("code"),
                pl.when(c("tiered")).then(pl.lit(tiered_desc[0])).otherwise(pl.lit(flat_desc[0])).alias("description"),
                pl.when(c("tiered")).then(pl.lit(tiered_desc[1])).otherwise(pl.lit(flat_desc[1])).alias("description_en"),
                (qty * 100).cast(pl.Int64).alias("quantity_e4"),
                pl.lit(LINES["ENERGY"][2]).alias("unit"),
                price.cast(pl.Int64).alias("unit_price_e8"),
                _half_up(qty * price, PRICE_SCALE).cast(pl.Int64).alias("amount_fen"),
                pl.when(c("tiered")).then(pl.lit(t + 1, dtype=pl.Int32)).otherwise(pl.lit(None, dtype=pl.Int32))
                .alias("tier"),
                pl.lit(None if period is None else str(period), dtype=pl.String).alias("tou_period"),
                *seg,
            )
            pieces.append(piece)

    # basic charge: size × price × units / 30, the shown quantity to 10⁻⁴
    units = c("units").cast(I128)
    month = pl.lit(DAYS_PER_MONTH, dtype=I128)

    def basic(size_e8: pl.Expr, price_e8: pl.Expr, code: str, where: pl.Expr,
              zh: pl.Expr | None = None, en: pl.Expr | None = None) -> pl.DataFrame:
        text_zh, text_en, unit = LINES[code]
        order = base_order + LINE_ORDER.index(code) - 1  # after every energy line, in the catalogue's order
        zh = pl.lit(text_zh) if zh is None else zh
        en = pl.lit(text_en) if en is None else en
        return work.filter(where).select(
            "_row", "account_id", "period", pl.lit(order, dtype=pl.Int32).alias("_order"), pl.lit(code).alias("code"),
            zh.alias("description"), en.alias("description_en"),
            _half_up(size_e8 * units, month * 10**4).cast(pl.Int64).alias("quantity_e4"),
            pl.lit(unit).alias("unit"), price_e8.cast(pl.Int64).alias("unit_price_e8"),
            _half_up(size_e8 * price_e8.cast(I128) * units * 100, month * 10**16).cast(pl.Int64).alias("amount_fen"),
            pl.lit(None, dtype=pl.Int32).alias("tier"), pl.lit(None, dtype=pl.String).alias("tou_period"), *seg,
        )

    capacity_e8 = c("capacity_kva_e4").cast(I128) * 10**4
    demand_e8 = c("demand_kw_e4").cast(I128) * 10**4
    allowed_e8 = c("contract_demand_kw_e4").cast(I128) * c("ratio_e4").cast(I128)
    within_e8 = pl.min_horizontal(demand_e8, allowed_e8)
    excess_e8 = demand_e8 - within_e8
    base_order = tiers * len(COMPONENTS)
    pieces.append(basic(capacity_e8, c("cap_price_e8"), "BASIC_CAPACITY",
                        c("has_basic") & (c("_basis") == "CAPACITY")))
    pieces.append(basic(within_e8, c("dem_price_e8"), "BASIC_DEMAND",
                        c("has_basic") & (c("_basis") == "DEMAND")))
    pieces.append(basic(excess_e8, c("excess_price_e8"), "BASIC_DEMAND_EXCESS",
                        c("has_basic") & (c("_basis") == "DEMAND") & (excess_e8 > 0), c("excess_zh"), c("excess_en")))
    lines = pl.concat([p.with_columns(pl.col("quantity_e4").cast(pl.Int64)) for p in pieces], how="vertical")

    # power factor: a percentage of the energy and basic charges, when the tariff assesses it and kvarh is given
    pf_rows = work.filter(c("pf_key").is_not_null() & c("kvarh_e4").is_not_null())
    if pf_rows.height:
        lines = pl.concat([lines, _power_factor_lines(pf_rows, lines, contexts,
                                                            base_order + LINE_ORDER.index("POWER_FACTOR") - 1)], how="vertical")

    lines = lines.sort("_row", "_order").with_columns(
        position=(pl.int_range(pl.len()).over("_row")).cast(pl.Int32))
    sums = lines.group_by("_row").agg(pl.col("amount_fen").sum().alias("_sum"))
    thresholds = [c(f"thr_{i + 1}") for i in range(k)]
    after = c("_top")
    reached = pl.lit(1, dtype=pl.Int32)
    for thr in thresholds:
        reached = reached + (thr.is_not_null() & (thr.cast(I128) < after)).cast(pl.Int32)
    totals = work.join(sums, on="_row", how="left").select(
        "account_id", "period", "tariff_id",
        c("_sum").fill_null(0).cast(pl.Int64).alias("amount_fen"),
        c("_total").cast(pl.Int64).alias("kwh_c"),
        (c("ytd_c").cast(I128) + c("_total")).cast(pl.Int64).alias("ytd_after_c"),
        pl.when(c("tiered")).then(reached).otherwise(pl.lit(None, dtype=pl.Int32)).alias("tier_reached"),
        pl.lit(VECTOR).alias("engine"),
        pl.lit(None, dtype=pl.String).alias("error_field"),
        pl.lit(None, dtype=pl.String).alias("error"),
    )
    return lines, totals


def _power_factor_lines(rows: pl.DataFrame, lines: pl.DataFrame, contexts: _Contexts, order: int) -> pl.DataFrame:
    """cos φ from each distinct (kWh, kvarh) by the engine's `power_factor`; the percentage of the charges so far."""
    c = pl.col
    pairs = rows.select(c("_total").cast(pl.Int64).alias("_kwh_c"), "kvarh_e4").unique()
    cos = [power_factor(kwh=Decimal(p) / 100, kvarh=Decimal(q) / QTY_SCALE) for p, q in pairs.iter_rows()]
    pairs = pairs.with_columns(
        pl.Series("_cos", [None if x is None else int(x * 100) for x in cos], dtype=pl.Int64))
    table_rows = [(t.key, cos_k, pct, *t.description[cos_k]) for t in contexts.pf_tables.values()
                  for cos_k, pct in t.percent_e4.items()]
    tables = pl.DataFrame(table_rows, schema={"pf_key": pl.Int64(), "_cos": pl.Int64(), "_pct_e4": pl.Int64(),
                                              "_pf_zh": pl.String(), "_pf_en": pl.String()}, orient="row")
    base = lines.group_by("_row").agg(c("amount_fen").sum().alias("_base"))
    assessed = (
        rows.with_columns(c("_total").cast(pl.Int64).alias("_kwh_c"))
        .join(pairs, on=["_kwh_c", "kvarh_e4"], how="left")
        .filter(c("_cos").is_not_null())
        .join(tables, on=["pf_key", "_cos"], how="left")
        .join(base, on="_row", how="left")
        .with_columns(c("_base").fill_null(0).cast(I128))
    )
    return assessed.select(
        "_row", "account_id", "period", pl.lit(order, dtype=pl.Int32).alias("_order"),
        pl.lit("POWER_FACTOR").alias("code"), c("_pf_zh").alias("description"), c("_pf_en").alias("description_en"),
        c("_pct_e4").alias("quantity_e4"), pl.lit(LINES["POWER_FACTOR"][2]).alias("unit"),
        (c("_base") * 10**4).cast(pl.Int64).alias("unit_price_e8"),  # yuan per 1 %: base fen / 10⁴
        _half_up(c("_pct_e4").cast(I128) * c("_base"), 10**6).cast(pl.Int64).alias("amount_fen"),
        pl.lit(None, dtype=pl.Int32).alias("tier"), pl.lit(None, dtype=pl.String).alias("tou_period"),
        c("start_date").alias("segment_start_date"), c("end_date").alias("segment_end_date"),
    )


def _rate_fallback(frame: pl.DataFrame, catalogue: Catalogue) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows left to `rate()` itself, one by one."""
    lines: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for row in frame.select(USAGE_SCHEMA.keys()).iter_rows(named=True):
        key = {"account_id": row["account_id"], "period": row["period"], "tariff_id": row["tariff_id"]}
        try:
            inp = rating_input_from_row(row)
            quote = rate(catalogue.get(row["tariff_id"]), inp)
        except RatingError as exc:
            totals.append({**key, "engine": FALLBACK, "error_field": exc.field, "error": exc.detail})
            continue
        except UnknownTariff as exc:
            totals.append({**key, "engine": FALLBACK, "error_field": "tariff_id", "error": str(exc)})
            continue
        except ValueError as exc:  # e.g. an unknown basic_charge_basis code
            totals.append({**key, "engine": FALLBACK, "error_field": "basic_charge_basis", "error": str(exc)})
            continue
        lines.extend(lines_from_quote(quote, account_id=row["account_id"], period=row["period"]))
        tiers = quote.facts.get("tiers")
        usage = quote.facts["usage"]["kwh"]
        totals.append({**key, "amount_fen": int(quote.total * 100), "kwh_c": int(usage * 100),
                       "ytd_after_c": int(quote.facts["ytd"]["after"] * 100),
                       "tier_reached": tiers["tier_reached"] if tiers else None, "engine": FALLBACK})
    return pl.DataFrame(lines, schema=LINE_SCHEMA), pl.DataFrame(totals, schema=TOTAL_SCHEMA)


def fallback_count(totals: pl.DataFrame) -> int:
    """How many rows `rate()` rated one by one (reported in the run summary)."""
    return totals.filter(pl.col("engine") == FALLBACK).height


def error_rows(totals: pl.DataFrame) -> pl.DataFrame:
    """The rows `rate()` refused, with the field and the reason."""
    return totals.filter(pl.col("error").is_not_null())


def quotes_to_frames(items: Sequence[tuple[int, str, Quote]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(account_id, period, quote) triples as kernel-shaped lines and totals (tests compare the two paths)."""
    lines = [line for account_id, period, quote in items
             for line in lines_from_quote(quote, account_id=account_id, period=period)]
    totals = [{"account_id": a, "period": p, "tariff_id": q.tariff_id, "amount_fen": int(q.total * 100)}
              for a, p, q in items]
    total_schema = {k: TOTAL_SCHEMA[k] for k in ("account_id", "period", "tariff_id", "amount_fen")}
    return pl.DataFrame(lines, schema=LINE_SCHEMA), pl.DataFrame(totals, schema=total_schema)
