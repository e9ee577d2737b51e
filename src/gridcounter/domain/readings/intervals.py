"""15-minute AMI intervals for one route and period: validated, small gaps filled, binned into time-of-use periods.

Pure Polars over one route (no Django, no clock, no I/O). Units are integers, never floats (`domain.units`):

- interval energy in 10⁻⁴ kWh (``kwh_e4``), after the meter multiplier (what the head-end sends);
- register values and the meter multiplier in hundredths (``register_start_c``, ``register_end_c``,
  ``multiplier_c``), as the readings table holds them; (end − start) × multiplier is then in 10⁻⁴ kWh;
- the binned usage in 0.01 kWh (``kwh_c``, ``peak_c`` …), each period's sum rounded half up, ready for
  `gridcounter.domain.tariffs.rating_frame.rate_frame` (the same columns as its USAGE_SCHEMA).

A billing period is half open in local dates, [start_date, end_date) in Asia/Shanghai; an interval belongs
to it when its start does. Interval starts may be aware timestamps in any zone or naive local
(Asia/Shanghai) times. The slot of an interval is its offset from the period's first local midnight in
15-minute steps; the clock hour that decides its time-of-use period is taken from the tariff data (the
version in force on the interval's local date, its peak/flat/valley hours, and the critical-peak hours of
the months that have them), looked up once per hour of the period rather than per interval.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

import polars as pl

from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.readings.codes import Finding, Severity
from gridcounter.domain.tariffs import Catalogue, TouPeriod, UnknownTariff
from gridcounter.domain.units import E4, half_up

SLOT_MINUTES = 15
SLOT_US = SLOT_MINUTES * 60 * 1_000_000
SLOTS_PER_HOUR = 60 // SLOT_MINUTES

# The most one 15-minute interval can carry (docs/intervals.md, "Physical maximum"): with a contracted capacity,
# CAPACITY_OVERLOAD times that capacity (kVA taken as kW, at power factor 1) for the interval's quarter hour;
# without one, DIRECT_METER_MAX_KW (more than a 380 V, 100 A direct-connected meter passes) times the meter's
# multiplier (CT × PT), for a quarter hour.
CAPACITY_OVERLOAD = Decimal(2)
DIRECT_METER_MAX_KW = Decimal(100)


def max_interval_kwh_e4(*, capacity_kva: Decimal | None, multiplier: Decimal) -> int:
    """The physical maximum of one 15-minute interval's energy on this installation, in kWh × 10⁴ (rounded up)."""
    if capacity_kva is not None and capacity_kva > 0:
        kw = capacity_kva * CAPACITY_OVERLOAD
    else:
        kw = DIRECT_METER_MAX_KW * (multiplier if multiplier and multiplier > 0 else Decimal(1))
    e4 = kw * E4 / SLOTS_PER_HOUR
    return int(e4.to_integral_value(rounding=ROUND_CEILING))

INTERVAL_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "meter_id": pl.Int64(),  # optional; informational
    "start_at": pl.Datetime("us", "UTC"),  # or naive local Asia/Shanghai, or aware in another zone
    "kwh_e4": pl.Int64(),
}
ACCOUNT_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "tariff_id": pl.String(),
    "register_start_c": pl.Int64(),  # TOTAL register at start_date (null: not read)
    "register_end_c": pl.Int64(),  # TOTAL register at end_date (null: not read)
    "multiplier_c": pl.Int64(),  # meter multiplier (CT × PT) in hundredths; null counts as 1
}
# Columns for rate_frame, in the order of its COMPONENTS; the component a tariff hour maps to.
COMPONENT_COLUMNS: dict[str, TouPeriod | None] = {
    "kwh": None, "critical_peak": TouPeriod.CRITICAL_PEAK, "peak": TouPeriod.PEAK, "flat": TouPeriod.FLAT,
    "valley": TouPeriod.VALLEY,
}
USAGE_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.Int64(), "period": pl.String(), "tariff_id": pl.String(), "start_date": pl.Date(),
    "end_date": pl.Date(), **{f"{name}_c": pl.Int64() for name in COMPONENT_COLUMNS},
    "expected_intervals": pl.Int64(),  # slots in the period
    "actual_intervals": pl.Int64(),  # slots with a received value
    "estimated_intervals": pl.Int64(),  # slots filled by interpolation
    "missing_intervals": pl.Int64(),  # slots left empty (the account is held)
    "interval_kwh_e4": pl.Int64(),  # sum of actual and estimated intervals
    "register_kwh_e4": pl.Int64(),  # (end − start) × multiplier, null without both register readings
    "codes": pl.List(pl.String()),
    "held": pl.Boolean(),
}
FINDING_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(), "code": pl.String(), "severity": pl.String(), "blocking": pl.Boolean(),
    "reason_zh": pl.String(), "reason_en": pl.String(), "numbers": pl.String(),  # JSON
}


