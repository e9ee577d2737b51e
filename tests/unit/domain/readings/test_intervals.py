"""15-minute interval data: each validation rule, gap filling, time-of-use binning, and rating to the fen."""
import json
import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from gridcounter.application.tariffs import read_catalogue
from gridcounter.domain.readings.intervals import (
    IntervalRules,
    IntervalRulesError,
    interval_usage_frame,
    slot_count,
)
from gridcounter.domain.tariffs.rating_frame import rate_frame
from gridcounter.interfaces.cli.quote import main as quote_main

REPO = Path(__file__).resolve().parents[4]
CATALOGUE = read_catalogue([REPO / "tariffs"])
RULES = IntervalRules.from_mapping(tomllib.loads((REPO / "rules" / "validation.toml").read_text(encoding="utf-8")))
SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCOUNT = 7


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def flat_profile(start: date, end: date, *, kwh_e4: int = 2500, account_id: int = ACCOUNT) -> pl.DataFrame:
    """Every 15-minute interval of [start, end) (local dates) at the same energy, start_at in UTC."""
    n = slot_count(start_date=start, end_date=end)
    origin = local_midnight(start).astimezone(UTC)
    return pl.DataFrame({
        "account_id": [account_id] * n,
        "start_at": pl.datetime_range(origin, origin + timedelta(minutes=15 * (n - 1)), "15m", eager=True,
                                      time_zone="UTC"),
        "kwh_e4": [kwh_e4] * n,
    })


def set_interval(frame: pl.DataFrame, moment: datetime, kwh_e4: int) -> pl.DataFrame:
    at = moment.astimezone(UTC)
    return frame.with_columns(
        kwh_e4=pl.when(pl.col("start_at") == at).then(pl.lit(kwh_e4)).otherwise(pl.col("kwh_e4")))


def drop_intervals(frame: pl.DataFrame, first: datetime, count: int) -> pl.DataFrame:
    low = first.astimezone(UTC)
    high = low + timedelta(minutes=15 * count)
    return frame.filter((pl.col("start_at") < low) | (pl.col("start_at") >= high))


def usage_of(intervals, *, start: date, end: date, tariff: str = "SC-GC-TOU", register: tuple | None = None,
             multiplier_c: int = 100, rules: IntervalRules = RULES, period: str = "P"):
    """The one account's usage row and its findings by code."""
    start_c, end_c = register if register is not None else (None, None)
    accounts = pl.DataFrame({"account_id": [ACCOUNT], "tariff_id": [tariff], "register_start_c": [start_c],
                             "register_end_c": [end_c], "multiplier_c": [multiplier_c]},
                            schema_overrides={"register_start_c": pl.Int64, "register_end_c": pl.Int64})
    result = interval_usage_frame(intervals, accounts, period=period, start_date=start, end_date=end,
                                  catalogue=CATALOGUE, rules=rules)
    row = result.usage.row(0, named=True)
    return row, {f.code: f for f in result.findings_for(ACCOUNT)}


def matching_register(start: date, end: date, kwh_e4_total: int) -> tuple[int, int]:
    return 100_000, 100_000 + kwh_e4_total // 100


# -- binning ------------------------------------------------------------------------------------------------


def test_a_whole_october_on_sichuan_tou_splits_8_8_8_hours_and_nothing_is_held():
    start, end = date(2026, 10, 15), date(2026, 11, 15)  # 31 days, no critical-peak month
    intervals = flat_profile(start, end)  # 0.25 kWh every 15 minutes = 1 kWh an hour
    row, findings = usage_of(intervals, start=start, end=end, register=matching_register(start, end, 744 * 10**4))
    assert (row["peak_c"], row["flat_c"], row["valley_c"]) == (8 * 31 * 100,) * 3
    assert row["critical_peak_c"] == 0 and row["kwh_c"] is None
    assert row["expected_intervals"] == row["actual_intervals"] == 31 * 96
    assert findings == {} and row["held"] is False


def test_critical_peak_counts_only_on_july_days_of_a_period_from_june_into_july():
    start, end = date(2026, 6, 15), date(2026, 7, 15)  # 16 June days, 14 July days
    row, _ = usage_of(flat_profile(start, end), start=start, end=end)
    # July: 15–17 is critical peak (2 h a day), taken out of the 15–21 peak
    assert row["critical_peak_c"] == 2 * 14 * 100
    assert row["peak_c"] == (8 * 16 + 6 * 14) * 100
    assert row["flat_c"] == row["valley_c"] == 8 * 30 * 100


