"""Property, over the real database and through the use cases: whatever readings come in, however they are
billed, and whatever payments, retried payments and reversals follow, an account owes exactly its issued
bills and the late-payment penalties charged on them minus its payments kept, and the ledger's debits equal its
credits."""
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridcounter.application.billrun import run_bills
from gridcounter.application.ledger import balance_fen, check_ledger, reverse_payment, take_payment
from gridcounter.application.readings import submit_reading
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import Payment, Posting
from gridcounter.data.org.models import Role

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Asia/Shanghai")
ACTOR = Actor(reason="property test", channel="SYSTEM")

read = st.tuples(st.just("read"), st.integers(min_value=0, max_value=900))  # kWh of the next month
pay = st.tuples(st.just("pay"), st.integers(min_value=1, max_value=60_000), st.booleans())  # fen, retried
reverse = st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=20))  # which payment
steps = st.lists(st.one_of(read, read, pay, reverse), min_size=1, max_size=14)


@pytest.fixture
def metered(city):
    """The billing city's first account, metered from 2024-12-01, with a clerk and a supervisor at its hall."""
    account, meter = city.account(installed=date(2024, 12, 1))
    return account, meter, city.hall, city.staff("p_clerk", Role.Code.CLERK), city.staff("p_supervisor",
                                                                                         Role.Code.SUPERVISOR)


def at(day: date) -> datetime:
    return datetime.combine(day, time(10), TZ)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_balance_is_bills_minus_payments_and_debits_equal_credits(metered, steps):
    account, meter, hall, clerk, supervisor = metered
    savepoint = transaction.savepoint()
    try:
        with acting_as(ACTOR):
            submit_reading(meter=meter, register="TOTAL", read_at=at(date(2025, 1, 15)), value=Decimal(1000),
                           source="AMI", actor=ACTOR, received_at=at(date(2025, 1, 15)))
            day, value, payments, n = date(2025, 1, 15), Decimal(1000), [], 0
            for step in steps:
                n += 1
                moment = at(day) + timedelta(hours=n)
                if step[0] == "read":
                    day = date(day.year + day.month // 12, day.month % 12 + 1, 15)
                    value += step[1]
                    moment = at(day)
                    submit_reading(meter=meter, register="TOTAL", read_at=moment, value=value, source="AMI",
                                   actor=ACTOR, received_at=moment)
                    run_bills(period=f"{day:%Y-%m}", as_of=day + timedelta(days=3),
                              created_at=moment.astimezone(UTC) + timedelta(days=3))
                elif step[0] == "pay":
                    for _ in range(2 if step[2] else 1):  # a retried request books once
                        result = take_payment(account=account, amount_fen=step[1], channel="CASH", hall=hall,
                                              clerk=clerk, idempotency_key=f"p-{n}", taken_at=moment)
                    payments.append(result.payment)
                elif payments:
                    payment = payments[step[1] % len(payments)]
                    reverse_payment(payment=payment, by=supervisor, reason="customer's bank recalled it",
                                    reversed_at=moment)

        issued = Bill.objects.filter(account=account, status=Bill.Status.ISSUED).aggregate(
            total=Sum("amount_fen"))["total"] or 0
        kept = Payment.objects.filter(account=account, status=Payment.Status.POSTED).aggregate(
            total=Sum("amount_fen"))["total"] or 0
        # late-payment penalties charged when a payment cleared an overdue bill, less those dropped with their bill
        penalties = Posting.objects.filter(account=account, ledger_account="RECEIVABLE", entry__kind__in=[
            "PENALTY", "PENALTY_WAIVER"]).aggregate(total=Sum("amount_fen"))["total"] or 0
        assert penalties >= 0
        assert balance_fen(account) == issued + penalties - kept
        assert Payment.objects.filter(account=account).count() == len({p.pk for p in payments})
        debits = Posting.objects.filter(amount_fen__gt=0).aggregate(total=Sum("amount_fen"))["total"] or 0
        credits = Posting.objects.filter(amount_fen__lt=0).aggregate(total=Sum("amount_fen"))["total"] or 0
        assert debits == -credits
        report = check_ledger()
        assert report.ok, report.offences
    finally:
        transaction.savepoint_rollback(savepoint)
