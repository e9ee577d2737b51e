"""Bank withholding's pure rules: the banks file, a bank account checked and masked, the keys of a batch line."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gridcounter.domain.withholding import (
    BankRulesError,
    MandateRefused,
    bank_rules_from_mapping,
    check_bank_account,
    check_holder,
    line_key,
    line_reference,
    mask_bank_account,
)

RULES = Path(__file__).resolve().parents[3] / "rules" / "banks.toml"


@pytest.fixture(scope="module")
def rules():
    with open(RULES, "rb") as handle:
        return bank_rules_from_mapping(tomllib.load(handle))


def test_the_repositorys_banks_file_loads_with_its_sources(rules):
    assert {"ICBC", "CCB", "ABC", "BOC", "PSBC"} <= set(rules.banks)
    assert all(bank.source for bank in rules.banks.values())
    assert rules.is_success("0000") and not rules.is_success("1001")
    assert rules.failure_words("1001") == ("账户余额不足", "insufficient funds in the bank account")
    assert rules.failure_words("7777") == rules.failure_words("9999")  # a code not listed is "other"


def test_a_bank_account_is_kept_as_digits_and_shown_masked(rules):
    icbc = rules.banks["ICBC"]

    assert check_bank_account(" 6222 0202-0011 2233 445 ", bank=icbc) == "6222020200112233445"
    assert mask_bank_account("6222020200112233445") == "6222 **** 3445"
    assert mask_bank_account("12345678") == "********"


@pytest.mark.parametrize(("typed", "code"), [
    ("", "BANK_ACCOUNT_REQUIRED"), ("62220202001122334x", "BANK_ACCOUNT_NOT_DIGITS"),
    ("６２２２０２０２００１１２２", "BANK_ACCOUNT_NOT_DIGITS"), ("12345678901", "BANK_ACCOUNT_LENGTH"),
    ("12345678901234567890", "BANK_ACCOUNT_LENGTH"),
])
def test_a_bad_bank_account_is_refused_with_its_code(rules, typed, code):
    with pytest.raises(MandateRefused) as refused:
        check_bank_account(typed, bank=rules.banks["ICBC"])
    assert (refused.value.code, refused.value.field) == (code, "bank_account")


def test_the_holders_name_is_trimmed_and_bounded():
    assert check_holder("  王  建国 ") == "王 建国"
    with pytest.raises(MandateRefused):
        check_holder("王" * 61)
    with pytest.raises(MandateRefused):
        check_holder("王\x00")


def test_a_lines_payment_key_and_reference_name_the_batch_and_line():
    assert line_key(batch="ICBC20261206001", line=7) == "withholding:ICBC20261206001:7"
    assert line_reference(batch="ICBC20261206001", line=7) == "ICBC20261206001-00007"
    assert len(line_key(batch="X" * 32, line=999_999_999)) <= 80  # take_payment's key length


@pytest.mark.parametrize(("data", "words"), [
    ({"banks": []}, "no [[banks]]"),
    ({"banks": [{"code": "icbc", "name_zh": "a", "name_en": "a", "account_digits": [12, 19], "source": "s"}]},
     "must be 2 to 12"),
    ({"banks": [{"code": "ICBC", "name_zh": "a", "name_en": "a", "account_digits": [19, 12], "source": "s"}]},
     "account_digits"),
    ({"banks": [{"code": "ICBC", "name_zh": "a", "name_en": "a", "source": "s"}]}, "lacks"),
])
def test_a_bad_banks_file_is_refused_naming_the_entry(data, words):
    with pytest.raises(BankRulesError, match=re.escape(words)):
        bank_rules_from_mapping({"result_codes": {"success": "0000"}, **data})