def test_december_critical_peak_is_19_to_21():
    start, end = date(2026, 12, 1), date(2026, 12, 2)
    intervals = flat_profile(start, end, kwh_e4=0)
    intervals = set_interval(intervals, datetime(2026, 12, 1, 19, 30, tzinfo=SHANGHAI), 5000)
    intervals = set_interval(intervals, datetime(2026, 12, 1, 15, 30, tzinfo=SHANGHAI), 3000)
    row, _ = usage_of(intervals, start=start, end=end)
    assert row["critical_peak_c"] == 50 and row["peak_c"] == 30


def test_the_last_interval_before_midnight_is_valley_and_midnight_of_the_end_date_is_outside():
    start, end = date(2026, 10, 15), date(2026, 10, 17)
    intervals = flat_profile(start, end, kwh_e4=0)
    intervals = set_interval(intervals, datetime(2026, 10, 16, 23, 45, tzinfo=SHANGHAI), 10_000)  # 15:45Z
    intervals = set_interval(intervals, datetime(2026, 10, 16, 6, 45, tzinfo=SHANGHAI), 20_000)  # still valley
    intervals = set_interval(intervals, datetime(2026, 10, 16, 7, 0, tzinfo=SHANGHAI), 40_000)  # flat from 7:00
    outside = pl.DataFrame({"account_id": [ACCOUNT], "start_at": [local_midnight(end).astimezone(UTC)],
                            "kwh_e4": [990_000]})
    row, findings = usage_of(pl.concat([intervals, outside]), start=start, end=end)
    assert row["valley_c"] == 300 and row["flat_c"] == 400 and row["peak_c"] == 0
    assert "GAP" not in findings


def test_naive_local_and_aware_utc_timestamps_give_the_same_bill_quantities():
    start, end = date(2026, 7, 1), date(2026, 7, 3)
    utc = flat_profile(start, end).with_columns(kwh_e4=pl.int_range(pl.len()) * 7 % 5000)
    naive = utc.with_columns(pl.col("start_at").dt.convert_time_zone("Asia/Shanghai").dt.replace_time_zone(None))
    a, _ = usage_of(utc, start=start, end=end)
    b, _ = usage_of(naive, start=start, end=end)
    assert a == b and a["critical_peak_c"] > 0


def test_daylight_saving_elsewhere_is_irrelevant_in_shanghai():
    # 2026-03-08 (New York) and 2026-03-29 (Europe) change clocks; Shanghai does not: 96 intervals every day
    start, end = date(2026, 3, 1), date(2026, 4, 1)
    assert slot_count(start_date=start, end_date=end) == 31 * 96
    utc = flat_profile(start, end)
    new_york = utc.with_columns(pl.col("start_at").dt.convert_time_zone("America/New_York"))
    a, fa = usage_of(utc, start=start, end=end)
    b, fb = usage_of(new_york, start=start, end=end)
    assert a == b and fa == fb and not a["held"]
    assert (a["peak_c"], a["flat_c"], a["valley_c"]) == (8 * 31 * 100,) * 3


def test_untimed_tariff_gets_the_total_only():
    start, end = date(2026, 10, 15), date(2026, 11, 15)
    row, _ = usage_of(flat_profile(start, end), start=start, end=end, tariff="BJ-RES-LT1KV")
    assert row["kwh_c"] == 744 * 100 and row["peak_c"] is None and row["valley_c"] is None


def test_a_tariff_without_clock_hours_holds_the_account():
    start, end = date(2026, 10, 15), date(2026, 11, 15)
    row, findings = usage_of(flat_profile(start, end), start=start, end=end, tariff="ZJ-RES-TOU")
    assert row["held"] and "NO_TOU_HOURS" in findings
    assert "ZJ-RES-TOU" in findings["NO_TOU_HOURS"].reason_en and "峰平谷" in findings["NO_TOU_HOURS"].reason_zh


# -- gaps ---------------------------------------------------------------------------------------------------


def test_four_missing_intervals_are_interpolated_and_marked_estimated():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    intervals = flat_profile(start, end).with_columns(kwh_e4=pl.lit(10_000))
    intervals = set_interval(intervals, datetime(2026, 10, 15, 3, 0, tzinfo=SHANGHAI), 20_000)  # after the gap
    gapped = drop_intervals(intervals, datetime(2026, 10, 15, 2, 0, tzinfo=SHANGHAI), 4)  # 2:00–2:45 missing
    row, findings = usage_of(gapped, start=start, end=end)
    # 1.0 → (1.2, 1.4, 1.6, 1.8) → 2.0: 6 kWh estimated, all valley
    assert row["estimated_intervals"] == 4 and row["missing_intervals"] == 0 and not row["held"]
    assert findings["ESTIMATED"].numbers == {"count": 4, "kwh": "6"}
    assert "线性插值" in findings["ESTIMATED"].reason_zh and "千瓦时" in findings["ESTIMATED"].reason_zh
    assert row["valley_c"] == 3500  # 27 measured intervals of 1 kWh, 3:00 at 2 kWh, and the 6 kWh filled


