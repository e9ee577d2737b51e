"""Registry rules: installation intervals, identity documents, account numbers, phones, registers."""
from datetime import date

import pytest

from gridcounter.domain.registry import (
    Interval,
    account_field_problems,
    account_number_problem,
    default_registers,
    first_overlap,
    id_number_problem,
    intervals_overlap,
    normalise_phone,
    phone_problem,
    readings_problem,
    registers_problem,
    resident_id_check_digit,
    uscc_check_char,
)

D = date


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((D(2024, 1, 1), D(2024, 3, 1)), (D(2024, 3, 1), None), False),  # half-open: the exchange day is shared
        ((D(2024, 1, 1), D(2024, 3, 2)), (D(2024, 3, 1), None), True),
        ((D(2024, 1, 1), None), (D(2020, 1, 1), D(2024, 1, 1)), False),
        ((D(2024, 1, 1), None), (D(2030, 1, 1), None), True),  # two open-ended intervals always meet
        ((D(2024, 5, 1), D(2024, 6, 1)), (D(2024, 1, 1), None), True),
    ],
)
def test_intervals_are_half_open(a, b, overlap):
    assert intervals_overlap(start_a=a[0], end_a=a[1], start_b=b[0], end_b=b[1]) is overlap
    assert intervals_overlap(start_a=b[0], end_a=b[1], start_b=a[0], end_b=a[1]) is overlap


def test_an_account_may_carry_a_second_meter_only_for_other_registers():
    active = [Interval(key=1, start=D(2020, 1, 1), end=None, registers=frozenset({"PEAK", "FLAT", "VALLEY"}))]
    assert first_overlap(start=D(2024, 1, 1), end=None, existing=active, registers=["REACTIVE"]) is None
    assert first_overlap(start=D(2024, 1, 1), end=None, existing=active, registers=["PEAK"]).key == 1
    # without registers (the meter's own history) any overlap counts
    assert first_overlap(start=D(2024, 1, 1), end=None, existing=active).key == 1


def test_resident_id_check_digit_follows_gb_11643():
    # the standard's worked example
    assert resident_id_check_digit("11010519491231002") == "X"
    assert id_number_problem(id_type="RESIDENT_ID", number="11010519491231002X") is None
    assert "check digit should be X" in id_number_problem(id_type="RESIDENT_ID", number="110105194912310021")
    assert "not a date" in id_number_problem(id_type="RESIDENT_ID", number="110105194913310020")
    assert "17 digits" in id_number_problem(id_type="RESIDENT_ID", number="1101051949")


def test_unified_social_credit_code_check_character():
    first17 = "91110105MA01ABCD2"
    good = first17 + uscc_check_char(first17)
    assert id_number_problem(id_type="USCC", number=good) is None
    bad = first17 + ("0" if good[-1] != "0" else "1")
    assert "check character" in id_number_problem(id_type="USCC", number=bad)
    assert id_number_problem(id_type="PASSPORT", number="E12345678") is None
    assert id_number_problem(id_type="PASSPORT", number="") == "must not be empty"


def test_account_numbers_are_ten_digits():
    assert account_number_problem("1010000001") is None
    assert account_number_problem("101000000") is not None
    assert account_number_problem("10100000A1") is not None


def test_phones():
    assert normalise_phone("+86 139 0101 2345") == "13901012345"
    assert phone_problem("13901012345") is None
    assert phone_problem("010-62345678") is None
    assert phone_problem("12345") is not None


def test_registers_and_defaults():
    assert registers_problem(["TOTAL"]) is None
    assert registers_problem([]) is not None
    assert "TOTAL cannot be combined" in registers_problem(["TOTAL", "PEAK"])
    assert "unknown register" in registers_problem(["NIGHT"])
    assert default_registers(tou_registers=(), large_industry=False) == ["TOTAL"]
    assert default_registers(tou_registers=("VALLEY", "PEAK"), large_industry=False) == ["PEAK", "VALLEY"]
    assert default_registers(tou_registers=("PEAK", "FLAT", "VALLEY"), large_industry=True) == [
        "PEAK", "FLAT", "VALLEY", "REACTIVE"]


def test_readings_must_fit_the_meter():
    assert readings_problem(registers=["TOTAL"], readings={"TOTAL": "123.4"}, digits=6) is None
    assert "no register" in readings_problem(registers=["TOTAL"], readings={"PEAK": "1"}, digits=6)
    assert "between 0 and 9999" in readings_problem(registers=["TOTAL"], readings={"TOTAL": "10000"}, digits=4)


def test_large_industry_needs_capacity_or_demand():
    from decimal import Decimal

    assert "capacity_kva" in account_field_problems(usage_category="LARGE_INDUSTRY", capacity_kva=None,
                                                    contract_demand_kw=None, household_size=None)
    assert account_field_problems(usage_category="LARGE_INDUSTRY", capacity_kva=Decimal(630),
                                  contract_demand_kw=None, household_size=None) == {}
    assert "household_size" in account_field_problems(usage_category="RESIDENTIAL", capacity_kva=None,
                                                      contract_demand_kw=None, household_size=0)
