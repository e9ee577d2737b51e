"""The rating engine against hand-calculated bills, to the fen (the arithmetic is in each test's comments)."""
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from gridcounter.domain.tariffs import (
    RatingError,
    RatingInput,
    TouPeriod,
    build_catalogue,
    month_units,
    price_table,
    rate,
    rate_segments,
    tier_thresholds,
)

TARIFF_DIR = Path(__file__).resolve().parents[4] / "tariffs"


def _catalogue(*extra: str):
    return build_catalogue(
        tariff_sources=[(str(p), p.read_text(encoding="utf-8")) for p in sorted(TARIFF_DIR.glob("*.toml"))],
        rule_sources=[(str(p), p.read_text(encoding="utf-8")) for p in sorted((TARIFF_DIR / "rules").glob("*.toml"))],
        extra_tariff_sources=[(f"test-{i}", text) for i, text in enumerate(extra)],
    )


CATALOGUE = _catalogue()
NOV = {"start_date": date(2024, 11, 1), "end_date": date(2024, 12, 1)}
OCT = {"start_date": date(2024, 10, 1), "end_date": date(2024, 11, 1)}


def amounts(quote):
    return [(line.tier, line.tou_period, line.quantity, line.unit_price, line.amount) for line in quote.lines]


def assert_lines_sum_to_total(quote):
    assert quote.total == sum(line.amount for line in quote.lines)


# -- residential tiers ---------------------------------------------------------------------------------


def test_beijing_annual_tier_crossed_mid_month():
    # ytd 2800, uses 200: 80 kWh up to 2880 at 0.4883 = 39.064 → 39.06; 120 kWh at 0.5383 = 64.596 → 64.60
    quote = rate(CATALOGUE.get("BJ-RES-LT1KV"), RatingInput(**NOV, kwh=D(200), ytd_kwh=D(2800)))

    assert amounts(quote) == [(1, None, D("80.00"), D("0.4883"), D("39.06")),
                              (2, None, D("120.00"), D("0.5383"), D("64.60"))]
    assert quote.total == D("103.66")
    tiers = quote.facts["tiers"]
    assert tiers["usage_before"] == D("2800") and tiers["usage_after"] == D("3000")
    assert tiers["tier_reached"] == 2 and tiers["kwh_to_next_threshold"] == D("1800")


def test_beijing_1kv_prices_and_shared_meter_flat_price():
    # 1 kV and above, ytd 0, 300 kWh all tier 1: 300 × 0.4783 = 143.49
    assert rate(CATALOGUE.get("BJ-RES-1KV"), RatingInput(**NOV, kwh=D(300))).total == D("143.49")
    # shared meter: no tiers, 5000 kWh × 0.5103 = 2551.50, even past what would be tier 3
    quote = rate(CATALOGUE.get("BJ-RES-SHARED"), RatingInput(**NOV, kwh=D(5000), ytd_kwh=D(9000)))
    assert amounts(quote) == [(None, None, D("5000.00"), D("0.5103"), D("2551.50"))]
    assert quote.facts["tiers"] is None


def test_shanghai_large_household_gets_1200_kwh_more_on_each_annual_threshold():
    # 5 people: thresholds 3120 + 1200 = 4320 and 4800 + 1200 = 6000.
    # ytd 4300, 100 kWh: 20 × 0.617 = 12.34; 80 × 0.667 = 53.36; total 65.70
    large = rate(CATALOGUE.get("SH-RES-TOU"), RatingInput(**NOV, kwh=D(100), ytd_kwh=D(4300), household_size=5))
    assert amounts(large) == [(1, None, D("20.00"), D("0.617"), D("12.34")),
                              (2, None, D("80.00"), D("0.667"), D("53.36"))]
    assert large.total == D("65.70")
    assert large.facts["tiers"]["thresholds"] == [D(4320), D(6000)]
    # 4 people: past 3120 already, all 100 kWh in tier 2: 100 × 0.667 = 66.70
    small = rate(CATALOGUE.get("SH-RES-TOU"), RatingInput(**NOV, kwh=D(100), ytd_kwh=D(4300), household_size=4))
    assert small.total == D("66.70")


