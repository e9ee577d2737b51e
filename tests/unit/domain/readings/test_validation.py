"""The reading rules on plain data: each fires on its case and stays quiet on a clean one."""
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gridcounter.domain.readings.codes import Code
from gridcounter.domain.readings.estimation import (
    NoHistoryForEstimate,
    catch_up,
    consecutive_estimates,
    estimate_reading,
)
from gridcounter.domain.readings.swap import SwapCandidate, detect_swaps
from gridcounter.domain.readings.validation import (
    CycleReading,
    PriorReading,
    ReadingCheck,
    RulesError,
    Thresholds,
    check_estimate_streak,
    cycles_from_readings,
    validate_cycle,
    validate_reading,
)

RULES_FILE = Path(__file__).resolve().parents[4] / "rules" / "validation.toml"
RULES = Thresholds.from_mapping(tomllib.loads(RULES_FILE.read_text()))
D = Decimal


def monthly(start_value, uses, *, start=date(2025, 1, 15), estimates=()):
    """Readings on the 15th of each month from ``start``, advancing by ``uses``."""
    readings = [PriorReading(start, D(start_value))]
    value, year, month = D(start_value), start.year, start.month
    for i, use in enumerate(uses):
        month += 1
        if month == 13:
            year, month = year + 1, 1
        value += D(use)
        readings.append(PriorReading(date(year, month, 15), value, is_estimate=i in estimates))
    return readings


def check_after(readings, value, *, read_date=None, digits=5, route_day=15, active=True, has_account=True):
    prev = readings[-1]
    read_date = read_date or date(prev.read_date.year + (prev.read_date.month == 12),
                                  prev.read_date.month % 12 + 1, 15)
    return ReadingCheck(read_date=read_date, value=D(value), digits=digits, previous=prev,
                        history=cycles_from_readings(readings, digits=digits), route_day=route_day,
                        account_active=active, has_account=has_account, meter="M1")


def codes(check):
    return [f.code for f in validate_reading(check, rules=RULES)]


def test_the_shipped_rules_file_has_every_threshold():
    assert RULES.spike_factor == D(8)
    assert RULES.high_factor == D("2.5")
    assert RULES.max_consecutive_estimates == 2
    assert "DECREASE" in RULES.blocking and "ROLLOVER" not in RULES.blocking


def test_a_missing_threshold_is_named():
    data = tomllib.loads(RULES_FILE.read_text())
    del data["spike"]["factor"]
    with pytest.raises(RulesError, match=r"\[spike\] factor"):
        Thresholds.from_mapping(data)


def test_clean_reading_has_no_findings():
    history = monthly(10000, [200, 210, 190, 205, 195])
    assert codes(check_after(history, history[-1].value + 200)) == []


def test_decrease_is_refused_when_no_rollover_is_plausible():
    history = monthly(10000, [200, 210, 190, 205])
    found = validate_reading(check_after(history, history[-1].value - 50), rules=RULES)
    assert [f.code for f in found] == ["DECREASE"]
    assert "lower than the previous reading" in found[0].reason_en
    assert "低于上次示数" in found[0].reason_zh


def test_rollover_of_the_dial_is_accepted_and_noted():
    history = monthly(99300, [200, 210, 190])  # 99900 after three cycles, on a 5-digit dial
    found = validate_reading(check_after(history, 95), rules=RULES)
    assert [f.code for f in found] == ["ROLLOVER"]
    assert found[0].numbers["kwh"] == "195"
    assert not RULES.is_blocking(found[0].code)


def test_spike_from_a_shifted_decimal():
    history = monthly(10000, [200, 210, 190, 205])
    assert codes(check_after(history, history[-1].value + 2000)) == ["SPIKE"]


def test_high_and_low_against_own_history():
    history = monthly(10000, [200, 210, 190, 205])
    assert codes(check_after(history, history[-1].value + 600)) == ["HIGH"]
    assert codes(check_after(history, history[-1].value + 40)) == ["LOW"]


def test_no_band_without_three_cycles_of_history():
    history = monthly(10000, [200, 210])
    assert codes(check_after(history, history[-1].value + 600)) == []


def test_summer_peak_in_line_with_last_year_is_not_high():
    # Jan 2025 .. Jul 2026: flat 150 a month except Aug 2025 at 600 (air conditioning)
    uses = [150] * 6 + [600] + [150] * 11
    history = monthly(10000, uses, start=date(2025, 1, 15))
    assert history[-1].read_date == date(2026, 7, 15)
    assert codes(check_after(history, history[-1].value + 580)) == []  # August 2026 like August 2025
    no_last_year = monthly(10000, [150] * 5)
    assert codes(check_after(no_last_year, no_last_year[-1].value + 580)) == ["HIGH"]


def test_zero_streak_needs_three_zero_cycles_on_an_active_account():
    history = monthly(10000, [200, 210, 0, 0])
    assert "ZERO_STREAK" in codes(check_after(history, history[-1].value))
    assert "ZERO_STREAK" not in codes(check_after(history, history[-1].value, active=False))
    assert "ZERO_STREAK" not in codes(check_after(monthly(10000, [200, 210, 190, 0]), history[-1].value))


