"""The late-payment penalty (Art. 98) without a database: the days charged, the rates across a year end, part
payments, the minimum, the cap, rounding once, the rules as data, and properties that hold for any bill."""
import tomllib
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcounter.domain.penalty import (
    Arrears,
    InvalidPenaltyInput,
    PartPayment,
    PenaltyRates,
    PenaltyRulesError,
    late_payment_penalty,
    penalty_rules_from_mapping,
)

RULES_FILE = Path(__file__).resolve().parents[3] / "rules" / "penalty.toml"
RULES_DATA = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
RULES = penalty_rules_from_mapping(RULES_DATA)
UNCAPPED = RULES.with_cap(None)


def penalty(category, amount_fen, due, paid, *, year=None, parts=(), rules=RULES):
    bill = Arrears(amount_fen=amount_fen, due_date=due, charge_year=due.year if year is None else year,
                   parts=tuple(PartPayment(paid_date=day, amount_fen=fen) for day, fen in parts))
    return late_payment_penalty(rules=rules, category=category, arrears=[bill], paid_date=paid)


def segments(result):
    return [(s["from"], s["to"], s["days"], s["remainder"], s["rate_per_mille"], s["amount"])
            for s in result.working if s["step"] == "SEGMENT"]


def steps(result):
    return [s["step"] for s in result.working]


# --- the held-out cases ---------------------------------------------------------------------------------------

def test_residential_is_one_per_mille_a_day_on_the_unpaid_amount():
    # 1,000 yuan paid 10 days late: 1000 × 1‰ × 10 = 10.00 yuan
    result = penalty("RESIDENTIAL", 100_000, date(2026, 3, 20), date(2026, 3, 30))

    assert result.penalty_fen == 1000
    assert segments(result) == [("2026-03-21", "2026-03-30", 10, "1000.00", "1", "10.00")]
    assert result.working[0]["text_zh"] == ("2026-03-21 至 2026-03-30，共 10 天：欠费 1,000.00 元 × 每日 1‰（居民用户）"
                                            "× 10 天 = 10.00 元。")
    assert result.working[0]["text_en"] == ("2026-03-21 to 2026-03-30, 10 days: 1,000.00 yuan unpaid × 1‰ a day "
                                            "(residential) × 10 days = 10.00 yuan.")


def test_a_shared_meter_household_pays_the_residential_rate():
    assert penalty("SHARED_METER_RESIDENTIAL", 100_000, date(2026, 3, 20), date(2026, 3, 30)).penalty_fen == 1000


def test_paid_on_the_due_date_or_before_costs_nothing():
    on_time = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 20))
    early = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 1))

    assert on_time.penalty_fen == 0 and early.penalty_fen == 0
    assert steps(on_time) == ["NONE"]
    assert on_time.working[0]["text_en"] == "Paid in full by the due date (2026-03-20): no penalty."
    assert on_time.working[0]["text_zh"] == "在交费期限内交清（到期日 2026-03-20），不收违约金。"


def test_paid_the_day_after_the_due_date_is_one_day():
    # the day of payment counts (Art. 98: 计算至交纳日止): 1000 × 2‰ × 1 = 2.00 yuan
    result = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 21))

    assert result.penalty_fen == 200
    assert segments(result) == [("2026-03-21", "2026-03-21", 1, "1000.00", "2", "2.00")]
    assert "1 day:" in result.working[0]["text_en"] and "× 1 day =" in result.working[0]["text_en"]


def test_non_residential_arrears_move_from_two_to_three_per_mille_on_1_january():
    # a 2025 bill due 25 Dec: 26–31 Dec is this year's arrears, 2‰ (6 days, 12.00); from 1 Jan it is carried
    # across the year end, 3‰ (10 days, 30.00)
    result = penalty("GENERAL_COMMERCIAL", 100_000, date(2025, 12, 25), date(2026, 1, 10))

    assert result.penalty_fen == 4200
    assert segments(result) == [("2025-12-26", "2025-12-31", 6, "1000.00", "2", "12.00"),
                                ("2026-01-01", "2026-01-10", 10, "1000.00", "3", "30.00")]
    assert [s["rate_kind"] for s in result.working if s["step"] == "SEGMENT"] == ["CURRENT_YEAR", "EARLIER_YEARS"]
    assert "（跨年度欠费）" in result.working[1]["text_zh"]
    assert "(arrears from an earlier year)" in result.working[1]["text_en"]


def test_residential_arrears_stay_at_one_per_mille_across_the_year_end():
    result = penalty("RESIDENTIAL", 100_000, date(2025, 12, 25), date(2026, 1, 10))

    assert result.penalty_fen == 1600  # 16 days × 1‰ × 1000
    assert {s["rate_per_mille"] for s in result.working if s["step"] == "SEGMENT"} == {"1"}


