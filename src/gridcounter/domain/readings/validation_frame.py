"""Vectorised reading validation, the optimisation of `validation.validate_reading` for bulk imports: over a Polars
frame of readings it decides, in integer arithmetic, which readings certainly have no finding at all (most of a
file), and only the others go through `validate_reading` itself, one by one.

So every finding, with its numbers and its zh/en sentences, is made by the reference (`validate_reading` and
`codes.finding` with `codes.REASONS`); this module only proves absence. It reads the same `Thresholds` and applies
the same rules: a reading is *clear* when

- it has an account, and no route day or one the schedule rule can place (1–28) and is within
  ``schedule_tolerance_days`` of the nearest fixed day (no OFF_SCHEDULE, no INACTIVE_METER), and
- it has no previous reading, or is not after it (the reference stops there), or it advances (kwh > 0: no
  DECREASE, ROLLOVER or ZERO_STREAK) and the expected consumption (recent average, or the same month last year
  scaled by the capped trend, computed exactly as a fraction of Int128 integers) leaves it
  certainly below the SPIKE limit and certainly inside the HIGH / LOW band, with a margin of 2 (0.01 kWh) around
  every rounded figure, or the rule does not apply (too few cycles, expectation under ``band_min_expected_kwh``).

Everything else is *not clear* and left to the reference: a zero advance, a decrease, a reading off schedule or
without an account, values with more than two decimals or above 10^10, odd thresholds (``typical_cycles`` < 1).
`tests/unit/domain/readings/test_validation_frame.py` checks that the two agree reading by reading.

Units: energy and register values in 0.01 (``*_c`` columns, Int64); sums and products in Int128.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import polars as pl

from .codes import Finding
from .validation import ReadingCheck, Thresholds, validate_reading

CENTS = Decimal(100)
MAX_C = 10**12  # centi-units above this are left to the reference (products stay far inside Int128)

CHECK_SCHEMA = {
    "read_date": pl.Date, "value_c": pl.Int64, "prev_date": pl.Date, "prev_value_c": pl.Int64,
    "has_account": pl.Boolean, "route_day": pl.Int16, "representable": pl.Boolean,
}
CYCLE_SCHEMA = {
    "row": pl.UInt32, "seq": pl.UInt32, "start_date": pl.Date, "end_date": pl.Date, "kwh_c": pl.Int64,
    "is_estimate": pl.Boolean,
}


def _centi(value: Decimal) -> int | None:
    scaled = value * CENTS
    if scaled != scaled.to_integral_value() or abs(scaled) > MAX_C:
        return None
    return int(scaled)


def frames_of(checks: Sequence[ReadingCheck]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two frames `clear_rows` reads, built from reference checks (row i of the first is ``checks[i]``)."""
    rows: dict[str, list] = {k: [] for k in CHECK_SCHEMA}
    cycles: dict[str, list] = {k: [] for k in CYCLE_SCHEMA}
    for i, c in enumerate(checks):
        value_c = _centi(c.value)
        prev_c = _centi(c.previous.value) if c.previous else None
        ok = value_c is not None and (c.previous is None or prev_c is not None)
        for seq, cycle in enumerate(c.history):
            kwh_c = _centi(cycle.kwh)
            ok = ok and kwh_c is not None
            for key, v in (("row", i), ("seq", seq), ("start_date", cycle.start_date), ("end_date", cycle.end_date),
                           ("kwh_c", kwh_c), ("is_estimate", cycle.is_estimate)):
                cycles[key].append(v)
        for key, v in (("read_date", c.read_date), ("value_c", value_c),
                       ("prev_date", c.previous.read_date if c.previous else None), ("prev_value_c", prev_c),
                       ("has_account", c.has_account), ("route_day", c.route_day), ("representable", ok)):
            rows[key].append(v)
    return pl.DataFrame(rows, schema=CHECK_SCHEMA), pl.DataFrame(cycles, schema=CYCLE_SCHEMA)


def _ratio(value: Decimal) -> tuple[int, int]:
    p, q = value.as_integer_ratio()
    return p, q