class IntervalCode(StrEnum):
    GAP = "GAP"
    ESTIMATED = "ESTIMATED"
    NEGATIVE = "NEGATIVE"
    SPIKE = "SPIKE"
    SUM_MISMATCH = "SUM_MISMATCH"
    REGISTER_MISSING = "REGISTER_MISSING"
    DUPLICATE = "DUPLICATE"
    NO_TOU_HOURS = "NO_TOU_HOURS"


SEVERITY: dict[IntervalCode, Severity] = {
    IntervalCode.GAP: Severity.ERROR,
    IntervalCode.ESTIMATED: Severity.INFO,
    IntervalCode.NEGATIVE: Severity.ERROR,
    IntervalCode.SPIKE: Severity.ERROR,
    IntervalCode.SUM_MISMATCH: Severity.ERROR,
    IntervalCode.REGISTER_MISSING: Severity.WARNING,
    IntervalCode.DUPLICATE: Severity.ERROR,
    IntervalCode.NO_TOU_HOURS: Severity.ERROR,
}

# (zh, en) templates over the finding's numbers
REASONS: dict[IntervalCode, tuple[str, str]] = {
    IntervalCode.GAP: (
        "本期应有 {expected} 个15分钟间隔，缺 {missing} 个未能补齐（最长连续缺 {longest} 个，最多可插值补 {limit} 个），暂缓出账。",
        "{missing} of the period's {expected} 15-minute intervals are missing and could not be filled "
        "(longest run {longest}; at most {limit} in a row are interpolated): the bill is held.",
    ),
    IntervalCode.ESTIMATED: (
        "{count} 个缺失的15分钟间隔按前后实测值线性插值估算，共 {kwh} 千瓦时，账单上标为估算。",
        "{count} missing 15-minute intervals were estimated by linear interpolation between the measured "
        "neighbours, {kwh} kWh in all; the bill marks them as estimates.",
    ),
    IntervalCode.NEGATIVE: (
        "{count} 个间隔电量为负（最小 {min_kwh} 千瓦时，首个在 {first_at}），数据有误。",
        "{count} intervals hold negative energy (lowest {min_kwh} kWh, first at {first_at}): the data is wrong.",
    ),
    IntervalCode.SPIKE: (
        "{count} 个间隔电量超过该户本期典型间隔 {typical_kwh} 千瓦时 的 {limit} 倍（最大 {max_kwh} 千瓦时，于 {max_at}），疑似数据错误。",
        "{count} intervals exceed {limit} times the account's typical interval of {typical_kwh} kWh this "
        "period (highest {max_kwh} kWh at {max_at}): looks like bad data.",
    ),
    IntervalCode.SUM_MISMATCH: (
        "间隔电量合计 {interval_kwh} 千瓦时 与表计示数差×倍率 {register_kwh} 千瓦时 相差 {diff_kwh} 千瓦时，超出允许 {tolerance_kwh} 千瓦时。",
        "The intervals add up to {interval_kwh} kWh but the register advanced {register_kwh} kWh "
        "(× multiplier): {diff_kwh} kWh apart, more than the {tolerance_kwh} kWh allowed.",
    ),
    IntervalCode.REGISTER_MISSING: (
        "期初或期末缺少总示数，间隔电量合计 {interval_kwh} 千瓦时 未能与表计核对。",
        "No register reading at the start or the end of the period: the intervals' {interval_kwh} kWh "
        "could not be checked against the register.",
    ),
    IntervalCode.DUPLICATE: (
        "{count} 个间隔收到不同的重复数值（首个在 {first_at}），待核实。",
        "{count} intervals arrived twice with different values (first at {first_at}): held for review.",
    ),
    IntervalCode.NO_TOU_HOURS: (
        "电价 {tariff_id} 在 {day} 无分时时段划分（或电价不存在），无法按峰平谷归集间隔电量。",
        "Tariff {tariff_id} gives no time-of-use hours on {day} (or is unknown): the intervals cannot be "
        "split into peak, flat and valley.",
    ),
}