def test_off_schedule_beyond_two_days():
    history = monthly(10000, [200, 210, 190])
    assert codes(check_after(history, history[-1].value + 200, read_date=date(2025, 5, 17))) == []
    found = validate_reading(check_after(history, history[-1].value + 200, read_date=date(2025, 5, 19)), rules=RULES)
    assert [f.code for f in found] == ["OFF_SCHEDULE"]
    assert found[0].numbers["days_off"] == 4


def test_inactive_meter():
    assert codes(check_after(monthly(10000, [200]), 10400, has_account=False)) == ["INACTIVE_METER"]


def test_estimate_streak_limit():
    assert check_estimate_streak(consecutive_estimates=1, rules=RULES) is None
    found = check_estimate_streak(consecutive_estimates=2, rules=RULES)
    assert found.code == Code.ESTIMATE_STREAK and found.numbers == {"estimates": 2, "limit": 2}


def test_estimate_uses_recent_average_and_marks_basis():
    history = monthly(10000, [200, 210, 190])
    estimate = estimate_reading(previous=history[-1], read_date=date(2025, 5, 15),
                                history=cycles_from_readings(history, digits=5), digits=5, rules=RULES)
    assert estimate.basis == "RECENT_AVERAGE"
    assert estimate.kwh == D(200)  # 600 kWh over 90 days, for 30 days (Apr 15 - May 15), whole kWh
    assert estimate.value == history[-1].value + D(200)


def test_estimate_without_history_is_refused():
    with pytest.raises(NoHistoryForEstimate):
        estimate_reading(previous=PriorReading(date(2025, 1, 15), D(100)), read_date=date(2025, 2, 15),
                         history=[], digits=5, rules=RULES)


def test_catch_up_after_two_estimates():
    readings = monthly(10000, [200, 200, 200], estimates=(1, 2))  # 10200 actual, 10400 and 10600 estimates
    readings.append(PriorReading(date(2025, 5, 15), D(10900)))
    assert consecutive_estimates(readings[:-1]) == 2
    settled = catch_up(readings=readings, digits=5)
    assert settled.estimated_cycles == 2
    assert settled.estimated_kwh == D(400)
    assert settled.actual_kwh == D(700)
    assert settled.settled_kwh == D(300)


def test_swapped_meters_are_found_and_neighbours_that_fit_are_not():
    a = SwapCandidate(account_id=1, account_number="A", prev=D(12000), curr=D(35210), expected_kwh=D(200))
    b = SwapCandidate(account_id=2, account_number="B", prev=D(35000), curr=D(12190), expected_kwh=D(200))
    c = SwapCandidate(account_id=3, account_number="C", prev=D(50000), curr=D(50200), expected_kwh=D(200))
    pairs = detect_swaps([a, b, c], rules=RULES)
    assert [(p.a.account_number, p.b.account_number) for p in pairs] == [("A", "B")]
    assert pairs[0].finding_a.numbers["other_account"] == "B"
    clean = SwapCandidate(account_id=2, account_number="B", prev=D(35000), curr=D(35190), expected_kwh=D(200))
    normal_a = SwapCandidate(account_id=1, account_number="A", prev=D(12000), curr=D(12210), expected_kwh=D(200))
    assert detect_swaps([normal_a, clean, c], rules=RULES) == []


def test_validate_cycle_gives_kwh_times_multiplier_and_missed_registers():
    history = monthly(10000, [200, 210, 190, 205])
    prev = CycleReading(read_date=history[-1].read_date, value=history[-1].value)
    curr = CycleReading(read_date=date(2025, 6, 15), value=history[-1].value + D("200.5"))
    result = validate_cycle(
        account_id=7, registers=["PEAK", "VALLEY"], previous={"PEAK": prev}, current={"PEAK": curr},
        history={"PEAK": cycles_from_readings(history, digits=5)}, digits=5, multiplier=D(40),
        fixed_date=date(2025, 6, 15), route_day=15, account_active=True, rules=RULES)
    assert result.registers["PEAK"].kwh == D("8020.00")
    assert result.codes == ["MISSED"]
    assert result.blocking


def test_on_a_multiplier_meter_the_texts_state_kwh_after_the_multiplier_in_each_language():
    # a ×21,000 current-transformer meter: the dial advances about 20 a month, i.e. some 420,000 kWh
    history = monthly(100, [Decimal("20.00"), Decimal("21.00"), Decimal("20.00"), Decimal("21.00")])
    check = ReadingCheck(**{**check_after(history, history[-1].value + Decimal("300.50")).__dict__,
                            "multiplier": D(21000)})

    (spike,) = validate_reading(check, rules=RULES)

    assert spike.code == "SPIKE"
    en, zh = spike.reason("en"), spike.reason("zh-hans")
    assert "6310500 kWh" in en and "300.5 kWh" not in en
    assert "6310500 千瓦时" in zh and "kWh" not in zh
    assert spike.numbers["ratio"] == validate_reading(check_after(history, history[-1].value + Decimal("300.50")),
                                                      rules=RULES)[0].numbers["ratio"]  # the rule itself is unchanged
