"""From readings to usage, vectorised: which accounts have a plain period, and their kWh per register."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from gridcounter.application.billrun._frames import RouteFrames
from gridcounter.domain.billing.cycle import pick_reading_frame
from gridcounter.domain.billing.periods import (
    BillingPeriod,
)
from gridcounter.domain.tariffs import Catalogue
from gridcounter.domain.units import E4, C, half_up

ENERGY_REGISTERS = ("TOTAL", "PEAK", "FLAT", "VALLEY")


KNOWN_REGISTERS = (*ENERGY_REGISTERS, "REACTIVE")


def _pick(readings: pl.DataFrame, *, fixed: date, which: str) -> pl.DataFrame:
    """The reading for a fixed day per (account, meter, register) (`cycle.pick_reading_frame`), its columns named
    `<which>_…`."""
    c = pl.col
    return pick_reading_frame(readings, fixed_date=fixed, keys=["account_id", "meter_id", "register"]).select(
        "account_id", "meter_id", "register",
        *[c(name).alias(f"{which}_{name}") for name in
          ("reading_id", "read_date", "value_c", "source", "is_estimate", "status")])


def plain_usage(frames: RouteFrames, *, billing: BillingPeriod, catalogue: Catalogue) -> tuple[pl.DataFrame, dict]:
    """Usage per account whose period is plain (see the module docstring), and why the others are not.

    Returns (usage rows: account, registers in e4 kWh, meter facts, the readings used; {account_id: reason}).
    """
    c = pl.col
    accounts = frames.accounts
    reasons: dict[int, str] = {}
    inst = frames.installations.with_columns(
        c("registers").fill_null('["TOTAL"]').str.json_decode(pl.List(pl.String)))
    inst = inst.with_columns(  # an empty register list means a plain TOTAL register (as gather_inputs reads it)
        pl.when(c("registers").list.len() == 0).then(pl.lit(["TOTAL"])).otherwise(c("registers")).alias("registers"))
    count = inst.group_by("account_id").agg(pl.len().alias("_n"))
    for account_id in accounts.join(count, on="account_id", how="left").filter(
            c("_n").fill_null(0) != 1)["account_id"].to_list():
        reasons[account_id] = "METER_EXCHANGE_OR_NO_METER"
    whole = inst.filter((c("installed_date") <= billing.start_date)
                        & (c("removed_date").is_null() | (c("removed_date") > billing.end_date)))
    for account_id in set(inst["account_id"].to_list()) - set(whole["account_id"].to_list()):
        reasons.setdefault(account_id, "INSTALLED_OR_REMOVED_IN_PERIOD")
    unknown_registers = whole.filter(~c("registers").list.eval(pl.element().is_in(list(KNOWN_REGISTERS))).list.all()
                       | (c("registers").list.len() == 0))
    for account_id in unknown_registers["account_id"].to_list():
        reasons.setdefault(account_id, "REGISTERS")
    for account_id in frames.changed:
        reasons.setdefault(account_id, "TARIFF_OR_CATEGORY_CHANGE")
    unknown = accounts.filter(~c("tariff_id").is_in(list(catalogue.tariffs)))
    for account_id in unknown["account_id"].to_list():
        reasons.setdefault(account_id, "UNKNOWN_TARIFF")

    regs = whole.explode("registers").rename({"registers": "register"}).with_columns(
        _reg_pos=pl.int_range(pl.len()).over("account_id"))
    prev = _pick(frames.readings, fixed=billing.start_date, which="prev")
    curr = _pick(frames.readings, fixed=billing.end_date, which="curr")
    spans = regs.join(prev, on=["account_id", "meter_id", "register"], how="left").join(
        curr, on=["account_id", "meter_id", "register"], how="left")
    checks = {
        "MISSED": c("prev_reading_id").is_null() | c("curr_reading_id").is_null(),
        "READING_HELD": (c("prev_status") != "ACCEPTED") | (c("curr_status") != "ACCEPTED"),
        "ESTIMATED": c("prev_is_estimate") | c("curr_is_estimate"),
        "ROLLOVER": c("curr_value_c") < c("prev_value_c"),
    }
    for code, condition in checks.items():
        for account_id in spans.filter(condition.fill_null(False))["account_id"].unique().to_list():
            reasons.setdefault(account_id, code)
    spans = spans.filter(~c("account_id").is_in(list(reasons))).with_columns(
        use_e4=(c("curr_value_c") - c("prev_value_c")) * c("multiplier_c"))
    return spans, reasons


def _centi_half_up(e4: pl.Expr) -> pl.Expr:
    return half_up(e4, E4 // C)  # 10⁻⁴ to 0.01 kWh


def usage_rows(spans: pl.DataFrame, accounts: pl.DataFrame, ytd: pl.DataFrame, *, billing: BillingPeriod,
               catalogue: Catalogue) -> pl.DataFrame:
    """The kernel's input, one row per plain account: as `draft_bill` builds its RatingInput."""
    c = pl.col
    wide = spans.group_by("account_id").agg(
        *[c("use_e4").filter(c("register") == r).sum().alias(f"{r}_e4") for r in KNOWN_REGISTERS],
        *[(c("register") == r).any().alias(f"has_{r}") for r in KNOWN_REGISTERS],
    )
    timed_tariffs = [t for t, tariff in catalogue.tariffs.items() if tariff.versions[-1].prices.tou]
    frame = accounts.join(wide, on="account_id", how="inner").join(ytd, on="account_id", how="left")
    timed = c("tariff_id").is_in(timed_tariffs) & (c("has_PEAK") | c("has_FLAT") | c("has_VALLEY"))
    total_e4 = pl.when(c("has_TOTAL")).then(c("TOTAL_e4")).otherwise(c("PEAK_e4") + c("FLAT_e4") + c("VALLEY_e4"))
    none = pl.lit(None, dtype=pl.Int64)
    return frame.select(
        "account_id", pl.lit(billing.period).alias("period"), "tariff_id",
        pl.lit(billing.start_date).alias("start_date"), pl.lit(billing.end_date).alias("end_date"),
        pl.when(timed).then(none).otherwise(_centi_half_up(total_e4)).alias("kwh_c"),
        *[pl.when(timed).then(_centi_half_up(c(f"{r}_e4"))).otherwise(none).alias(f"{r.lower()}_c")
          for r in ("PEAK", "FLAT", "VALLEY")],
        c("ytd_c").fill_null(0).alias("ytd_c"), "household_size",
        (c("capacity_c") * 100).alias("capacity_kva_e4"),
        pl.when(c("has_REACTIVE")).then(c("REACTIVE_e4")).otherwise(none).alias("kvarh_e4"),
        total_e4.alias("total_e4"),
    )