def test_shanghai_tou_crossing_a_tier_spreads_each_tier_over_peak_and_valley_by_usage():
    # ytd 3000; peak 200 + valley 100 = 300: tier 1 gets 120 (to 3120), tier 2 gets 180.
    # tier 1: peak 120 × 200/300 = 80, valley 40; tier 2: peak 120, valley 60.
    # 80 × 0.617 = 49.36; 40 × 0.307 = 12.28; 120 × 0.677 = 81.24; 60 × 0.337 = 20.22; total 163.10
    quote = rate(CATALOGUE.get("SH-RES-TOU"), RatingInput(**NOV, peak=D(200), valley=D(100), ytd_kwh=D(3000)))
    assert amounts(quote) == [
        (1, TouPeriod.PEAK, D("80.00"), D("0.617"), D("49.36")),
        (1, TouPeriod.VALLEY, D("40.00"), D("0.307"), D("12.28")),
        (2, TouPeriod.PEAK, D("120.00"), D("0.677"), D("81.24")),
        (2, TouPeriod.VALLEY, D("60.00"), D("0.337"), D("20.22")),
    ]
    assert quote.total == D("163.10")


def test_tou_split_rounds_each_share_half_up_and_the_last_tier_takes_the_remainder():
    # ytd 3020; peak 123.45 + valley 76.55 = 200: tier 1 gets 100, tier 2 gets 100.
    # tier 1 peak = 100 × 123.45/200 = 61.725 → 61.73, valley 100 − 61.73 = 38.27;
    # tier 2 peak = 123.45 − 61.73 = 61.72, valley = 76.55 − 38.27 = 38.28.
    # 61.73 × 0.617 = 38.08741 → 38.09; 38.27 × 0.307 = 11.74889 → 11.75;
    # 61.72 × 0.677 = 41.78444 → 41.78; 38.28 × 0.337 = 12.90036 → 12.90; total 104.52
    quote = rate(CATALOGUE.get("SH-RES-TOU"),
                 RatingInput(**NOV, peak=D("123.45"), valley=D("76.55"), ytd_kwh=D(3020)))
    assert [line.quantity for line in quote.lines] == [D("61.73"), D("38.27"), D("61.72"), D("38.28")]
    assert [line.amount for line in quote.lines] == [D("38.09"), D("11.75"), D("41.78"), D("12.90")]
    assert quote.total == D("104.52")


def test_residential_tou_tariff_accepts_plain_kwh_at_the_untimed_prices():
    # Zhejiang, ytd 2700, 100 kWh: 60 × 0.538 = 32.28; 40 × 0.588 = 23.52; total 55.80
    quote = rate(CATALOGUE.get("ZJ-RES-TOU"), RatingInput(**NOV, kwh=D(100), ytd_kwh=D(2700)))
    assert quote.total == D("55.80")
    assert {line.tou_period for line in quote.lines} == {None}


def test_zhejiang_tou_in_tier_3():
    # ytd 5000: all in tier 3. peak 100 × 0.868 = 86.80; valley 50 × 0.588 = 29.40; total 116.20
    quote = rate(CATALOGUE.get("ZJ-RES-TOU"), RatingInput(**NOV, peak=D(100), valley=D(50), ytd_kwh=D(5000)))
    assert quote.total == D("116.20")
    assert quote.facts["tiers"]["kwh_to_next_threshold"] is None


# -- time of use, two-part, power factor ----------------------------------------------------------------


def test_sichuan_derived_prices_and_critical_peak_in_july():
    # 1.6 × 0.7000 = 1.1200; 0.4 × 0.7000 = 0.2800; critical 1.2 × 1.1200 = 1.3440
    # July: critical 100 × 1.3440 = 134.40; peak 200 × 1.12 = 224.00; flat 300 × 0.70 = 210.00;
    # valley 400 × 0.28 = 112.00; total 680.40
    prices = price_table(CATALOGUE.get("SC-GC-TOU").versions[0])
    assert prices.tou == {TouPeriod.CRITICAL_PEAK: (D("1.3440"),), TouPeriod.PEAK: (D("1.1200"),),
                          TouPeriod.FLAT: (D("0.7000"),), TouPeriod.VALLEY: (D("0.2800"),)}
    quote = rate(CATALOGUE.get("SC-GC-TOU"), RatingInput(
        start_date=date(2024, 7, 1), end_date=date(2024, 8, 1),
        critical_peak=D(100), peak=D(200), flat=D(300), valley=D(400)))
    assert [line.amount for line in quote.lines] == [D("134.40"), D("224.00"), D("210.00"), D("112.00")]
    assert [line.unit_price for line in quote.lines] == [D("1.3440"), D("1.1200"), D("0.7000"), D("0.2800")]
    assert quote.total == D("680.40")


TWO_PART_OCT = {**OCT, "peak": D(1000), "flat": D(2000), "valley": D(1000), "capacity_kva": D(400)}