def test_the_year_of_the_bill_s_period_decides_current_or_earlier():
    # December 2025's bill due 20 January 2026 is 2025's arrears: 3‰ from its first late day
    december = penalty("LARGE_INDUSTRY", 100_000, date(2026, 1, 20), date(2026, 1, 30), year=2025)
    january = penalty("LARGE_INDUSTRY", 100_000, date(2026, 1, 20), date(2026, 1, 30), year=2026)

    assert (december.penalty_fen, january.penalty_fen) == (3000, 2000)


def test_an_account_s_bills_of_two_years_are_charged_each_at_its_rate():
    bills = [Arrears(amount_fen=100_000, due_date=date(2026, 1, 20), charge_year=2026, label="2026-01"),
             Arrears(amount_fen=100_000, due_date=date(2026, 1, 20), charge_year=2025, label="2025-12")]
    result = late_payment_penalty(rules=RULES, category="AGRICULTURE", arrears=bills, paid_date=date(2026, 1, 30))

    assert result.penalty_fen == 5000  # 20.00 + 30.00
    assert [s["bill"] for s in result.working if s["step"] == "SEGMENT"] == ["2026-01", "2025-12"]
    assert result.working[1]["text_en"].startswith("2025-12: 2026-01-21 to 2026-01-30")


def test_below_one_yuan_is_charged_as_one_yuan():
    # 50 yuan × 1‰ × 1 day = 0.05 yuan → 1.00 yuan
    result = penalty("RESIDENTIAL", 5_000, date(2026, 3, 20), date(2026, 3, 21))

    assert result.penalty_fen == 100
    assert steps(result) == ["SEGMENT", "ROUNDED", "MINIMUM"]
    assert result.working[-1]["text_zh"] == "违约金总额 0.05 元不足 1.00 元，按 1.00 元收取（《供电营业规则》第九十八条）。"


def test_the_minimum_is_charged_even_above_the_cap():
    # 2 yuan for 400 days: uncapped 0.80, capped at 30 % = 0.60; the Rules' 1 yuan minimum still applies
    result = penalty("RESIDENTIAL", 200, date(2025, 1, 20), date(2026, 2, 24))

    assert result.penalty_fen == 100
    assert steps(result)[-3:] == ["CAP", "ROUNDED", "MINIMUM"]


def test_the_cap_is_thirty_percent_of_the_overdue_amount_and_a_policy():
    # 2024's bill of 1,000 yuan, paid 20 Dec 2025: 346 days × 2‰ (692.00) + 354 days × 3‰ (1,062.00) = 1,754.00
    due, paid = date(2024, 1, 20), date(2025, 12, 20)
    capped = penalty("LARGE_INDUSTRY", 100_000, due, paid)
    uncapped = penalty("LARGE_INDUSTRY", 100_000, due, paid, rules=UNCAPPED)
    half = penalty("LARGE_INDUSTRY", 100_000, due, paid, rules=RULES.with_cap(Decimal(50)))

    assert (capped.penalty_fen, uncapped.penalty_fen, half.penalty_fen) == (30_000, 175_400, 50_000)
    cap_step = next(s for s in capped.working if s["step"] == "CAP")
    assert (cap_step["uncapped"], cap_step["overdue"], cap_step["cap"]) == ("1754.00", "1000.00", "300.00")
    assert cap_step["text_en"] == ("The penalty on the bill, 1,754.00 yuan, is more than 30 % of its overdue "
                                   "1,000.00 yuan: capped at 300.00 yuan.")
    assert "CAP" not in steps(uncapped)


def test_the_cap_applies_from_its_effective_date():
    later = replace(RULES, cap=replace(RULES.cap, effective_date=date(2026, 1, 1)))

    assert penalty("LARGE_INDUSTRY", 100_000, date(2024, 1, 20), date(2025, 12, 20), rules=later).penalty_fen == 175_400
    assert penalty("LARGE_INDUSTRY", 100_000, date(2024, 1, 20), date(2026, 1, 1), rules=later).penalty_fen == 30_000


def test_a_part_payment_lowers_the_remainder_from_the_next_day():
    # 1,000 yuan, 400 paid on 25 Mar: 21–25 Mar on 1,000 (10.00; the part is charged for its own day, as a payment
    # in full would be), 26–30 Mar on 600 (6.00)
    result = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 30),
                     parts=[(date(2026, 3, 25), 40_000)])

    assert result.penalty_fen == 1600
    assert segments(result) == [("2026-03-21", "2026-03-25", 5, "1000.00", "2", "10.00"),
                                ("2026-03-26", "2026-03-30", 5, "600.00", "2", "6.00")]