def with_interval_usage(usage: pl.DataFrame, rows: dict[int, Mapping]) -> pl.DataFrame:
    """`usage_rows` with the binned interval kWh of `rows` (the accounts' `interval_usage` rows) in place of the
    registers': each time-of-use period's 0.01 kWh for a time-of-use tariff, `kwh_c` otherwise, as
    `interval_cycle_usage` bills them; the bill's kWh (`total_e4`) is their sum."""
    c = pl.col
    columns = ["kwh_c", "critical_peak_c", "peak_c", "flat_c", "valley_c"]
    if "critical_peak_c" not in usage.columns:
        usage = usage.with_columns(pl.lit(None, dtype=pl.Int64).alias("critical_peak_c"))
    if not rows:
        return usage
    frame = pl.DataFrame([{"account_id": a, **{n: row[n] for n in columns}} for a, row in rows.items()],
                         schema={"account_id": pl.Int64(), **dict.fromkeys(columns, pl.Int64())})
    frame = frame.with_columns(total_e4=pl.sum_horizontal([c(n).fill_null(0) for n in columns]) * 100)
    ids = list(rows)
    replaced = usage.filter(c("account_id").is_in(ids)).drop(*columns, "total_e4").join(frame, on="account_id")
    return pl.concat([usage.filter(~c("account_id").is_in(ids)), replaced.select(usage.columns)])
