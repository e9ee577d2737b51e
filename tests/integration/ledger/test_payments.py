"""Taking payments at any hall of the city, and reversing them."""
from datetime import UTC, date, datetime, timedelta

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
from tests.factories import billing, cities
from tests.factories.billing import AT

pytestmark = pytest.mark.django_db


def pay(two_cities, amount_fen, key, *, account=None, hall=None, clerk=None, channel="CASH", at=AT):
    return take_payment(account=account or two_cities.account, amount_fen=amount_fen, channel=channel,
                        hall=hall or two_cities.binjiang, clerk=clerk or two_cities.clerk, idempotency_key=key, taken_at=at)


def posted_bill(two_cities, period, amount_fen):
    """A posted bill due after the payments of these tests (paid on time: no late-payment penalty; the penalty's
    tests are tests/integration/ledger/test_penalties.py)."""
    bill = billing.bill(account=two_cities.account, period=period, amount_fen=amount_fen, due=date(2026, 4, 20))
    post_bill(bill=bill, created_at=AT)
    return bill


def test_payment_at_another_hall_of_the_city_settles_oldest_bill_first(two_cities):
    january = posted_bill(two_cities, "2026-01", 6000)
    february = posted_bill(two_cities, "2026-02", 5000)

    result = pay(two_cities, 8000, "k-1")  # Binjiang hall; the account's home hall is West Lake

    assert [(a.bill, a.amount_fen) for a in result.allocations] == [(january, 6000), (february, 2000)]
    assert open_bills(two_cities.account) == [(february, 3000)]
    assert result.balance_fen == 3000 == balance_fen(two_cities.account)
    assert result.payment.hall == two_cities.binjiang
    assert result.payment.clerk == two_cities.clerk
    assert not result.replayed


def test_receipt_numbers_count_per_hall_and_business_day(two_cities):
    # 2026-03-31 16:30 UTC is already 2026-04-01 in Shanghai
    late = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
    first = pay(two_cities, 100, "k-1").payment
    second = pay(two_cities, 100, "k-2").payment
    other_hall = pay(two_cities, 100, "k-3", hall=two_cities.west_lake).payment
    next_day = pay(two_cities, 100, "k-4", at=late).payment

    assert first.receipt_number == "HZ02-20260331-000001"
    assert second.receipt_number == "HZ02-20260331-000002"
    assert other_hall.receipt_number == "HZ01-20260331-000001"
    assert next_day.receipt_number == "HZ02-20260401-000001"


def test_surplus_stays_as_credit_and_pays_the_next_bill(two_cities):
    pay(two_cities, 10000, "k-1")
    assert balance_fen(two_cities.account) == -10000

    march = posted_bill(two_cities, "2026-03", 7000)
    applied = apply_credit(account=two_cities.account, created_at=AT)

    assert [(a.bill, a.amount_fen) for a in applied] == [(march, 7000)]
    assert open_bills(two_cities.account) == []
    assert balance_fen(two_cities.account) == -3000


def test_a_retried_payment_books_once(two_cities):
    posted_bill(two_cities, "2026-02", 5000)
    first = pay(two_cities, 5000, "retry-me")
    again = pay(two_cities, 5000, "retry-me", at=AT + timedelta(seconds=5))

    assert again.replayed
    assert again.payment.pk == first.payment.pk
    assert again.payment.receipt_number == first.payment.receipt_number
    assert balance_fen(two_cities.account) == 0


@pytest.mark.parametrize("change", ["amount", "account", "channel"])
def test_same_key_for_a_different_payment_is_refused(two_cities, change):
    pay(two_cities, 5000, "k-1")
    other = cities.customer_account(city=two_cities.hangzhou, home_hall=two_cities.west_lake)
    kwargs = {"amount": {"amount_fen": 5001}, "account": {"account": other}, "channel": {"channel": "CARD"}}[change]

    with pytest.raises(IdempotencyKeyReused, match="k-1"):
        pay(two_cities, **{"amount_fen": 5000, "key": "k-1", **kwargs})
    assert balance_fen(other) == 0
    assert balance_fen(two_cities.account) == -5000


