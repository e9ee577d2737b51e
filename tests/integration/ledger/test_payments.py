"""Taking payments at any hall of the city, and reversing them."""
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from gridcounter.application.ledger import (
    IdempotencyKeyReused,
    InvalidAmount,
    PaymentOutsideCity,
    ReasonRequired,
    ReversalNotAllowed,
    apply_credit,
    balance_fen,
    check_ledger,
    open_bills,
    post_bill,
    reverse_payment,
    take_payment,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import Payment

from . import factories as f
from .factories import AT

pytestmark = pytest.mark.django_db


def pay(world, amount_fen, key, *, account=None, hall=None, clerk=None, channel="CASH", at=AT):
    return take_payment(account=account or world.account, amount_fen=amount_fen, channel=channel,
                        hall=hall or world.binjiang, clerk=clerk or world.clerk, idempotency_key=key, taken_at=at)


def posted_bill(world, period, amount_fen):
    bill = f.bill(account=world.account, period=period, amount_fen=amount_fen)
    post_bill(bill=bill, created_at=AT)
    return bill


def test_payment_at_another_hall_of_the_city_settles_oldest_bill_first(world):
    january = posted_bill(world, "2026-01", 6000)
    february = posted_bill(world, "2026-02", 5000)

    result = pay(world, 8000, "k-1")  # Binjiang hall; the account's home hall is West Lake

    assert [(a.bill, a.amount_fen) for a in result.allocations] == [(january, 6000), (february, 2000)]
    assert open_bills(world.account) == [(february, 3000)]
    assert result.balance_fen == 3000 == balance_fen(world.account)
    assert result.payment.hall == world.binjiang
    assert result.payment.clerk == world.clerk
    assert not result.replayed


def test_receipt_numbers_count_per_hall_and_business_day(world):
    # 2026-03-31 16:30 UTC is already 2026-04-01 in Shanghai
    late = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
    first = pay(world, 100, "k-1").payment
    second = pay(world, 100, "k-2").payment
    other_hall = pay(world, 100, "k-3", hall=world.west_lake).payment
    next_day = pay(world, 100, "k-4", at=late).payment

    assert first.receipt_number == "HZ02-20260331-000001"
    assert second.receipt_number == "HZ02-20260331-000002"
    assert other_hall.receipt_number == "HZ01-20260331-000001"
    assert next_day.receipt_number == "HZ02-20260401-000001"


def test_surplus_stays_as_credit_and_pays_the_next_bill(world):
    pay(world, 10000, "k-1")
    assert balance_fen(world.account) == -10000

    march = posted_bill(world, "2026-03", 7000)
    applied = apply_credit(account=world.account, created_at=AT)

    assert [(a.bill, a.amount_fen) for a in applied] == [(march, 7000)]
    assert open_bills(world.account) == []
    assert balance_fen(world.account) == -3000


def test_a_retried_payment_books_once(world):
    posted_bill(world, "2026-02", 5000)
    first = pay(world, 5000, "retry-me")
    again = pay(world, 5000, "retry-me", at=AT + timedelta(seconds=5))

    assert again.replayed
    assert again.payment.pk == first.payment.pk
    assert again.payment.receipt_number == first.payment.receipt_number
    assert balance_fen(world.account) == 0


@pytest.mark.parametrize("change", ["amount", "account", "channel"])
def test_same_key_for_a_different_payment_is_refused(world, change):
    pay(world, 5000, "k-1")
    other = f.account(city=world.hangzhou, home_hall=world.west_lake)
    kwargs = {"amount": {"amount_fen": 5001}, "account": {"account": other}, "channel": {"channel": "CARD"}}[change]

    with pytest.raises(IdempotencyKeyReused, match="k-1"):
        pay(world, **{"amount_fen": 5000, "key": "k-1", **kwargs})
    assert balance_fen(other) == 0
    assert balance_fen(world.account) == -5000


def test_a_hall_of_another_city_is_refused(world):
    with translation.override("en"), pytest.raises(PaymentOutsideCity) as refused:
        pay(world, 5000, "k-1", hall=world.haishu, clerk=world.ningbo_clerk)

    assert str(refused.value) == (
        f"Hall Haishu hall (city Ningbo) cannot take payments for account {world.account.number} of city Hangzhou")
    assert not Payment.objects.filter(account=world.account).exists()


@pytest.mark.parametrize("amount", [0, -100])
def test_zero_or_negative_amount_is_refused(world, amount):
    with pytest.raises(InvalidAmount) as refused:
        pay(world, amount, "k-1")
    assert refused.value.field == "amount"


def test_payment_is_audited_with_clerk_hall_and_receipt(world):
    result = pay(world, 5000, "k-1")

    event = AuditEvent.objects.get(action="PAYMENT_TAKEN", object_id=str(result.payment.pk))
    assert event.username == world.clerk.username
    assert event.hall_id == world.binjiang.pk
    assert event.detail["receipt"] == result.payment.receipt_number
    assert event.detail["amount_fen"] == 5000
    assert result.payment.entry.created_by == world.clerk


def test_non_cash_channels_land_on_their_ledger_accounts(world):
    for channel, ledger_account in [("CARD", "CARD"), ("BANK_WITHHOLDING", "BANK"), ("ONLINE", "ONLINE"),
                                    ("PREPAY_DEPOSIT", "PREPAY_DEPOSIT")]:
        result = pay(world, 100, f"k-{channel}", channel=channel)
        debit = result.payment.entry.postings.get(amount_fen__gt=0)
        assert debit.ledger_account == ledger_account


def test_supervisor_reversal_reopens_the_bill_and_is_a_posting(world):
    bill = posted_bill(world, "2026-02", 5000)
    payment = pay(world, 5000, "k-1").payment

    result = reverse_payment(payment=payment, supervisor=world.supervisor, reason="counterfeit note",
                             reversed_at=AT + timedelta(hours=1))

    payment.refresh_from_db()
    assert payment.status == "REVERSED"
    assert result.reversal.entry.kind == "REVERSAL"
    assert result.reversal.entry.reverses == payment.entry
    assert result.reversal.entry.reason == "counterfeit note"
    assert open_bills(world.account) == [(bill, 5000)]
    assert result.balance_fen == 5000
    assert AuditEvent.objects.get(action="PAYMENT_REVERSED", object_id=str(payment.pk)).reason == "counterfeit note"
    assert check_ledger().ok


def test_reversal_twice_returns_the_first(world):
    payment = pay(world, 5000, "k-1").payment
    first = reverse_payment(payment=payment, supervisor=world.supervisor, reason="wrong account", reversed_at=AT)
    again = reverse_payment(payment=payment, supervisor=world.supervisor, reason="wrong account", reversed_at=AT)

    assert again.replayed
    assert again.reversal.pk == first.reversal.pk
    assert balance_fen(world.account) == 0


def test_reversal_released_bill_is_settled_by_other_credit(world):
    bill = posted_bill(world, "2026-02", 5000)
    first = pay(world, 5000, "k-1").payment
    pay(world, 3000, "k-2")  # credit

    reverse_payment(payment=first, supervisor=world.supervisor, reason="cheque bounced", reversed_at=AT)

    assert open_bills(world.account) == [(bill, 2000)]
    assert balance_fen(world.account) == 2000


def test_reversal_needs_a_reason(world):
    payment = pay(world, 5000, "k-1").payment
    with pytest.raises(ReasonRequired):
        reverse_payment(payment=payment, supervisor=world.supervisor, reason="  ", reversed_at=AT)


@pytest.mark.parametrize("who", ["clerk", "ningbo_supervisor"])
def test_reversal_needs_a_supervisor_of_the_city(world, who):
    payment = pay(world, 5000, "k-1").payment
    with translation.override("en"), pytest.raises(ReversalNotAllowed, match="Hangzhou"):
        reverse_payment(payment=payment, supervisor=getattr(world, who), reason="x", reversed_at=AT)
    payment.refresh_from_db()
    assert payment.status == "POSTED"
    assert balance_fen(world.account) == -5000