def test_two_part_power_factor_above_standard_earns_a_reduction():
    # energy 1000 × 0.96 + 2000 × 0.60 + 1000 × 0.24 = 960 + 1200 + 240 = 2400.00
    # basic 400 kVA × 30 = 12000.00; cos φ = 4000 / √(4000² + 1300²) = 0.9510 → 0.95 → −0.75 %
    # adjustment (2400 + 12000) × −0.75 % = −108.00; total 14292.00
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(**TWO_PART_OCT, kvarh=D(1300)))
    pf = quote.lines[-1]
    assert (pf.code, pf.quantity, pf.unit, pf.amount) == ("POWER_FACTOR", D("-0.75"), "%", D("-108.00"))
    assert quote.lines[-2].amount == D("12000.00")
    assert quote.total == D("14292.00")
    assert quote.facts["power_factor"]["cos_phi"] == D("0.95")


def test_two_part_power_factor_below_standard_costs_a_surcharge():
    # cos φ = 4000 / √(4000² + 2480²) = 0.8499 → 0.85 → +2.5 %: 14400 × 2.5 % = 360.00; total 14760.00
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(**TWO_PART_OCT, kvarh=D(2480)))
    assert quote.lines[-1].amount == D("360.00")
    assert quote.total == D("14760.00")
    assert quote.facts["power_factor"]["percent"] == D("2.50")


def test_no_kvarh_no_power_factor_line():
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(**TWO_PART_OCT))
    assert "POWER_FACTOR" not in [line.code for line in quote.lines]
    assert quote.total == D("14400.00")
    assert quote.facts["power_factor"] == {"assessed": False, "reason": "no reactive energy (kvarh) given"}


def test_demand_above_105_percent_of_contract_is_charged_double():
    # contract 400 kW → 420 allowed. demand 500: 420 × 40 = 16800.00; excess 80 × 80 = 6400.00
    # energy 2400.00; total 25600.00
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(
        **OCT, peak=D(1000), flat=D(2000), valley=D(1000), demand_kw=D(500), contract_demand_kw=D(400)))
    basic = [(line.code, line.quantity, line.unit_price, line.amount) for line in quote.lines if line.unit == "kW·month"]
    assert basic == [("BASIC_DEMAND", D("420.0000"), D(40), D("16800.00")),
                     ("BASIC_DEMAND_EXCESS", D("80.0000"), D(80), D("6400.00"))]
    assert quote.total == D("25600.00")


def test_demand_within_105_percent_has_no_excess_line():
    # contract 400, demand 415 (< 420): 415 × 40 = 16600.00
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(
        **OCT, peak=D(0), flat=D(0), valley=D(0), demand_kw=D(415), contract_demand_kw=D(400)))
    assert [(line.code, line.amount) for line in quote.lines] == [("BASIC_DEMAND", D("16600.00"))]


# -- pro-rating -----------------------------------------------------------------------------------------


def test_part_month_basic_charge_is_one_thirtieth_per_day():
    # 10 days of October: 400 kVA × 30 × 10/30 = 4000.00 (133.3333 kVA·month shown);
    # energy 100 × 0.96 + 100 × 0.60 + 100 × 0.24 = 180.00; total 4180.00
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(
        start_date=date(2024, 10, 1), end_date=date(2024, 10, 11),
        peak=D(100), flat=D(100), valley=D(100), capacity_kva=D(400)))
    basic = next(line for line in quote.lines if line.code == "BASIC_CAPACITY")
    assert (basic.quantity, basic.amount) == (D("133.3333"), D("4000.00"))
    assert quote.total == D("4180.00")


def test_part_month_demand_charge_rounds_once_at_the_end():
    # 7 days: demand 101 kW (contract 100, allowed 105): 101 × 40 × 7/30 = 942.666… → 942.67
    quote = rate(CATALOGUE.get("DEMO-LI-2P"), RatingInput(
        start_date=date(2024, 10, 1), end_date=date(2024, 10, 8),
        peak=D(0), demand_kw=D(101), contract_demand_kw=D(100)))
    assert quote.total == D("942.67")


def test_a_whole_month_is_one_month_whatever_its_length():
    assert month_units(date(2024, 2, 1), date(2024, 3, 1)) == 30
    assert month_units(date(2024, 1, 1), date(2024, 2, 1)) == 30
    assert month_units(date(2024, 1, 10), date(2024, 2, 1)) == 22
    assert month_units(date(2024, 1, 10), date(2024, 3, 5)) == 22 + 30 + 4


