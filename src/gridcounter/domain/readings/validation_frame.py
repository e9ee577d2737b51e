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


# The frames of a file's readings built as columns (`checks_from_readings`): each target reading with its meter and
# register as ``key``, and the accepted readings that may be its priors. ``seen`` orders what a target can see: a
# prior counts for a target only when its ``seen`` is lower (stored readings before the file's rows, the file's rows
# in file order), as the import takes the rows in (`select_priors` over the readings accepted so far).
TARGET_SCHEMA = {
    "key": pl.Int64, "seen": pl.Int64, "read_at": pl.Datetime("us", "UTC"), "read_date": pl.Date,
    "value_c": pl.Int64, "since": pl.Date, "dial_c": pl.Int64, "initial_date": pl.Date, "initial_c": pl.Int64,
    "has_account": pl.Boolean, "route_day": pl.Int16,
}
PRIOR_SCHEMA = {
    "key": pl.Int64, "seen": pl.Int64, "read_at": pl.Datetime("us", "UTC"), "read_date": pl.Date,
    "value_c": pl.Int64, "is_estimate": pl.Boolean,
}


def centi(value: Decimal) -> int | None:
    """``value`` in 0.01 as an integer, or None when it has more than two decimals or is beyond `MAX_C`."""
    return _centi(value)


def checks_from_readings(targets: pl.DataFrame, priors: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two frames `clear_rows` reads, as `frames_of` builds them from the reference's checks, built as columns.

    For each target (`TARGET_SCHEMA`, row i of the result is row i of ``targets``) its priors are the rows of
    ``priors`` (`PRIOR_SCHEMA`) of the same key with a lower ``seen``, read before it and on or after its ``since``,
    ordered by read_at and then ``seen``; the installation's initial reading (``initial_date``, ``initial_c``; null
    when there is none to count) comes first unless a prior is on or before its day, as `select_priors` adds it. The
    previous reading is the last prior, the history the cycles between consecutive priors
    (`validation.cycles_from_readings`: a later day only, a lower value a rollover of ``dial_c``). A null value (not
    in whole cents, see `centi`) among them leaves the row to the reference."""
    t = targets.with_row_index("row")
    seen = (t.select("row", "key", pl.col("seen").alias("t_seen"), pl.col("read_at").alias("t_at"), "since")
            .join(priors, on="key")
            .filter((pl.col("seen") < pl.col("t_seen")) & (pl.col("read_at") < pl.col("t_at"))
                    & (pl.col("read_date") >= pl.col("since")))
            .select("row", pl.lit(1, pl.Int8).alias("first"), "read_at", "seen", "read_date", "value_c",
                    "is_estimate"))
    earliest = seen.group_by("row").agg(earliest=pl.col("read_date").min())
    initial = (t.filter(pl.col("initial_date").is_not_null()).join(earliest, on="row", how="left")
               .filter(pl.col("earliest").is_null() | (pl.col("earliest") > pl.col("initial_date")))
               .select("row", pl.lit(0, pl.Int8).alias("first"), pl.col("read_at").alias("read_at"),
                       pl.lit(-1, pl.Int64).alias("seen"), pl.col("initial_date").alias("read_date"),
                       pl.col("initial_c").alias("value_c"), pl.lit(False).alias("is_estimate")))
    ordered = (pl.concat([initial, seen]).sort("row", "first", "read_at", "seen")
               .with_columns(start_date=pl.col("read_date").shift(1).over("row"),
                             start_c=pl.col("value_c").shift(1).over("row")))
    previous = ordered.group_by("row").agg(prev_date=pl.col("read_date").last(), prev_value_c=pl.col("value_c").last(),
                                           whole=pl.col("value_c").is_not_null().all())
    advance = pl.col("value_c") - pl.col("start_c")
    cycles = (ordered.filter(pl.col("read_date") > pl.col("start_date"))
              .join(t.select("row", "dial_c"), on="row")
              .with_columns(kwh_c=pl.when(advance < 0).then(advance + pl.col("dial_c")).otherwise(advance))
              .with_columns(seq=pl.int_range(pl.len(), dtype=pl.UInt32).over("row"))
              .select(pl.col("row").cast(pl.UInt32), "seq", "start_date", pl.col("read_date").alias("end_date"),
                      "kwh_c", "is_estimate"))
    checks = (t.join(previous, on="row", how="left").sort("row")
              .select("read_date", "value_c", "prev_date", "prev_value_c", "has_account", "route_day",
                      representable=pl.col("value_c").is_not_null() & pl.col("whole").fill_null(True)))
    return checks.cast(CHECK_SCHEMA), cycles.cast(CYCLE_SCHEMA)


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


def _expectation_inputs(checks: pl.DataFrame, cycles: pl.DataFrame, *, rules: Thresholds) -> pl.DataFrame:
    """``checks`` with what `validation.expected_consumption` reads from each row's history over [prev_date,
    read_date): the number of actual cycles, the recent ones' sums, the same month last year, the year before."""
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
    return (frame.join(expect, on="row", how="left").join(last_year, on="row", how="left")
            .join(before, on="row", how="left").sort("row"))