def test_a_hall_of_another_city_is_refused(two_cities):
    with translation.override("en"), pytest.raises(PaymentOutsideCity) as refused:
        pay(two_cities, 5000, "k-1", hall=two_cities.haishu, clerk=two_cities.ningbo_clerk)

    assert str(refused.value) == (
        f"Hall Haishu hall (city Ningbo) cannot take payments for account {two_cities.account.number} of city Hangzhou")
    assert not Payment.objects.filter(account=two_cities.account).exists()


@pytest.mark.parametrize("amount", [0, -100])
def test_zero_or_negative_amount_is_refused(two_cities, amount):
    with pytest.raises(InvalidAmount) as refused:
        pay(two_cities, amount, "k-1")
    assert refused.value.field == "amount"


def test_payment_is_audited_with_clerk_hall_and_receipt(two_cities):
    result = pay(two_cities, 5000, "k-1")

    event = AuditEvent.objects.get(action="PAYMENT_TAKEN", object_id=str(result.payment.pk))
    assert event.username == two_cities.clerk.username
    assert event.hall_id == two_cities.binjiang.pk
    assert event.detail["receipt"] == result.payment.receipt_number
    assert event.detail["amount_fen"] == 5000
    assert result.payment.entry.created_by == two_cities.clerk


def test_non_cash_channels_land_on_their_ledger_accounts(two_cities):
    for channel, ledger_account in [("CARD", "CARD"), ("BANK_WITHHOLDING", "BANK"), ("ONLINE", "ONLINE"),
                                    ("PREPAY_DEPOSIT", "PREPAY_DEPOSIT")]:
        result = pay(two_cities, 100, f"k-{channel}", channel=channel)
        debit = result.payment.entry.postings.get(amount_fen__gt=0)
        assert debit.ledger_account == ledger_account


def test_supervisor_reversal_reopens_the_bill_and_is_a_posting(two_cities):
    bill = posted_bill(two_cities, "2026-02", 5000)
    payment = pay(two_cities, 5000, "k-1").payment

    result = reverse_payment(payment=payment, by=two_cities.supervisor, reason="counterfeit note",
                             reversed_at=AT + timedelta(hours=1))

    payment.refresh_from_db()
    assert payment.status == "REVERSED"
    assert result.reversal.entry.kind == "REVERSAL"
    assert result.reversal.entry.reverses == payment.entry
    assert result.reversal.entry.reason == "counterfeit note"
    assert open_bills(two_cities.account) == [(bill, 5000)]
    assert result.balance_fen == 5000
    assert AuditEvent.objects.get(action="PAYMENT_REVERSED", object_id=str(payment.pk)).reason == "counterfeit note"
    assert check_ledger().ok


def test_reversal_twice_returns_the_first(two_cities):
    payment = pay(two_cities, 5000, "k-1").payment
    first = reverse_payment(payment=payment, by=two_cities.supervisor, reason="wrong account", reversed_at=AT)
    again = reverse_payment(payment=payment, by=two_cities.supervisor, reason="wrong account", reversed_at=AT)

    assert again.replayed
    assert again.reversal.pk == first.reversal.pk
    assert balance_fen(two_cities.account) == 0


def test_reversal_released_bill_is_settled_by_other_credit(two_cities):
    bill = posted_bill(two_cities, "2026-02", 5000)
    first = pay(two_cities, 5000, "k-1").payment
    pay(two_cities, 3000, "k-2")  # credit

    reverse_payment(payment=first, by=two_cities.supervisor, reason="cheque bounced", reversed_at=AT)

    assert open_bills(two_cities.account) == [(bill, 2000)]
    assert balance_fen(two_cities.account) == 2000


def test_reversal_needs_a_reason(two_cities):
    payment = pay(two_cities, 5000, "k-1").payment
    with pytest.raises(ReasonRequired):
        reverse_payment(payment=payment, by=two_cities.supervisor, reason="  ", reversed_at=AT)


def test_reversal_needs_a_supervisor_of_the_city(two_cities):
    payment = pay(two_cities, 5000, "k-1").payment
    with translation.override("en"), pytest.raises(ReversalNotAllowed, match="Hangzhou"):
        reverse_payment(payment=payment, by=two_cities.ningbo_supervisor, reason="x", reversed_at=AT)
    payment.refresh_from_db()
    assert payment.status == "POSTED"
    assert balance_fen(two_cities.account) == -5000