def test_five_missing_intervals_are_not_filled_and_hold_the_bill():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    gapped = drop_intervals(flat_profile(start, end), datetime(2026, 10, 15, 12, 0, tzinfo=SHANGHAI), 5)
    row, findings = usage_of(gapped, start=start, end=end)
    assert row["held"] and row["missing_intervals"] == 5 and row["estimated_intervals"] == 0
    assert findings["GAP"].numbers["longest"] == 5 and findings["GAP"].severity == "ERROR"
    assert "is held" in findings["GAP"].reason_en


def test_a_missing_first_interval_cannot_be_interpolated():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    gapped = drop_intervals(flat_profile(start, end), local_midnight(start), 1)
    row, findings = usage_of(gapped, start=start, end=end)
    assert row["held"] and findings["GAP"].numbers["missing"] == 1


def test_an_account_with_no_intervals_at_all_is_held_with_every_interval_missing():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    row, findings = usage_of(flat_profile(start, end, account_id=99), start=start, end=end)
    assert row["held"] and row["missing_intervals"] == 96 and row["peak_c"] == 0


def test_a_larger_fill_limit_from_the_rules_fills_longer_gaps():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    gapped = drop_intervals(flat_profile(start, end), datetime(2026, 10, 15, 12, 0, tzinfo=SHANGHAI), 5)
    wider = IntervalRules(**{**RULES.__dict__, "max_fill_intervals": 8})
    row, _ = usage_of(gapped, start=start, end=end, rules=wider)
    assert not row["held"] and row["estimated_intervals"] == 5 and row["flat_c"] == 800


# -- values -------------------------------------------------------------------------------------------------


def test_a_negative_interval_holds_the_bill_and_names_the_time():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    intervals = set_interval(flat_profile(start, end), datetime(2026, 10, 15, 8, 15, tzinfo=SHANGHAI), -1000)
    row, findings = usage_of(intervals, start=start, end=end)
    assert row["held"]
    assert findings["NEGATIVE"].reason_en == (
        "1 intervals hold negative energy (lowest -0.1 kWh, first at 2026-10-15 08:15): the data is wrong.")


def test_a_spike_far_above_the_typical_interval_holds_the_bill():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    intervals = set_interval(flat_profile(start, end), datetime(2026, 10, 15, 18, 0, tzinfo=SHANGHAI), 300_000)
    row, findings = usage_of(intervals, start=start, end=end)
    assert row["held"]
    spike = findings["SPIKE"]
    assert spike.numbers["max_kwh"] == "30" and spike.numbers["typical_kwh"] == "0.25"
    assert spike.numbers["max_at"] == "2026-10-15 18:00" and "10 倍" in spike.reason_zh


def test_a_high_interval_below_the_kwh_floor_is_not_a_spike():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    intervals = set_interval(flat_profile(start, end, kwh_e4=100), datetime(2026, 10, 15, 18, 0, tzinfo=SHANGHAI),
                             9000)  # 90× typical, but 0.9 kWh < 1 kWh
    row, findings = usage_of(intervals, start=start, end=end)
    assert "SPIKE" not in findings and not row["held"]


def test_a_repeated_interval_with_the_same_value_counts_once_and_a_different_value_holds():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    intervals = flat_profile(start, end)
    again = intervals.head(1)
    same, _ = usage_of(pl.concat([intervals, again]), start=start, end=end)
    assert same["valley_c"] == 800 and not same["held"]
    row, findings = usage_of(pl.concat([intervals, again.with_columns(kwh_e4=pl.lit(2600, pl.Int64))]), start=start, end=end)
    assert row["held"] and findings["DUPLICATE"].numbers["first_at"] == "2026-10-15 00:00"


# -- the register -------------------------------------------------------------------------------------------


def test_intervals_matching_the_register_times_the_multiplier_pass():
    start, end = date(2026, 10, 15), date(2026, 10, 16)  # 24 kWh of intervals
    row, findings = usage_of(flat_profile(start, end), start=start, end=end, register=(50_000, 50_060),
                             multiplier_c=4000)  # 0.60 on the dial × 40 = 24 kWh
    assert row["register_kwh_e4"] == 240_000 and findings == {}