def test_a_part_covering_everything_on_day_d_is_a_payment_in_full_on_day_d():
    whole = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 25))
    by_part = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 30),
                      parts=[(date(2026, 3, 25), 100_000)])

    assert whole.penalty_fen == by_part.penalty_fen == 1000


def test_a_part_paid_by_the_due_date_lowers_the_overdue_amount_and_its_cap():
    early = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 30),
                    parts=[(date(2026, 3, 10), 40_000)])
    all_early = penalty("GENERAL_COMMERCIAL", 100_000, date(2026, 3, 20), date(2026, 3, 30),
                        parts=[(date(2026, 3, 10), 60_000), (date(2026, 3, 20), 40_000)])
    capped = penalty("LARGE_INDUSTRY", 100_000, date(2024, 1, 20), date(2025, 12, 20),
                     parts=[(date(2024, 1, 20), 50_000)])

    assert early.penalty_fen == 1200  # 600 × 2‰ × 10
    assert all_early.penalty_fen == 0
    assert capped.penalty_fen == 15_000  # 30 % of the 500 yuan overdue


def test_rounded_once_half_up_at_the_end_not_per_day_or_segment():
    # 123.45 yuan × 2‰ × 95 days = 23.4555 yuan → 23.46
    assert penalty("GENERAL_COMMERCIAL", 12_345, date(2026, 3, 20), date(2026, 6, 23)).penalty_fen == 2346
    # 1,002.50 yuan: 31 Dec at 2‰ = 2.005, 1 Jan at 3‰ = 3.0075; 5.0125 → 5.01 (rounding each segment: 5.02)
    result = penalty("GENERAL_COMMERCIAL", 100_250, date(2025, 12, 30), date(2026, 1, 1))
    assert [s[-1] for s in segments(result)] == ["2.005", "3.0075"]
    assert result.penalty_fen == 501
    assert result.working[-1]["text_en"] == "Total 5.0125 yuan, rounded half up to the fen: 5.01 yuan."


def test_a_new_rates_version_applies_from_its_effective_date():
    # a (made-up) 2026 version doubling the residential rate: days from 1 Jan 2026 pay 2‰
    raised = replace(RULES, rates=(*RULES.rates, PenaltyRates(
        effective_date=date(2026, 1, 1), residential_per_mille=Decimal(2), current_year_per_mille=Decimal(2),
        earlier_years_per_mille=Decimal(3), minimum_fen=100, source="test")))
    result = penalty("RESIDENTIAL", 100_000, date(2025, 12, 29), date(2026, 1, 3), rules=raised)

    assert segments(result) == [("2025-12-30", "2025-12-31", 2, "1000.00", "1", "2.00"),
                                ("2026-01-01", "2026-01-03", 3, "1000.00", "2", "6.00")]
    assert result.working[1]["rates_in_force_from"] == "2026-01-01"


@pytest.mark.parametrize(("kwargs", "field", "english"), [
    ({"category": "STREET_LIGHTING"}, "category", "unknown usage category 'STREET_LIGHTING'"),
    ({"parts": [(date(2026, 3, 25), 60_000), (date(2026, 3, 26), 50_000)]}, "part",
     "the parts add up to 1,100.00 yuan, more than the amount of 1,000.00 yuan"),
    ({"parts": [(date(2026, 4, 2), 10_000)]}, "part", "is after the day of payment in full, 2026-03-30"),
    ({"parts": [(date(2026, 3, 25), 0)]}, "part", "must be greater than zero"),
    ({"amount_fen": 0}, "amount", "must be greater than zero"),
    ({"year": 2027}, "charge_year", "the bill's year 2027 cannot be after its due date 2026-03-20"),
])
def test_bad_inputs_are_refused_naming_the_field(kwargs, field, english):
    args = {"category": "GENERAL_COMMERCIAL", "amount_fen": 100_000, **kwargs}
    with pytest.raises(InvalidPenaltyInput) as refused:
        penalty(args.pop("category"), args.pop("amount_fen"), date(2026, 3, 20), date(2026, 3, 30), **args)

    assert refused.value.field == field
    assert english in refused.value.text_en and refused.value.text_zh


# --- the rules as data ----------------------------------------------------------------------------------------

