"""Ledger rules without a database: yuan input, balanced entries, allocation (the penalty: test_penalty.py)."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcounter.domain.ledger import (
    InvalidAmount,
    UnbalancedEntry,
    allocate_oldest_first,
    bill_lines,
    bill_posting_template,
    check_balanced,
    format_fen,
    opposite_lines,
    parse_yuan_amount,
    payment_lines,
    receivable_balance,
    unbalanced_entries,
    yuan_to_fen,
)

# --- yuan and fen -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fen"), [("123.45", 12345), ("0.01", 1), ("7", 700), ("1.50", 150),
                                           ("１２３．４５", 12345), ("007.5", 750), ("100000000", 10_000_000_000)])
def test_typed_amounts_become_fen(text, fen):
    assert parse_yuan_amount(text) == fen


@pytest.mark.parametrize(("text", "code"), [("1.234", "TOO_MANY_DECIMALS"), ("0", "NOT_POSITIVE"),
                                            ("-3.00", "NOT_POSITIVE"), ("12,5", "NOT_A_NUMBER"), ("", "REQUIRED"),
                                            ("NaN", "NOT_A_NUMBER"), (1.5, "FLOAT"), ("1e12", "TOO_LARGE"),
                                            (True, "FLOAT"), (100, "FLOAT"), ("1_000", "NOT_A_NUMBER"),
                                            (" 1.50 ", "NOT_A_NUMBER"), ("1.500", "TOO_MANY_DECIMALS"),
                                            ("+5", "NOT_A_NUMBER"), ("١٢٣", "NOT_A_NUMBER"),
                                            ("100000000.01", "TOO_LARGE")])
def test_bad_typed_amounts_are_refused_naming_the_field(text, code):
    with pytest.raises(InvalidAmount) as refused:
        parse_yuan_amount(text, field="amount")
    assert refused.value.field == "amount"
    assert refused.value.code == code


def test_rounding_is_half_up_at_the_fen():
    assert yuan_to_fen(Decimal("0.005")) == 1
    assert yuan_to_fen(Decimal("0.015")) == 2  # banker's rounding would give 2 too; 0.025 tells them apart
    assert yuan_to_fen(Decimal("0.025")) == 3
    assert yuan_to_fen(Decimal("-0.005")) == -1


def test_floats_are_never_money():
    with pytest.raises(TypeError):
        yuan_to_fen(0.1)


def test_fen_print_as_yuan():
    assert format_fen(12345) == "123.45"
    assert format_fen(-5) == "-0.05"
    assert format_fen(0) == "0.00"


# --- entries ----------------------------------------------------------------------------------------------


def test_unbalanced_entries_are_refused():
    with pytest.raises(UnbalancedEntry, match=r"\+1 fen"):
        check_balanced([("RECEIVABLE", "A1", 101), ("ENERGY_REVENUE", None, -100)])
    with pytest.raises(UnbalancedEntry):
        check_balanced([("RECEIVABLE", "A1", 0)])
    with pytest.raises(UnbalancedEntry):
        check_balanced([("RECEIVABLE", "A1", Decimal("1.00")), ("ENERGY_REVENUE", None, Decimal("-1.00"))])


def test_the_bill_runs_postings_are_the_ledger_rules_and_each_batch_is_checked_as_one_entry_is():
    import polars as pl

    template = bill_posting_template()
    for amount in (1, 12345, 0):
        expected = bill_lines(account="A1", amount_fen=amount)
        assert [(code, "A1" if customer else None, sign * amount) for code, customer, sign in template] == expected
    postings = pl.DataFrame({"entry_id": [0, 0, 1, 1, 2], "amount_fen": [500, -500, 700, -699, 10]})
    assert unbalanced_entries(postings) == [(1, 2, 1), (2, 1, 10)]  # as check_balanced refuses each
    with pytest.raises(UnbalancedEntry):
        check_balanced([("RECEIVABLE", "A1", 700), ("ENERGY_REVENUE", None, -699)])
    assert unbalanced_entries(postings.filter(pl.col("entry_id") == 0)) == []


def test_channels_land_on_their_ledger_accounts():
    assert payment_lines(account="A1", amount_fen=500, channel="BANK_WITHHOLDING") == [
        ("BANK", None, 500), ("RECEIVABLE", "A1", -500)]


events = st.lists(
    st.tuples(st.sampled_from(["BILL", "PAYMENT", "REVERSE_LAST_PAYMENT"]), st.sampled_from(["A1", "A2"]),
              st.integers(min_value=1, max_value=10_000_000),
              st.sampled_from(["CASH", "CARD", "PREPAY_DEPOSIT", "BANK_WITHHOLDING", "ONLINE"])),
    max_size=40,
)


@given(events)
def test_balance_is_bills_minus_payments_and_debits_equal_credits(history):
    lines = []
    billed = {"A1": 0, "A2": 0}
    paid = {"A1": 0, "A2": 0}
    last_payment: dict = {}
    for what, account, amount, channel in history:
        if what == "BILL":
            entry = bill_lines(account=account, amount_fen=amount)
            billed[account] += amount
        elif what == "PAYMENT":
            entry = payment_lines(account=account, amount_fen=amount, channel=channel)
            paid[account] += amount
            last_payment[account] = (entry, amount)
        elif account in last_payment:
            original, original_amount = last_payment.pop(account)
            entry = opposite_lines(original)
            paid[account] -= original_amount
        else:
            continue
        check_balanced(entry)
        lines += entry

    assert sum(amount for _l, _a, amount in lines if amount > 0) == -sum(amount for _l, _a, amount in lines if amount < 0)
    for account in ("A1", "A2"):
        assert receivable_balance(lines, account=account) == billed[account] - paid[account]


# --- allocation -------------------------------------------------------------------------------------------


def test_oldest_bill_is_paid_first_and_surplus_is_credit():
    allocations, surplus = allocate_oldest_first(amount_fen=9000, open_items=[("jan", 6000), ("feb", 5000)])
    assert allocations == [("jan", 6000), ("feb", 3000)]
    assert surplus == 0

    allocations, surplus = allocate_oldest_first(amount_fen=12000, open_items=[("jan", 6000), ("feb", 5000)])
    assert allocations == [("jan", 6000), ("feb", 5000)]
    assert surplus == 1000


@given(st.integers(min_value=0, max_value=10**9), st.lists(st.integers(min_value=0, max_value=10**7), max_size=12))
def test_allocation_never_over_pays_and_loses_nothing(amount, outstanding):
    items = list(enumerate(outstanding))
    allocations, surplus = allocate_oldest_first(amount_fen=amount, open_items=items)

    assert sum(share for _k, share in allocations) + surplus == amount
    assert all(0 < share <= outstanding[key] for key, share in allocations)
    assert surplus == 0 or all(share == outstanding[key] for key, share in allocations)
    paid_keys = [key for key, _s in allocations]
    assert paid_keys == sorted(paid_keys)