def test_intervals_off_the_register_by_more_than_the_tolerance_hold_the_bill():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    row, findings = usage_of(flat_profile(start, end), start=start, end=end, register=(50_000, 52_500))  # 25 kWh
    assert row["held"]
    assert findings["SUM_MISMATCH"].numbers == {"interval_kwh": "24", "register_kwh": "25", "diff_kwh": "1",
                                                "tolerance_kwh": "0.5"}
    assert "超出允许 0.5 千瓦时" in findings["SUM_MISMATCH"].reason_zh and "kWh" not in findings["SUM_MISMATCH"].reason_zh


def test_a_difference_within_one_percent_passes():
    start, end = date(2026, 10, 15), date(2026, 11, 15)  # 744 kWh; 1 % = 7.44 kWh
    row, findings = usage_of(flat_profile(start, end), start=start, end=end, register=(0, 75_000))  # 750 kWh
    assert "SUM_MISMATCH" not in findings and not row["held"]


def test_without_register_readings_the_sum_is_noted_as_unchecked_but_not_held():
    start, end = date(2026, 10, 15), date(2026, 10, 16)
    row, findings = usage_of(flat_profile(start, end), start=start, end=end)
    assert not row["held"] and findings["REGISTER_MISSING"].severity == "WARNING"


# -- rules --------------------------------------------------------------------------------------------------


def test_the_rules_file_names_every_threshold():
    assert RULES.max_fill_intervals == 4 and RULES.spike_factor == D(10)
    assert "ESTIMATED" not in RULES.blocking and "GAP" in RULES.blocking


def test_a_rules_file_without_the_intervals_section_is_refused_by_name():
    with pytest.raises(IntervalRulesError, match=r"\[intervals\]"):
        IntervalRules.from_mapping({"spike": {}})
    with pytest.raises(IntervalRulesError, match="blocking"):
        IntervalRules.from_mapping({"intervals": {**_rules_section(), "blocking": ["NOPE"]}})


def _rules_section() -> dict:
    return tomllib.loads((REPO / "rules" / "validation.toml").read_text(encoding="utf-8"))["intervals"]


# -- rating -------------------------------------------------------------------------------------------------


def _quote_total(capsys, *args: str) -> str:
    assert quote_main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["total"]


@pytest.mark.parametrize(("tariff", "month", "start", "end"), [
    ("SC-GC-TOU", "2026-07", date(2026, 7, 1), date(2026, 8, 1)),
    ("SC-GC-TOU", "2026-12", date(2026, 12, 1), date(2027, 1, 1)),
    ("SH-RES-TOU", "2026-10", date(2026, 10, 1), date(2026, 11, 1)),
])
def test_binned_usage_rated_by_the_engine_equals_gridcounter_quote_to_the_fen(capsys, tariff, month, start, end):
    # an uneven profile: energy grows through the day, so each period gets a different total
    intervals = flat_profile(start, end).with_columns(kwh_e4=(pl.int_range(pl.len()) % 96) * 137 + 1234)
    row, _ = usage_of(intervals, start=start, end=end, tariff=tariff, period=month)
    lines, totals = rate_frame(pl.DataFrame([{**row, "ytd_c": 0}]), catalogue=CATALOGUE)
    args = ["--tariff", tariff, "--period", month]
    for name in ("critical_peak", "peak", "flat", "valley"):
        if row[f"{name}_c"]:
            args += [f"--{name.replace('_', '-')}", str(D(row[f"{name}_c"]) / 100)]
    expected = _quote_total(capsys, *args)
    assert D(totals["amount_fen"][0]) / 100 == D(expected)
    assert totals["error"][0] is None and lines.height >= 2


def test_the_physical_maximum_of_an_interval_comes_from_the_capacity_or_else_the_multiplier():
    from gridcounter.domain.readings.intervals import max_interval_kwh_e4

    assert max_interval_kwh_e4(capacity_kva=None, multiplier=D(1)) == 25 * 10**4  # 100 kW for 15 minutes
    assert max_interval_kwh_e4(capacity_kva=None, multiplier=D(40)) == 1000 * 10**4
    assert max_interval_kwh_e4(capacity_kva=D(630), multiplier=D(2000)) == 315 * 10**4  # 2 × 630 kVA
    assert max_interval_kwh_e4(capacity_kva=D("0.5"), multiplier=D(1)) == 2500