def test_the_rules_file_holds_art_98_and_the_cap_policy_with_their_sources():
    assert [(v.effective_date, v.residential_per_mille, v.current_year_per_mille, v.earlier_years_per_mille,
             v.minimum_fen) for v in RULES.rates] == [(date(1996, 10, 8), 1, 2, 3, 100)]
    assert "第九十八条" in RULES.rates[0].source
    assert (RULES.cap.percent, "State Grid" in RULES.cap.source) == (Decimal(30), True)
    assert RULES.residential_categories == {"RESIDENTIAL", "SHARED_METER_RESIDENTIAL"}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("cap"), "missing [cap]"),
    (lambda d: d["cap"].update(percent="130"), "[cap] percent must be above 0 and at most 100"),
    (lambda d: d["cap"].update(enabled="yes"), "[cap] enabled must be true or false"),
    (lambda d: d["rates"][0].update(current_year_per_mille=2), "current_year_per_mille must be a non-empty string"),
    (lambda d: d["rates"][0].update(minimum_yuan="1.005"), "minimum_yuan has at most two decimals"),
    (lambda d: d["categories"]["other"].append("RESIDENTIAL"), "RESIDENTIAL is both residential and other"),
    (lambda d: d.update(rates=[]), "missing [[rates]]"),
])
def test_a_broken_rules_file_is_refused_naming_the_key(edit, message):
    data = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    edit(data)
    with pytest.raises(PenaltyRulesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        penalty_rules_from_mapping(data)


def test_the_cap_can_be_switched_off_in_the_file():
    data = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    data["cap"]["enabled"] = False
    rules = penalty_rules_from_mapping(data)

    assert rules.cap.percent is None
    assert penalty("LARGE_INDUSTRY", 100_000, date(2024, 1, 20), date(2025, 12, 20), rules=rules).penalty_fen == 175_400


# --- properties -----------------------------------------------------------------------------------------------

CATEGORIES = st.sampled_from(["RESIDENTIAL", "GENERAL_COMMERCIAL"])
DUE_DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31))
AMOUNTS = st.integers(min_value=1, max_value=10**10)


@st.composite
def bills(draw):
    """A bill, its day of payment in full and part payments that never add up to more than the bill."""
    amount = draw(AMOUNTS)
    due = draw(DUE_DATES)
    late = draw(st.integers(min_value=-5, max_value=800))
    paid = due + timedelta(days=late)
    parts, left = [], amount
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        if left == 0 or paid < due - timedelta(days=30):
            break
        fen = draw(st.integers(min_value=1, max_value=left))
        day = due + timedelta(days=draw(st.integers(min_value=-30, max_value=(paid - due).days)))
        parts.append((day, fen))
        left -= fen
    year = draw(st.sampled_from([due.year, due.year - 1]))
    return amount, due, paid, year, parts


@given(CATEGORIES, bills(), st.booleans())
def test_the_penalty_is_never_negative_and_is_due_only_when_late(category, bill, capped):
    amount, due, paid, year, parts = bill
    result = penalty(category, amount, due, paid, year=year, parts=parts, rules=RULES if capped else UNCAPPED)

    assert result.penalty_fen >= 0
    assert (result.penalty_fen == 0) == (steps(result) == ["NONE"])
    if paid <= due:
        assert result.penalty_fen == 0
    else:
        assert result.penalty_fen == 0 or result.penalty_fen >= 100


@given(CATEGORIES, bills(), st.integers(min_value=1, max_value=400), st.booleans())
def test_paying_later_never_costs_less(category, bill, more_days, capped):
    amount, due, paid, year, parts = bill
    rules = RULES if capped else UNCAPPED
    sooner = penalty(category, amount, due, paid, year=year, parts=parts, rules=rules)
    later = penalty(category, amount, due, paid + timedelta(days=more_days), year=year, parts=parts, rules=rules)

    assert later.penalty_fen >= sooner.penalty_fen


@given(CATEGORIES, bills(), st.decimals(min_value=1, max_value=100, places=1))
def test_a_capped_penalty_is_never_above_the_cap_or_the_minimum(category, bill, percent):
    amount, due, paid, year, parts = bill
    result = penalty(category, amount, due, paid, year=year, parts=parts, rules=RULES.with_cap(percent))

    overdue = amount - sum(fen for day, fen in parts if day <= due)
    cap = int((Decimal(overdue) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert result.penalty_fen <= max(cap, 100)


@given(CATEGORIES, bills(), st.data(), st.booleans())
def test_a_part_payment_never_raises_the_penalty(category, bill, data, capped):
    amount, due, paid, year, parts = bill
    left = amount - sum(fen for _day, fen in parts)
    if left == 0 or paid < due - timedelta(days=30):
        return
    rules = RULES if capped else UNCAPPED
    extra = (due + timedelta(days=data.draw(st.integers(min_value=-30, max_value=(paid - due).days))),
             data.draw(st.integers(min_value=1, max_value=left)))
    without = penalty(category, amount, due, paid, year=year, parts=parts, rules=rules)
    with_part = penalty(category, amount, due, paid, year=year, parts=[*parts, extra], rules=rules)

    assert with_part.penalty_fen <= without.penalty_fen