class IntervalRulesError(ValueError):
    """The [intervals] section of the validation rules is missing a key or holds a wrong value."""


@dataclass(frozen=True)
class IntervalRules:
    """Thresholds for interval data; see the [intervals] section of rules/validation.toml."""

    max_fill_intervals: int = 4
    spike_factor: Decimal = Decimal(10)
    spike_min_kwh: Decimal = Decimal(1)
    sum_tolerance_percent: Decimal = Decimal(1)
    sum_tolerance_kwh: Decimal = Decimal("0.5")
    blocking: frozenset[str] = frozenset(
        {"GAP", "NEGATIVE", "SPIKE", "SUM_MISMATCH", "DUPLICATE", "NO_TOU_HOURS"})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> IntervalRules:
        """From the parsed rules file. Raises IntervalRulesError naming the key."""
        section = data.get("intervals") if isinstance(data, Mapping) else None
        if not isinstance(section, Mapping):
            raise IntervalRulesError("validation rules: missing [intervals] section")

        def get(key: str):
            if key not in section:
                raise IntervalRulesError(f"validation rules: missing [intervals] {key}")
            return section[key]

        def number(key: str) -> Decimal:
            raw = get(key)
            if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
                raise IntervalRulesError(f"validation rules: [intervals] {key} = {raw!r} is not a number")
            try:
                value = Decimal(str(raw))
            except ArithmeticError:
                raise IntervalRulesError(f"validation rules: [intervals] {key} = {raw!r} is not a number") from None
            if not value.is_finite() or value < 0:
                raise IntervalRulesError(f"validation rules: [intervals] {key} = {raw!r} must be 0 or more")
            return value

        fill = get("max_fill_intervals")
        if isinstance(fill, bool) or not isinstance(fill, int) or fill < 0:
            raise IntervalRulesError(f"validation rules: [intervals] max_fill_intervals = {fill!r} is not a whole number")
        blocking = get("blocking")
        if not isinstance(blocking, list) or any(c not in IntervalCode.__members__ for c in blocking):
            raise IntervalRulesError(
                f"validation rules: [intervals] blocking must list codes among {', '.join(IntervalCode)}")
        return cls(max_fill_intervals=fill, spike_factor=number("spike_factor"),
                   spike_min_kwh=number("spike_min_kwh"), sum_tolerance_percent=number("sum_tolerance_percent"),
                   sum_tolerance_kwh=number("sum_tolerance_kwh"), blocking=frozenset(blocking))


@dataclass(frozen=True)
class IntervalResult:
    """Per account of the route: the usage to rate (USAGE_COLUMNS) and the findings (FINDING_SCHEMA)."""

    usage: pl.DataFrame
    findings: pl.DataFrame

    @property
    def held_account_ids(self) -> list[int]:
        return self.usage.filter(pl.col("held"))["account_id"].to_list()

    def findings_for(self, account_id: int) -> list[Finding]:
        return self._by_account.get(account_id, [])

    @cached_property
    def _by_account(self) -> dict[int, list[Finding]]:
        return findings_by_account(self.findings)


def findings_by_account(findings: pl.DataFrame) -> dict[int, list[Finding]]:
    """FINDING_SCHEMA rows as the reading rules' Findings, by account, in the frame's order (one pass)."""
    out: dict[int, list[Finding]] = {}
    for r in findings.iter_rows(named=True):
        out.setdefault(r["account_id"], []).append(Finding(
            code=r["code"], severity=r["severity"], numbers=json.loads(r["numbers"]), reason_zh=r["reason_zh"],
            reason_en=r["reason_en"]))
    return out


# -- time ----------------------------------------------------------------------------------------------------


def period_start_utc(start_date: date) -> datetime:
    """The UTC instant of local (Asia/Shanghai) midnight starting `start_date`."""
    return datetime.combine(start_date, time(0), tzinfo=BUSINESS_TZ).astimezone(UTC)


def slot_count(*, start_date: date, end_date: date) -> int:
    """15-minute slots in the half-open local period [start_date, end_date)."""
    span = period_start_utc(end_date) - period_start_utc(start_date)
    return span // timedelta(minutes=SLOT_MINUTES)