TWO_VERSIONS = """
id = "TEST-2V"
name = "测试两版本"
name_en = "Test, two versions"
province = "测试"
usage_categories = ["RESIDENTIAL"]

[[versions]]
effective_from = 2024-01-01
effective_to = 2024-06-11
source = "test"
[versions.tiers]
basis = "{basis}"
thresholds = [{threshold}]
[versions.energy]
untimed = [0.5, 0.6]

[[versions]]
effective_from = 2024-06-11
source = "test, second version"
[versions.tiers]
basis = "{basis}"
thresholds = [{threshold}]
[versions.energy]
untimed = [0.55, 0.70]
"""


def test_version_change_inside_the_period_splits_usage_and_monthly_thresholds_by_days():
    # June 2024: old prices 1–10 June (10 days), new from 11 June (20 days). 301 kWh →
    # 301 × 10/30 = 100.33 and 200.67. Monthly threshold 200 → 200 × 10/30 = 66.67 and 200 × 20/30 = 133.33.
    # old: 66.67 × 0.5 = 33.335 → 33.34; 33.66 × 0.6 = 20.196 → 20.20
    # new: 133.33 × 0.55 = 73.3315 → 73.33; 67.34 × 0.70 = 47.138 → 47.14; total 174.01
    catalogue = _catalogue(TWO_VERSIONS.format(basis="MONTHLY", threshold=200))
    quote = rate(catalogue.get("TEST-2V"), RatingInput(start_date=date(2024, 6, 1), end_date=date(2024, 7, 1),
                                                       kwh=D(301)))
    assert [(line.segment_start, line.quantity, line.amount) for line in quote.lines] == [
        (date(2024, 6, 1), D("66.67"), D("33.34")), (date(2024, 6, 1), D("33.66"), D("20.20")),
        (date(2024, 6, 11), D("133.33"), D("73.33")), (date(2024, 6, 11), D("67.34"), D("47.14")),
    ]
    assert quote.total == D("174.01")
    assert [s["version_source"] for s in quote.facts["segments"]] == ["test", "test, second version"]


def test_version_change_carries_the_year_to_date_forward_for_annual_tiers():
    # annual threshold 1000, ytd 950, 300 kWh in June: 100 before 11 June, 200 after.
    # old: 50 × 0.5 = 25.00, 50 × 0.6 = 30.00 (ytd now 1050); new: 200 × 0.70 = 140.00; total 195.00
    catalogue = _catalogue(TWO_VERSIONS.format(basis="ANNUAL", threshold=1000))
    quote = rate(catalogue.get("TEST-2V"), RatingInput(start_date=date(2024, 6, 1), end_date=date(2024, 7, 1),
                                                       kwh=D(300), ytd_kwh=D(950)))
    assert [line.amount for line in quote.lines] == [D("25.00"), D("30.00"), D("140.00")]
    assert quote.total == D("195.00")
    assert quote.facts["ytd"]["after"] == D("1250.00")


def test_change_of_usage_category_inside_the_period():
    # shared meter 1–15 Nov, then below-1 kV residential: 300 kWh → 150 + 150; ytd 2800.
    # 150 × 0.5103 = 76.545 → 76.55; ytd 2950 → 150 in tier 2 × 0.5383 = 80.745 → 80.75; total 157.30
    quote = rate_segments(
        [(CATALOGUE.get("BJ-RES-SHARED"), date(2024, 11, 1), date(2024, 11, 16)),
         (CATALOGUE.get("BJ-RES-LT1KV"), date(2024, 11, 16), date(2024, 12, 1))],
        RatingInput(**NOV, kwh=D(300), ytd_kwh=D(2800)))
    assert [line.amount for line in quote.lines] == [D("76.55"), D("80.75")]
    assert quote.total == D("157.30")
    assert quote.tariff_id == "BJ-RES-LT1KV"


def test_annual_tiers_start_afresh_on_1_january():
    # 16 Dec – 15 Jan (31 days), ytd 4790, 310 kWh → 160 in December, 150 in January.
    # Dec: 10 × 0.5383 = 5.383 → 5.38; 150 × 0.7883 = 118.245 → 118.25. Jan (ytd 0): 150 × 0.4883 = 73.245 → 73.25
    quote = rate(CATALOGUE.get("BJ-RES-LT1KV"), RatingInput(
        start_date=date(2024, 12, 16), end_date=date(2025, 1, 16), kwh=D(310), ytd_kwh=D(4790)))
    assert [line.amount for line in quote.lines] == [D("5.38"), D("118.25"), D("73.25")]
    assert quote.total == D("196.88")


