"""Back-billing after a meter test: Art. 80 (meter error, half the period) and Art. 81 (wrong multiplier, the whole
period), slow and fast, both ways, with the working in both languages."""
import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gridcounter.application.back_billing import load_back_billing_rules
from gridcounter.domain.back_billing import (
    ART80,
    ART81,
    BackBillingRulesError,
    InvalidBackBillingInput,
    Ratio,
    meter_error_make_up,
    multiplier_make_up,
    parse_ratio,
    rules_from_mapping,
)

RULES_FILE = Path(__file__).resolve().parents[3] / "rules" / "back-billing.toml"
RULES = load_back_billing_rules(path=RULES_FILE)


def art80(error_percent: str, recorded_kwh: str):
    return meter_error_make_up(rule=RULES[ART80], error_percent=Decimal(error_percent),
                               recorded_kwh=Decimal(recorded_kwh))


def art81(used: str, actual: str, recorded_kwh: str):
    return multiplier_make_up(rule=RULES[ART81], used=parse_ratio(used, field="used_ratio"),
                              actual=parse_ratio(actual, field="actual_ratio"), recorded_kwh=Decimal(recorded_kwh))


def test_domain_md_worked_example_a_meter_10_percent_slow():
    # 900,000 kWh recorded → 1,000,000 kWh true → 100,000 kWh short → half the period: 50,000 kWh to make up
    result = art80("-10", "900000")

    assert result.make_up_kwh == Decimal("50000.00")
    assert result.direction == "MORE_TO_PAY"
    assert result.numbers == {"error_percent": "-10", "recorded_kwh": "900000.00", "true_kwh": "1000000.00",
                              "difference_kwh": "100000.00", "period_fraction": "1/2", "make_up_kwh": "50000.00"}
    assert "第八十条" in result.text_zh and "《供电营业规则》" in result.text_zh
    assert "900,000 千瓦时 ÷ （1 − 10%）= 1,000,000 千瓦时" in result.text_zh
    assert "二分之一" in result.text_zh and "应补收 50,000 千瓦时" in result.text_zh
    assert "Art. 80 of the Rules for Electricity Supply Business" in result.text_en
    assert "900,000 kWh ÷ (1 − 10 %) = 1,000,000 kWh" in result.text_en
    assert "half of the time" in result.text_en and "50,000 kWh more to pay" in result.text_en


def test_a_fast_meter_is_a_refund_mirroring_the_slow_one():
    result = art80("10", "1100000")

    assert result.make_up_kwh == Decimal("-50000.00")
    assert result.direction == "TO_BE_CREDITED"
    assert result.numbers["true_kwh"] == "1000000.00" and result.numbers["difference_kwh"] == "-100000.00"
    assert "偏快" in result.text_zh and "应退还 50,000 千瓦时" in result.text_zh
    assert "(fast)" in result.text_en and "50,000 kWh to be credited" in result.text_en


def test_each_printed_step_is_rounded_to_hundredths_half_up_so_the_working_adds_up():
    # 1,000 kWh at +3 %: 1000 ÷ 1.03 = 970.8737… → 970.87; −29.13 × 1/2 = −14.565 → −14.57 (half away from zero)
    fast = art80("3", "1000")
    # 1,000 kWh at −3 %: 1000 ÷ 0.97 = 1030.9278… → 1030.93; 30.93 × 1/2 = 15.465 → 15.47
    slow = art80("-3", "1000")

    assert (fast.numbers["true_kwh"], fast.numbers["difference_kwh"], fast.make_up_kwh) == (
        "970.87", "-29.13", Decimal("-14.57"))
    assert (slow.numbers["true_kwh"], slow.numbers["difference_kwh"], slow.make_up_kwh) == (
        "1030.93", "30.93", Decimal("15.47"))
    assert "29.13 × 1/2 = 14.57 千瓦时" in fast.text_zh


def test_domain_md_worked_example_a_multiplier_of_600_5_billed_as_300_5():
    result = art81("300/5", "600/5", "12000")

    assert result.make_up_kwh == Decimal("12000.00")
    assert result.numbers["factor"] == "1"
    assert (result.numbers["used_multiplier"], result.numbers["actual_multiplier"]) == ("60", "120")
    assert result.numbers["period_fraction"] == "1"
    assert "第八十一条" in result.text_zh and "120 ÷ 60 − 1 = 1" in result.text_zh
    assert "应补收 12,000 千瓦时" in result.text_zh
    assert "Art. 81" in result.text_en and "actual ÷ used − 1 = 120 ÷ 60 − 1 = 1" in result.text_en


def test_a_multiplier_too_large_is_refunded():
    # 300/5 installed but 600/5 billed: factor 60 ÷ 120 − 1 = −0.5, half of what was billed is refunded
    result = art81("600/5", "300/5", "12000")

    assert result.make_up_kwh == Decimal("-6000.00")
    assert result.numbers["factor"] == "-0.5"
    assert "应退还 6,000 千瓦时" in result.text_zh and "6,000 kWh to be credited" in result.text_en