def _hour_component(tariff, day: date, hour: int) -> str | None:
    """The usage column an hour of `day` counts towards under `tariff`; None when there are no hours for it."""
    found = tariff.version_on(day)
    if found is None:
        return None
    version = found[0]
    if not version.prices.tou:
        return "kwh" if version.prices.untimed is not None else None
    month = day.month
    ordinary = None
    for window in version.time_of_use:
        if not _covers(window.hours, hour):
            continue
        if window.period is TouPeriod.CRITICAL_PEAK:
            if window.months is not None and month in window.months and month in version.prices.critical_months:
                return "critical_peak"
        elif window.months is None or month in window.months:
            ordinary = window.period
    return None if ordinary is None else _column(ordinary)


def _covers(hours: Iterable[tuple[int, int]], hour: int) -> bool:
    return any((start <= hour < end) if start < end else (hour >= start or hour < end) for start, end in hours)


def _column(period: TouPeriod) -> str:
    return next(name for name, p in COMPONENT_COLUMNS.items() if p is period)


def tou_lookup(*, catalogue: Catalogue, tariff_ids: Iterable[str], start_date: date, end_date: date) -> pl.DataFrame:
    """(tariff_id, hour of the period, local date, component) for every hour of the period and every tariff.

    ``hour`` counts from the period's first local midnight; ``component`` is null where the tariff gives no
    clock hours for its priced periods (or is unknown).
    """
    origin = period_start_utc(start_date)
    hours = slot_count(start_date=start_date, end_date=end_date) // SLOTS_PER_HOUR
    local = [(origin + timedelta(hours=h)).astimezone(BUSINESS_TZ) for h in range(hours)]
    rows: list[tuple[str, int, date, str | None]] = []
    for tariff_id in sorted(set(tariff_ids)):
        try:
            tariff = catalogue.get(tariff_id)
        except UnknownTariff:
            tariff = None
        components = _tariff_hours(tariff, start_date=start_date, end_date=end_date, local=local)
        rows += [(tariff_id, h, moment.date(), component) for h, (moment, component) in enumerate(zip(local, components, strict=True))]
    return pl.DataFrame(rows, schema={"tariff_id": pl.String(), "hour": pl.Int32(), "local_date": pl.Date(),
                                      "component": pl.String()}, orient="row")


# (id of the tariff, start, end) → (the tariff, component of each hour): every route of a bill run asks for the
# same tariffs and period; the tariff itself is kept and compared, so a new catalogue never reads an old answer
_HOURS: dict[tuple[int, date, date], tuple[object, list[str | None]]] = {}


def _tariff_hours(tariff, *, start_date: date, end_date: date, local: list[datetime]) -> list[str | None]:
    if tariff is None:
        return [None] * len(local)
    key = (id(tariff), start_date, end_date)
    found = _HOURS.get(key)
    if found is not None and found[0] is tariff:
        return found[1]
    memo: dict[tuple[date, int], str | None] = {}
    components = []
    for moment in local:
        day_hour = (moment.date(), moment.hour)
        if day_hour not in memo:
            memo[day_hour] = _hour_component(tariff, *day_hour)
        components.append(memo[day_hour])
    if len(_HOURS) >= 256:
        _HOURS.clear()
    _HOURS[key] = (tariff, components)
    return components


# -- integer rounding ----------------------------------------------------------------------------------------



