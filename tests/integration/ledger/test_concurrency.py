"""Two counters paying the same account at the same moment, on real PostgreSQL row locks."""
import threading
from datetime import date

import pytest
from django.db import connection, connections

from gridcounter.application.ledger import (
    IdempotencyKeyReused,
    balance_fen,
    check_ledger,
    post_bill,
    take_payment,
)
from gridcounter.data.ledger.models import Payment
from tests.factories import billing, cities
from tests.factories.billing import AT

NOT_YET_DUE = date(2026, 4, 20)  # paid on time: no late-payment penalty (test_penalties.py)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite serialises writers on the whole database file; row locks need PostgreSQL"),
]


def race(*calls):
    """Run the calls in threads released together; return each call's result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = call()
        except Exception as error:  # noqa: BLE001 — the test inspects it
            outcomes[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def pay(two_cities, amount_fen, key, *, account=None, hall=None):
    return lambda: take_payment(account=account or two_cities.account, amount_fen=amount_fen, channel="CASH",
                                hall=hall or two_cities.binjiang, clerk=two_cities.clerk, idempotency_key=key, taken_at=AT)


def test_two_identical_requests_at_once_book_one_payment(two_cities):
    post_bill(bill=billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000, due=NOT_YET_DUE),
              created_at=AT)

    for attempt in range(5):
        key = f"double-click-{attempt}"
        first, second = race(pay(two_cities, 5000, key), pay(two_cities, 5000, key, hall=two_cities.west_lake))

        assert not isinstance(first, Exception), first
        assert not isinstance(second, Exception), second
        assert first.payment.pk == second.payment.pk
        assert sorted([first.replayed, second.replayed]) == [False, True]
    assert Payment.objects.filter(account=two_cities.account).count() == 5
    assert balance_fen(two_cities.account) == 5000 - 5 * 5000
    assert check_ledger().ok


def test_two_different_payments_at_once_both_book_with_distinct_receipts(two_cities):
    post_bill(bill=billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000, due=NOT_YET_DUE),
              created_at=AT)

    first, second = race(pay(two_cities, 3000, "counter-a"), pay(two_cities, 4000, "counter-b"))

    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert {first.payment.receipt_number, second.payment.receipt_number} == {
        "HZ02-20260331-000001", "HZ02-20260331-000002"}
    assert balance_fen(two_cities.account) == 5000 - 7000
    settled = sum(a.amount_fen for r in (first, second) for a in r.allocations)
    assert settled == 5000  # the bill is settled once, never twice
    assert check_ledger().ok


def test_same_key_for_two_accounts_at_once_books_only_one(two_cities):
    other = cities.customer_account(city=two_cities.hangzhou, home_hall=two_cities.west_lake)

    first, second = race(pay(two_cities, 5000, "shared-key"), pay(two_cities, 5000, "shared-key", account=other))

    refused = [o for o in (first, second) if isinstance(o, IdempotencyKeyReused)]
    booked = [o for o in (first, second) if not isinstance(o, Exception)]
    assert len(refused) == 1 and len(booked) == 1
    assert balance_fen(two_cities.account) + balance_fen(other) == -5000
    assert check_ledger().ok