def test_a_factor_without_a_short_decimal_is_kept_exact_until_the_make_up_is_rounded():
    # 400/5 installed, 300/5 billed: factor 1/3; 1,000 kWh × 1/3 = 333.333… → 333.33
    result = art81("300/5", "400/5", "1000")

    assert result.make_up_kwh == Decimal("333.33")
    assert result.numbers["factor"] == "1/3 ≈ 0.333333"
    assert "1,000 千瓦时 × 1/3 = 333.33 千瓦时" in result.text_zh


def test_the_result_as_the_cli_and_the_workflow_read_it():
    out = art80("-10", "900000").as_dict()

    assert out["rule"] == "ART80" and out["make_up_kwh"] == "50000.00"
    assert set(out["working"]) >= {"article", "numbers", "text_zh", "text_en", "source", "direction"}
    assert out["working"]["article"] == "80" and "第八十条" in out["working"]["source"]


@pytest.mark.parametrize(("error_percent", "text"), [
    ("0", "not 0"), ("-100", "above -100"), ("-150", "above -100"), ("100.5", "at most 100"), ("NaN", "number"),
    ("abc", "number"),
])
def test_an_impossible_error_percent_is_refused_naming_the_field(error_percent, text):
    with pytest.raises(InvalidBackBillingInput) as raised:
        meter_error_make_up(rule=RULES[ART80], error_percent=error_percent, recorded_kwh=Decimal(1000))
    assert raised.value.field == "error_percent"
    assert text in raised.value.text_en and raised.value.text_zh


@pytest.mark.parametrize(("recorded", "text"), [("-1", "must not be negative"), ("1.005", "at most two decimals")])
def test_recorded_kwh_is_zero_or_more_in_hundredths(recorded, text):
    with pytest.raises(InvalidBackBillingInput) as raised:
        art80("-10", recorded)
    assert raised.value.field == "recorded_kwh" and text in raised.value.text_en


def test_nothing_recorded_is_nothing_to_make_up():
    assert art80("-10", "0").make_up_kwh == Decimal("0.00")


@pytest.mark.parametrize("text", ["300", "300/0", "0/5", "-300/5", "300/5.5", "a/b", ""])
def test_a_ratio_is_two_positive_whole_numbers(text):
    with pytest.raises(InvalidBackBillingInput) as raised:
        parse_ratio(text, field="used_ratio")
    assert raised.value.field == "used_ratio" and "300/5" in raised.value.text_en


def test_the_same_multiplier_twice_is_nothing_to_correct():
    with pytest.raises(InvalidBackBillingInput) as raised:
        art81("300/5", "600/10", "1000")
    assert raised.value.field == "actual_ratio" and "nothing to correct" in raised.value.text_en


def test_the_rules_file_names_what_is_missing():
    data = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    del data["rules"]["ART80"]["period_fraction"]
    with pytest.raises(BackBillingRulesError, match=r"\[rules.ART80\] period_fraction"):
        rules_from_mapping(data)
    with pytest.raises(BackBillingRulesError, match=r"missing \[rules.ART81\]"):
        rules_from_mapping({"rules": {"ART80": tomllib.loads(RULES_FILE.read_text("utf-8"))["rules"]["ART80"]}})
    assert RULES[ART80].period_fraction == Fraction(1, 2) and RULES[ART81].period_fraction == 1


kwh = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False)
percent = st.decimals(min_value=Decimal("-99.9"), max_value=100, places=1).filter(lambda p: p != 0)


@settings(max_examples=300, deadline=None)
@given(recorded=kwh, error=percent)
def test_slow_meters_make_up_and_fast_ones_refund_by_half_the_difference(recorded, error):
    result = meter_error_make_up(rule=RULES[ART80], error_percent=error, recorded_kwh=recorded)
    true_kwh = Decimal(result.numbers["true_kwh"])
    difference = Decimal(result.numbers["difference_kwh"])

    assert difference == true_kwh - recorded
    assert abs(result.make_up_kwh - difference / 2) <= Decimal("0.005")
    assert (result.make_up_kwh >= 0) == (error < 0) or result.make_up_kwh == 0
    assert result.make_up_kwh == result.make_up_kwh.quantize(Decimal("0.01"))


@settings(max_examples=200, deadline=None)
@given(recorded=kwh, used=st.integers(1, 2000), actual=st.integers(1, 2000), secondary=st.sampled_from([1, 5]))
def test_billing_at_the_wrong_multiplier_and_correcting_gives_what_the_actual_one_would_have(
        recorded, used, actual, secondary):
    assume(used != actual)
    result = multiplier_make_up(rule=RULES[ART81], used=Ratio(used, secondary), actual=Ratio(actual, secondary),
                                recorded_kwh=recorded)
    # the dial advance is recorded ÷ used; at the actual multiplier it is worth recorded × actual ÷ used
    right = recorded * actual / used

    assert abs(recorded + result.make_up_kwh - right) <= Decimal("0.005")
