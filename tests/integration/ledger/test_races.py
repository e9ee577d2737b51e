"""Payments, bill runs and rebills on the same accounts at once: every interleaving settles, none deadlocks.

Each test injects a concurrent use case at a named step of another (tests.factories.races) on real PostgreSQL
row locks, then checks what the counter would see: no bill open beside the customer's credit, every request
answered, the ledger check clean.
"""
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from gridcounter.application import billing, billrun
from gridcounter.application.ledger import balance_fen, check_ledger, open_bills, take_payment
from gridcounter.data.audit.context import acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Role
from tests.factories import org
from tests.factories.cities import BILL_RUN_ACTOR, BILL_RUN_AS_OF, BILL_RUN_PERIOD
from tests.factories.races import Concurrently, run_after, run_before

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite serialises writers on the whole database file; row locks need PostgreSQL"),
]

RUN_AT = datetime(2025, 8, 20, 1, tzinfo=UTC)
PAID_AT = datetime(2025, 8, 20, 3, tzinfo=UTC)


@pytest.fixture
def billed_city(city):
    """Three accounts read monthly to 2025-07-15 (100 kWh a month) and a clerk at the hall."""
    accounts = []
    for _ in range(3):
        account, meter = city.account()
        city.monthly(meter, account, usages=[Decimal(100)] * 19)
        accounts.append(account)
    city.clerk = org.staff("clerk", hall=city.hall, roles=(Role.Code.CLERK,))
    city.accounts = accounts
    return city


def run_bills(engine):
    with acting_as(BILL_RUN_ACTOR):
        return billrun.run_bills(engine=engine, period=BILL_RUN_PERIOD, as_of=BILL_RUN_AS_OF, created_at=RUN_AT)


def paying(city, account, key, amount_fen=10000):
    return Concurrently(lambda: take_payment(account=account, amount_fen=amount_fen, channel="CASH", hall=city.hall,
                                             clerk=city.clerk, idempotency_key=key, taken_at=PAID_AT))


def assert_settled(accounts):
    for account in accounts:
        if balance_fen(account) < 0:
            assert open_bills(account) == [], f"{account.number} holds credit beside an open bill"
    report = check_ledger()
    assert report.ok, [o.message for o in report.offences]


@pytest.mark.parametrize("engine", [billrun.KERNEL, billrun.REFERENCE])
def test_a_payment_while_the_run_writes_settles_the_new_bill(billed_city, engine):
    account = billed_city.accounts[0]
    payment = paying(billed_city, account, "during-the-run")
    seen = []

    # after the bills are written and credit applied, before the run commits
    with run_after("gridcounter.application.billrun._batch._after_posting", lambda: seen.append(payment.start())):
        summary = run_bills(engine)
    result = payment.join()

    assert summary.issued == 3
    assert seen == ["blocked"]  # the payment waited for the run's account lock
    bill = Bill.objects.get(account=account, period=BILL_RUN_PERIOD)
    assert [a.bill_id for a in result.allocations] == [bill.pk]  # and then settled the new bill
    assert_settled(billed_city.accounts)


@pytest.mark.parametrize("engine", [billrun.KERNEL, billrun.REFERENCE])
def test_a_payment_just_before_the_run_locks_is_applied_by_the_run(billed_city, engine):
    account = billed_city.accounts[1]
    payment = paying(billed_city, account, "before-the-lock")
    seen = []

    with run_before("gridcounter.application.ledger.lock_route_accounts", lambda: seen.append(payment.start())):
        run_bills(engine)
    payment.join()

    assert seen == ["done"]
    bill = Bill.objects.get(account=account, period=BILL_RUN_PERIOD)
    assert open_bills(account) == [] and bill.allocations.filter(released_at__isnull=True).exists()
    assert_settled(billed_city.accounts)


def test_a_rebill_racing_eight_payments_never_deadlocks(billed_city):
    run_bills(billrun.KERNEL)
    account = billed_city.accounts[2]
    bill = Bill.objects.get(account=account, period=BILL_RUN_PERIOD, status=Bill.Status.ISSUED)
    payments = [paying(billed_city, account, f"rebill-race-{n}", amount_fen=2000) for n in range(8)]
    seen = []

    def pay_all():
        seen.extend(p.start() for p in payments)

    # the bill and its account are locked; its cancellation is about to be posted
    with run_before("gridcounter.application.ledger.cancel_bill", pay_all):
        with acting_as(BILL_RUN_ACTOR):
            result = billing.rebill(bill=bill, as_of=BILL_RUN_AS_OF, created_at=RUN_AT, reason="corrected reading")
    outcomes = [p.join() for p in payments]  # re-raises a deadlock

    assert seen == ["blocked"] * 8
    assert len({o.payment.receipt_number for o in outcomes}) == 8
    assert result.new_bill.status == Bill.Status.ISSUED
    assert Payment.objects.filter(account=account).count() == 8
    assert_settled(billed_city.accounts)