def test_monthly_thresholds_get_the_large_household_bonus_pro_rated():
    text = TWO_VERSIONS.format(basis="MONTHLY", threshold=200).replace(
        'basis = "MONTHLY"\nthresholds = [200]\n[versions.energy]\nuntimed = [0.55',
        'basis = "MONTHLY"\nthresholds = [200]\nlarge_household = {min_size = 5, extra_kwh_per_month = 100}\n'
        '[versions.energy]\nuntimed = [0.55')
    version = _catalogue(text).get("TEST-2V").versions[1]
    assert tier_thresholds(version, household_size=5, units=30) == (D(300),)
    assert tier_thresholds(version, household_size=5, units=10) == (D("100.00"),)
    assert tier_thresholds(version, household_size=4, units=10) == (D("66.67"),)


# -- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tariff_id", "kwargs", "field"), [
    ("SC-GC-TOU", {"critical_peak": D(10), "peak": D(100)}, "critical_peak"),  # October: no critical peak
    ("SH-RES-TOU", {"peak": D(100), "flat": D(5), "valley": D(50)}, "flat"),  # peak/valley only
    ("SC-GC-TOU", {"kwh": D(100)}, "kwh"),  # time-of-use only
    ("DEMO-LI-2P", {"kwh": D(100), "capacity_kva": D(400)}, "kwh"),
    ("BJ-RES-LT1KV", {"peak": D(100)}, "peak"),  # no time-of-use prices
    ("BJ-RES-LT1KV", {"kwh": D(-1)}, "kwh"),
    ("BJ-RES-LT1KV", {"kwh": D(1), "ytd_kwh": D(-1)}, "ytd_kwh"),
    ("BJ-RES-LT1KV", {"kwh": D(1), "peak": D(1)}, "kwh"),
    ("BJ-RES-LT1KV", {}, "kwh"),
    ("BJ-RES-LT1KV", {"kwh": 1.5}, "kwh"),  # a float is refused, never silently converted
    ("SH-RES-TOU", {"kwh": D(1), "household_size": 0}, "household_size"),
    ("DEMO-LI-2P", {"peak": D(100)}, "capacity_kva"),
    ("DEMO-LI-2P", {"peak": D(100), "demand_kw": D(100)}, "contract_demand_kw"),
    ("DEMO-LI-2P", {"peak": D(100), "demand_kw": D(100), "capacity_kva": D(100)}, "basic_charge_basis"),
    ("DEMO-LI-2P", {"peak": D(100), "capacity_kva": D(400), "kvarh": D(-5)}, "kvarh"),
])
def test_refusals_name_the_argument(tariff_id, kwargs, field):
    with pytest.raises(RatingError) as caught:
        rate(CATALOGUE.get(tariff_id), RatingInput(**OCT, **kwargs))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_flat_of_zero_is_accepted_on_a_peak_valley_tariff():
    quote = rate(CATALOGUE.get("SH-RES-TOU"), RatingInput(**OCT, peak=D(10), flat=D(0), valley=D(10)))
    assert quote.total == D("9.24")  # 10 × 0.617 + 10 × 0.307 = 6.17 + 3.07


def test_a_period_before_the_first_version_is_refused():
    with pytest.raises(RatingError, match="no version in force on 2022-12-01"):
        rate(CATALOGUE.get("SC-GC-TOU"), RatingInput(start_date=date(2022, 12, 1), end_date=date(2023, 1, 1),
                                                     peak=D(1)))


def test_empty_period_is_refused():
    with pytest.raises(RatingError) as caught:
        rate(CATALOGUE.get("BJ-RES-LT1KV"), RatingInput(start_date=date(2024, 1, 1), end_date=date(2024, 1, 1),
                                                        kwh=D(1)))
    assert caught.value.field == "end_date"


def test_segments_must_cover_the_period():
    with pytest.raises(RatingError) as caught:
        rate_segments([(CATALOGUE.get("BJ-RES-LT1KV"), date(2024, 11, 1), date(2024, 11, 20))],
                      RatingInput(**NOV, kwh=D(1)))
    assert caught.value.field == "segments"


def test_zero_usage_gives_a_zero_bill_with_two_decimals():
    quote = rate(CATALOGUE.get("BJ-RES-LT1KV"), RatingInput(**NOV, kwh=D(0)))
    assert quote.lines == () and str(quote.total) == "0.00"