def _days_off_schedule(read_date: pl.Expr, route_day: pl.Expr) -> pl.Expr:
    """Days between the reading and the route's nearest fixed day (this, the previous or the next month), as
    `validation.nearest_fixed_date` picks it (the tie-break does not change the distance)."""
    offs = []
    for shift in (-1, 0, 1):
        month0 = read_date.dt.month().cast(pl.Int32) - 1 + shift
        fixed = pl.date(read_date.dt.year().cast(pl.Int32) + month0.floordiv(12), month0.mod(12) + 1, route_day)
        offs.append((read_date - fixed).dt.total_days().abs())
    return pl.min_horizontal(offs)


def clear_rows(checks: pl.DataFrame, cycles: pl.DataFrame, *, rules: Thresholds) -> pl.Series:
    """For each row of ``checks`` (columns of `CHECK_SCHEMA`), True when `validate_reading` certainly finds
    nothing; ``cycles`` (`CYCLE_SCHEMA`) holds each row's history, ``row`` its index in ``checks``, ``seq`` its
    place (oldest first)."""
    n = checks.height
    if n == 0:
        return pl.Series("clear", [], dtype=pl.Boolean)
    if rules.typical_cycles < 1:
        return pl.Series("clear", [False] * n, dtype=pl.Boolean)
    frame = checks.with_row_index("row")
    prior = frame.select("row", "prev_date", "read_date")
    # The expectation's inputs (`validation.expected_consumption`): the actual cycles ending by the previous reading,
    # the recent ones, the same month last year, and for each recent cycle its own month a year before.
    ym = pl.col("end_date").dt.year().cast(pl.Int32) * 12 + pl.col("end_date").dt.month().cast(pl.Int32)
    actual = (cycles.join(prior, on="row")
              .filter(~pl.col("is_estimate") & (pl.col("end_date") <= pl.col("prev_date")))
              .sort("row", "seq")
              .with_columns(days=pl.max_horizontal((pl.col("end_date") - pl.col("start_date")).dt.total_days(),
                                                   pl.lit(1)).cast(pl.Int128),
                            kwh=pl.col("kwh_c").cast(pl.Int128), ym=ym,
                            read_ym=pl.col("read_date").dt.year().cast(pl.Int32) * 12
                            + pl.col("read_date").dt.month().cast(pl.Int32))
              .with_columns(recent=pl.int_range(pl.len(), dtype=pl.Int64).over("row")
                            >= pl.len().over("row").cast(pl.Int64) - rules.typical_cycles)
              .select("row", "seq", "days", "kwh", "ym", "read_ym", "recent"))
    latest = actual.select("row", "ym", "seq", "kwh", "days")
    last_year = (actual.filter(pl.col("ym") == pl.col("read_ym") - 12).group_by("row")
                 .agg(ly_c=pl.col("kwh").sort_by("seq").last(), ly_days=pl.col("days").sort_by("seq").last()))
    before = (actual.filter("recent").select("row", pl.col("seq").alias("of"), (pl.col("ym") - 12).alias("ym"))
              .join(latest, on=["row", "ym"], how="left")
              .group_by("row", "of")
              .agg(then_c=pl.col("kwh").sort_by("seq").last(), then_days=pl.col("days").sort_by("seq").last())
              .group_by("row")
              .agg(every=pl.col("then_c").is_not_null().all(), then_c=pl.col("then_c").sum(),
                   then_days=pl.col("then_days").sum()))
    expect = actual.group_by("row").agg(
        cycles=pl.len(),
        recent_c=pl.col("kwh").filter("recent").sum(),
        recent_days=pl.col("days").filter("recent").sum(),
    )
    frame = (frame.join(expect, on="row", how="left").join(last_year, on="row", how="left")
             .join(before, on="row", how="left").sort("row"))

    tolerance = rules.schedule_tolerance_days
    sp, sq = _ratio(rules.spike_factor)
    hp, hq = _ratio(rules.high_factor)
    lp, lq = _ratio(rules.low_factor)
    spike_min_c = _centi(rules.spike_min_kwh)
    band_min_c = _centi(rules.band_min_expected_kwh)
    if spike_min_c is None or band_min_c is None:
        return pl.Series("clear", [False] * n, dtype=pl.Boolean)

    route_day = pl.col("route_day")
    schedule_ok = route_day.is_null() | (
        route_day.is_between(1, 28) & (_days_off_schedule(pl.col("read_date"), route_day.cast(pl.Int32))
                                       <= tolerance))
    no_rules = pl.col("prev_date").is_null() | (pl.col("read_date") <= pl.col("prev_date"))

    kwh = (pl.col("value_c") - pl.col("prev_value_c")).cast(pl.Int128)
    days = (pl.col("read_date") - pl.col("prev_date")).dt.total_days().cast(pl.Int128)
    # expected kWh (0.01) over the new cycle = a / d exactly; the reference's rounded figures lie within ±1 of it
    mp, mq = _ratio(rules.max_trend)
    r_c, r_d = pl.col("recent_c"), pl.col("recent_days")
    ly_c, ly_d = pl.col("ly_c"), pl.col("ly_days")
    t_c, t_d = pl.col("then_c"), pl.col("then_days")
    trended = pl.col("every").fill_null(False) & (t_c > 0)
    up = r_c * t_d * mq > mp * r_d * t_c  # the trend capped at max_trend
    down = r_c * t_d * mp < mq * r_d * t_c  # and at 1 / max_trend
    a = (pl.when(ly_c.is_null()).then(r_c * days)
         .when(~trended).then(ly_c * days)
         .when(up).then(ly_c * mp * days)
         .when(down).then(ly_c * mq * days)
         .otherwise(ly_c * r_c * t_d * days))
    d = (pl.when(ly_c.is_null()).then(r_d)
         .when(~trended).then(ly_d)
         .when(up).then(ly_d * mq)
         .when(down).then(ly_d * mp)
         .otherwise(ly_d * r_d * t_c))
    cycles_n = pl.col("cycles").fill_null(0)
    no_expectation = cycles_n == 0
    no_spike = ((cycles_n < rules.min_cycles_for_spike) | (kwh <= spike_min_c)
                | (kwh * sq * d <= sp * a - 2 * sq * d))
    no_band = ((cycles_n < rules.min_cycles_for_band) | (a <= (band_min_c - 2) * d)
               | ((kwh * hq * d <= hp * (a - 2 * d)) & (kwh * lq * d >= lp * (a + 2 * d))))
    fits = (kwh > 0) & (no_expectation | ((d > 0) & no_spike & no_band))
    small = (pl.col("value_c").abs() <= MAX_C) & (pl.col("prev_value_c").abs() <= MAX_C)
    clear = (pl.col("representable") & pl.col("has_account") & schedule_ok
             & (no_rules | (small & fits).fill_null(False)))
    return frame.select(clear.fill_null(False).alias("clear")).to_series()


def validate_frame(checks: pl.DataFrame, cycles: pl.DataFrame, *, rules: Thresholds,
                   check_of: Callable[[int], ReadingCheck]) -> list[list[Finding]]:
    """The findings of every row of ``checks``, as `validate_reading` gives them: none for a clear row, the
    reference's for the others (``check_of(i)`` builds row i's `ReadingCheck`)."""
    clear = clear_rows(checks, cycles, rules=rules).to_list()
    return [[] if ok else validate_reading(check_of(i), rules=rules) for i, ok in enumerate(clear)]


def validate_checks(checks: Sequence[ReadingCheck], *, rules: Thresholds) -> list[list[Finding]]:
    """`validate_frame` over reference checks."""
    frame, cycles = frames_of(checks)
    return validate_frame(frame, cycles, rules=rules, check_of=checks.__getitem__)


__all__ = ["CHECK_SCHEMA", "CYCLE_SCHEMA", "clear_rows", "frames_of", "validate_checks", "validate_frame"]