def _kwh(e4: int) -> Decimal:
    return (Decimal(e4) / E4).normalize() if e4 % E4 else Decimal(e4 // E4)


def _plain(value: Decimal) -> str:
    return format(value, "f")


# -- the kernel ----------------------------------------------------------------------------------------------


def _slots(intervals: pl.LazyFrame, *, origin_us: int) -> pl.LazyFrame:
    """account_id, slot (15-minute steps from the period's start) and kwh_e4; start_at read in its own zone."""
    dtype = intervals.collect_schema()["start_at"]
    moment = pl.col("start_at")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        moment = moment.dt.replace_time_zone(str(BUSINESS_TZ))
    return intervals.select(
        pl.col("account_id").cast(pl.Int64),
        ((moment.dt.epoch("us") - origin_us) // SLOT_US).cast(pl.Int64).alias("slot"),
        pl.col("kwh_e4").cast(pl.Int64),
    )


def interval_usage_frame(
    intervals: pl.LazyFrame | pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    period: str,
    start_date: date,
    end_date: date,
    catalogue: Catalogue,
    rules: IntervalRules,
) -> IntervalResult:
    """Validate, fill and bin one route's intervals for [start_date, end_date) (local dates).

    `intervals` has INTERVAL_SCHEMA's columns (meter_id optional), `accounts` ACCOUNT_SCHEMA's: one row
    per interval-metered account to bill; intervals of other accounts and outside the period are ignored.
    Returns one usage row per account (held or not) and its findings. Raises ValueError for an empty or
    inverted period or a duplicate account.
    """
    if end_date <= start_date:
        raise ValueError(f"empty period [{start_date}, {end_date})")
    accounts = accounts.select(
        [pl.col(k).cast(v) if k in accounts.columns else pl.lit(None, dtype=v).alias(k) for k, v in ACCOUNT_SCHEMA.items()])
    if accounts["account_id"].is_duplicated().any():
        raise ValueError("accounts must be unique per account_id")
    c = pl.col
    origin = period_start_utc(start_date)
    origin_us = int(origin.timestamp()) * 1_000_000
    n = slot_count(start_date=start_date, end_date=end_date)
    lazy = intervals.lazy() if isinstance(intervals, pl.DataFrame) else intervals

    # one value per (account, slot), sorted on one integer key; a second, different value is a DUPLICATE
    key = c("account_id") * n + c("slot")
    received = (
        _slots(lazy, origin_us=origin_us)
        .filter((c("slot") >= 0) & (c("slot") < n))
        .join(accounts.lazy().select("account_id"), on="account_id", how="semi")
        .with_columns(_key=key)
        .sort("_key")
        .collect(engine="streaming")
    )
    repeat = c("_key") == c("_key").shift(1)
    received = received.with_columns(_repeat=repeat.fill_null(False),
                                     _dup=(repeat & (c("kwh_e4") != c("kwh_e4").shift(1))).fill_null(False))
    dups = received.filter(c("_dup")).group_by("account_id").agg(
        pl.len().alias("_dups"), c("slot").min().alias("_dup_first"))
    present = received.filter(~c("_repeat")).select("account_id", "slot", "kwh_e4")

    # gaps: runs between consecutive received slots, before the first and after the last
    same = c("account_id") == c("account_id").shift(1)
    inner = present.with_columns(_prev=c("slot").shift(1), _va=c("kwh_e4").shift(1), _same=same).filter(
        c("_same") & (c("slot") - c("_prev") > 1)).select(
        "account_id", (c("_prev") + 1).alias("run_start"), (c("slot") - c("_prev") - 1).alias("run_len"), "_va",
        c("kwh_e4").alias("_vb"))
    ends = present.group_by("account_id").agg(c("slot").first().alias("_first"), c("slot").last().alias("_last"))
    leading = ends.filter(c("_first") > 0).select("account_id", pl.lit(0, pl.Int64).alias("run_start"),
                                                  c("_first").alias("run_len"))
    trailing = ends.filter(c("_last") < n - 1).select("account_id", (c("_last") + 1).alias("run_start"),
                                                      (n - 1 - c("_last")).alias("run_len"))
    silent = accounts.select("account_id").join(ends, on="account_id", how="anti").select(
        "account_id", pl.lit(0, pl.Int64).alias("run_start"), pl.lit(n, pl.Int64).alias("run_len"))
    fillable = inner.filter(c("run_len") <= rules.max_fill_intervals)
    unfilled = pl.concat([inner.filter(c("run_len") > rules.max_fill_intervals).select("account_id", "run_start", "run_len"),
                          leading, trailing, silent], how="vertical")

    # linear interpolation between the measured neighbours, half up to 10⁻⁴ kWh
    filled = (
        fillable.with_columns(_k=pl.int_ranges(1, c("run_len") + 1)).explode("_k")
        .select("account_id", (c("run_start") + c("_k") - 1).alias("slot"),
                (c("_va") + half_up((c("_vb") - c("_va")) * c("_k"), c("run_len") + 1)).alias("kwh_e4"))
    )

    # spikes: far above the account's typical (median) interval this period; only candidates are compared
    factor_e4 = int(rules.spike_factor * E4)
    min_e4 = int(rules.spike_min_kwh * E4)
    ends = ends.join(present.group_by("account_id").agg(
        pl.len().alias("actual_intervals"),
        c("kwh_e4").quantile(0.5, interpolation="lower").cast(pl.Int64).alias("_typical")), on="account_id")
    implausible = present.filter((c("kwh_e4") >= min_e4) | (c("kwh_e4") < 0)).join(
        ends.select("account_id", "_typical"), on="account_id").with_columns(
        _spike=(c("kwh_e4") * E4 > c("_typical") * factor_e4) & (c("kwh_e4") >= min_e4), _neg=c("kwh_e4") < 0)
    implausible_stats = implausible.group_by("account_id").agg(
        c("_neg").sum().alias("_negs"), c("kwh_e4").min().alias("_min"), c("slot").filter(c("_neg")).min().alias("_neg_first"),
        c("_spike").sum().alias("_spikes"), c("kwh_e4").filter(c("_spike")).max().alias("_spike_max"),
        c("slot").filter(c("_spike")).sort_by(c("kwh_e4").filter(c("_spike")), descending=True).first().alias("_spike_at"),
    )

    # binning: sum per hour of the period first, then the hour → the tariff's component
    lookup = tou_lookup(catalogue=catalogue, tariff_ids=accounts["tariff_id"].drop_nulls().to_list(),
                        start_date=start_date, end_date=end_date)
    hours = n // SLOTS_PER_HOUR
    # the rows are in (account, slot) order: an hour's sum is the running total at its last row minus the
    # running total at the previous hour's last row (no hashing of millions of keys)
    hkey = c("account_id") * hours + c("slot") // SLOTS_PER_HOUR
    hourly = (
        (pl.concat([present, filled], how="vertical").sort(key) if filled.height else present)
        .select(_hkey=hkey, _run=c("kwh_e4").cum_sum())
        .filter(c("_hkey") != c("_hkey").shift(-1).fill_null(-1))
        .select(account_id=c("_hkey") // hours, hour=(c("_hkey") % hours).cast(pl.Int32),
                kwh_e4=c("_run") - c("_run").shift(1).fill_null(0))
    )
    binned = (
        hourly.join(accounts.select("account_id", "tariff_id"), on="account_id")
        .join(lookup.select("tariff_id", "hour", "component"), on=["tariff_id", "hour"], how="left")
        .group_by("account_id")
        .agg(*[c("kwh_e4").filter(c("component") == name).sum().alias(f"_{name}_e4") for name in COMPONENT_COLUMNS],
             c("kwh_e4").sum().alias("interval_kwh_e4"))
    )
    timed = lookup.group_by("tariff_id").agg(
        (c("component").is_not_null() & (c("component") != "kwh")).any().alias("_timed"))
    unbinned = lookup.filter(c("component").is_null()).group_by("tariff_id").agg(c("local_date").min().alias("_no_hours"))

    stats = ends.select("account_id", "actual_intervals", "_typical").join(
        implausible_stats, on="account_id", how="left").join(dups, on="account_id", how="left")
    fills = fillable.group_by("account_id").agg(c("run_len").sum().alias("estimated_intervals"))
    fill_kwh = filled.group_by("account_id").agg(c("kwh_e4").sum().alias("_fill_e4"))
    gaps = unfilled.group_by("account_id").agg(c("run_len").sum().alias("missing_intervals"),
                                               c("run_len").max().alias("_longest"))

    usage = (
        accounts.join(stats, on="account_id", how="left")
        .join(fills, on="account_id", how="left").join(fill_kwh, on="account_id", how="left")
        .join(gaps, on="account_id", how="left").join(binned, on="account_id", how="left")
        .join(timed, on="tariff_id", how="left").join(unbinned, on="tariff_id", how="left")
        .with_columns(
            c("actual_intervals", "estimated_intervals", "missing_intervals", "interval_kwh_e4", "_fill_e4",
              *[f"_{name}_e4" for name in COMPONENT_COLUMNS]).fill_null(0),
            c("_timed").fill_null(False),
            register_kwh_e4=(c("register_end_c") - c("register_start_c")) * c("multiplier_c").fill_null(100),
        )
    )
    tolerance = pl.max_horizontal(
        pl.lit(int(rules.sum_tolerance_kwh * E4), pl.Int64),
        half_up(c("register_kwh_e4").abs() * int(rules.sum_tolerance_percent * 100), 10**4))
    usage = usage.with_columns(_tolerance=tolerance, _diff=(c("interval_kwh_e4") - c("register_kwh_e4")).abs())
    usage = usage.with_columns(
        *[pl.when(c("_timed") == (name != "kwh")).then(half_up(c(f"_{name}_e4"), 100))
          .otherwise(pl.lit(None, pl.Int64)).alias(f"{name}_c") for name in COMPONENT_COLUMNS],
        period=pl.lit(period), start_date=pl.lit(start_date, pl.Date), end_date=pl.lit(end_date, pl.Date),
        expected_intervals=pl.lit(n, pl.Int64),
    )
    findings = _findings(usage, origin=origin, rules=rules)
    codes = findings.group_by("account_id").agg(c("code").alias("codes"), c("blocking").any().alias("held"))
    usage = usage.join(codes, on="account_id", how="left").with_columns(
        c("codes").fill_null(pl.lit([], pl.List(pl.String))), c("held").fill_null(False))
    return IntervalResult(usage=usage.select([c(k).cast(v) for k, v in USAGE_COLUMNS.items()]),
                          findings=findings)


def _findings(usage: pl.DataFrame, *, origin: datetime, rules: IntervalRules) -> pl.DataFrame:
    """One finding per account and code, with both sentences; only accounts with something to say are visited."""
    c = pl.col
    concerned = usage.filter(
        (c("missing_intervals") > 0) | (c("estimated_intervals") > 0) | (c("_negs").fill_null(0) > 0)
        | (c("_spikes").fill_null(0) > 0) | (c("_dups").fill_null(0) > 0) | c("_no_hours").is_not_null()
        | c("register_kwh_e4").is_null() | (c("_diff") > c("_tolerance")).fill_null(False)
    )

    def at(slot: int) -> str:
        return (origin + timedelta(minutes=SLOT_MINUTES * slot)).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")

    rows: list[dict[str, Any]] = []
    for r in concerned.iter_rows(named=True):
        found: list[tuple[IntervalCode, dict[str, Any]]] = []
        if r["_no_hours"] is not None:
            found.append((IntervalCode.NO_TOU_HOURS, {"tariff_id": r["tariff_id"], "day": r["_no_hours"].isoformat()}))
        if r["_dups"]:
            found.append((IntervalCode.DUPLICATE, {"count": r["_dups"], "first_at": at(r["_dup_first"])}))
        if r["missing_intervals"]:
            found.append((IntervalCode.GAP, {"expected": r["expected_intervals"], "missing": r["missing_intervals"],
                                             "longest": r["_longest"], "limit": rules.max_fill_intervals}))
        if r["estimated_intervals"]:
            found.append((IntervalCode.ESTIMATED, {"count": r["estimated_intervals"],
                                                   "kwh": _plain(_kwh(r["_fill_e4"]))}))
        if r["_negs"]:
            found.append((IntervalCode.NEGATIVE, {"count": r["_negs"], "min_kwh": _plain(_kwh(r["_min"])),
                                                  "first_at": at(r["_neg_first"])}))
        if r["_spikes"]:
            found.append((IntervalCode.SPIKE, {"count": r["_spikes"], "typical_kwh": _plain(_kwh(r["_typical"])),
                                               "limit": _plain(rules.spike_factor),
                                               "max_kwh": _plain(_kwh(r["_spike_max"])), "max_at": at(r["_spike_at"])}))
        if not r["actual_intervals"]:
            pass  # nothing received: GAP says so; a sum of no intervals checks nothing against the register
        elif r["register_kwh_e4"] is None:
            found.append((IntervalCode.REGISTER_MISSING, {"interval_kwh": _plain(_kwh(r["interval_kwh_e4"]))}))
        elif r["_diff"] > r["_tolerance"]:
            found.append((IntervalCode.SUM_MISMATCH, {
                "interval_kwh": _plain(_kwh(r["interval_kwh_e4"])), "register_kwh": _plain(_kwh(r["register_kwh_e4"])),
                "diff_kwh": _plain(_kwh(r["_diff"])), "tolerance_kwh": _plain(_kwh(r["_tolerance"]))}))
        for code, numbers in found:
            zh, en = REASONS[code]
            rows.append({"account_id": r["account_id"], "code": code.value, "severity": SEVERITY[code].value,
                         "blocking": code.value in rules.blocking, "reason_zh": zh.format(**numbers),
                         "reason_en": en.format(**numbers), "numbers": json.dumps(numbers, ensure_ascii=False)})
    if not rows:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    return pl.DataFrame(rows, schema=FINDING_SCHEMA)