def test_a_payment_refused_by_the_deadlock_detector_is_run_again(billed_city, caplog):
    run_bills(billrun.KERNEL)
    account = billed_city.accounts[0]
    bill = Bill.objects.get(account=account, period=BILL_RUN_PERIOD)
    holding_bill, account_wanted = threading.Event(), threading.Event()

    def wrong_order():
        # bill, then account: the opposite of the lock order, and not the side the deadlock detector picks
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '20s'")
            cursor.execute("SELECT id FROM billing_bill WHERE id = %s FOR UPDATE", [bill.pk])
            holding_bill.set()
            account_wanted.wait(20)
            cursor.execute("SELECT id FROM registry_account WHERE id = %s FOR UPDATE", [account.pk])

    other = Concurrently(wrong_order)
    other.begin()
    holding_bill.wait(20)
    seen = []

    def want_the_account():
        account_wanted.set()
        seen.append(other.settle())

    with run_after("gridcounter.application.ledger._payments.lock_account", want_the_account):
        result = take_payment(account=account, amount_fen=bill.amount_fen, channel="CASH", hall=billed_city.hall,
                              clerk=billed_city.clerk, idempotency_key="deadlocked-once", taken_at=PAID_AT)
    other.join()

    assert seen == ["blocked"]
    assert "attempt 1 of 5" in caplog.text  # refused once by the deadlock detector, then booked
    assert not result.replayed and [a.bill_id for a in result.allocations] == [bill.pk]
    assert Payment.objects.filter(account=account).count() == 1
    assert_settled(billed_city.accounts)


def test_a_payment_does_not_wait_for_its_city(billed_city):
    city_locked, release = threading.Event(), threading.Event()

    def hold_the_city():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM org_city WHERE id = %s FOR UPDATE", [billed_city.city.pk])
                city_locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_the_city, daemon=True)
    thread.start()
    city_locked.wait(20)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # a wait for the city row would fail here
            result = take_payment(account=billed_city.accounts[0], amount_fen=500, channel="CASH",
                                  hall=billed_city.hall, clerk=billed_city.clerk, idempotency_key="city-busy",
                                  taken_at=PAID_AT)
    finally:
        release.set()
        thread.join(30)

    assert result.payment.amount_fen == 500 and balance_fen(billed_city.accounts[0]) == -500


def test_the_bill_run_and_payments_on_every_account_at_once_settle(billed_city):
    payments = [paying(billed_city, account, f"all-{n}", amount_fen=3000 + n)
                for n, account in enumerate(billed_city.accounts)]
    seen = []
    with run_after("gridcounter.application.billrun._batch._after_posting",
                   lambda: seen.extend(p.start() for p in payments)):
        run_bills(billrun.KERNEL)
    for p in payments:
        p.join()

    assert seen == ["blocked"] * 3
    for n, account in enumerate(billed_city.accounts):
        bill = Bill.objects.get(account=account, period=BILL_RUN_PERIOD)
        paid = sum(a.amount_fen for a in bill.allocations.filter(released_at__isnull=True))
        assert paid == min(bill.amount_fen, 3000 + n), account.number
    assert_settled(billed_city.accounts)


def _a_lock_wait_of_another_process(timeout: float = 60) -> int:
    """The pid of a backend of this database, not this process's, waiting on a row lock (a cluster worker's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() "
                           "AND application_name NOT LIKE 'gridcounter-test-%%'")
            row = cursor.fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError(f"no worker waited on a lock in {timeout} s")


def test_the_cluster_run_settles_payments_that_race_its_workers(billed_city):
    """A Dask worker (another process) comes to lock a route's accounts while a payment holds one of them; more
    payments arrive while the worker holds the others. When all have committed, every bill is settled."""
    from gridcounter.application.billrun import run_bills_cluster

    held, first, rest = billed_city.accounts[1], billed_city.accounts[0], billed_city.accounts[2]
    paid, commit = threading.Event(), threading.Event()

    def a_payment_that_waits_to_commit():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET application_name = 'gridcounter-test-payment'")
            result = take_payment(account=held, amount_fen=40000, channel="CASH", hall=billed_city.hall,
                                  clerk=billed_city.clerk, idempotency_key="cluster-held", taken_at=PAID_AT)
            paid.set()
            assert commit.wait(120), "the test never let the payment commit"
        return result

    holding = Concurrently(a_payment_that_waits_to_commit)
    holding.begin()
    assert paid.wait(30)
    run = Concurrently(_as_bill_run_actor(lambda: run_bills_cluster(
        period=BILL_RUN_PERIOD, as_of=BILL_RUN_AS_OF, created_at=RUN_AT, workers=1)))
    run.begin()
    worker = _a_lock_wait_of_another_process()
    later = [paying(billed_city, account, f"cluster-later-{account.pk}", amount_fen=2500) for account in (first, rest)]
    outcomes = [p.start() for p in later]
    commit.set()
    holding.join()
    summary = run.join(180)
    for p in later:
        p.join()

    assert worker and summary["issued"] == 3 and summary["workers"] == 1
    assert outcomes[0] == "blocked"  # the worker held the route's first account (lock order: by id)
    assert outcomes[1] in {"done", "blocked"}
    bill = Bill.objects.get(account=held, period=BILL_RUN_PERIOD)
    assert open_bills(held) == [] and bill.allocations.filter(released_at__isnull=True).exists()
    for account in (first, rest):
        bill = Bill.objects.get(account=account, period=BILL_RUN_PERIOD)
        paid_fen = sum(a.amount_fen for a in bill.allocations.filter(released_at__isnull=True))
        assert paid_fen == min(bill.amount_fen, 2500), account.number
    assert_settled(billed_city.accounts)


def _as_bill_run_actor(call):
    def acting():
        with acting_as(BILL_RUN_ACTOR):
            return call()
    return acting