def _expected(days: pl.Expr, *, rules: Thresholds) -> tuple[pl.Expr, pl.Expr]:
    """The expected consumption (0.01) over ``days`` as the exact fraction a / d, over `_expectation_inputs`: the
    recent average, or the same month last year scaled by the capped trend; the reference's rounded figure lies
    within ±1 of it."""
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
    return a, d


def expected_bounds(checks: pl.DataFrame, cycles: pl.DataFrame, *, rules: Thresholds) -> pl.DataFrame:
    """For each row of ``checks`` (as for `clear_rows`), ``lo_c`` and ``hi_c`` (0.01): bounds of the
    ``expected_consumption(...).kwh`` over [prev_date, read_date) of its history (0 when there is none, as the swap
    rule takes it), or null when the row has no previous reading or is not representable."""
    if checks.height == 0 or rules.typical_cycles < 1:
        return checks.select(lo_c=pl.lit(None, pl.Int64), hi_c=pl.lit(None, pl.Int64))
    frame = _expectation_inputs(checks, cycles, rules=rules)
    days = pl.max_horizontal((pl.col("read_date") - pl.col("prev_date")).dt.total_days(), pl.lit(1)).cast(pl.Int128)
    a, d = _expected(days, rules=rules)
    none = pl.col("cycles").fill_null(0) == 0
    whole = (a // d).cast(pl.Int64)
    known = pl.col("representable") & pl.col("prev_date").is_not_null() & (none | (d > 0))
    return frame.select(lo_c=pl.when(known & none).then(0).when(known).then(whole - 1),
                        hi_c=pl.when(known & none).then(0).when(known).then(whole + 2))


def clear_rows(checks: pl.DataFrame, cycles: pl.DataFrame, *, rules: Thresholds) -> pl.Series:
    """For each row of ``checks`` (columns of `CHECK_SCHEMA`), True when `validate_reading` certainly finds
    nothing; ``cycles`` (`CYCLE_SCHEMA`) holds each row's history, ``row`` its index in ``checks``, ``seq`` its
    place (oldest first)."""
    n = checks.height
    if n == 0:
        return pl.Series("clear", [], dtype=pl.Boolean)
    if rules.typical_cycles < 1:
        return pl.Series("clear", [False] * n, dtype=pl.Boolean)
    frame = _expectation_inputs(checks, cycles, rules=rules)

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
    a, d = _expected(days, rules=rules)
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


__all__ = ["CHECK_SCHEMA", "CYCLE_SCHEMA", "PRIOR_SCHEMA", "TARGET_SCHEMA", "centi", "checks_from_readings", "clear_rows",
           "expected_bounds", "frames_of", "validate_checks", "validate_frame"]
