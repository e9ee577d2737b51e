"""The demo city pays its bills: the bulk payment history is what the counter would have booked, the ledger adds up."""
from datetime import date
from io import StringIO

import pytest
from django.db import transaction
from django.db.models import Q, Sum

from gridcounter.application import demo
from gridcounter.application.ledger import balance_fen, check_ledger, day_summary, take_payment
from gridcounter.data.audit.context import acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import (
    JournalEntry,
    Payment,
    PaymentAllocation,
    PenaltyCharge,
    ReceiptSequence,
)
from tests.factories.cities import PAYING_PERIODS

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 7, 20)
PERIODS = PAYING_PERIODS


def _rows(accounts) -> dict:
    """Everything a payment writes, without ids and the history versions' wall-clock time."""
    payments = Payment.objects.filter(account__in=accounts).select_related("account", "hall", "entry")
    receipt_of = {p.pk: p.receipt_number for p in payments}
    entry_of = {p.entry_id: p.receipt_number for p in payments}
    entries = [
        (e.payment.receipt_number, e.kind, e.account_id, e.effective_date, e.created_at, e.description, e.source_type,
         e.source_id, e.reverses_id, e.idempotency_key, e.created_by_id, e.hall_id, e.reason,
         sorted((p.ledger_account, p.account_id, p.amount_fen) for p in e.postings.all()))
        for e in JournalEntry.objects.filter(kind="PAYMENT", account__in=accounts).select_related("payment")
        .prefetch_related("postings")]
    fields = ("account_id", "amount_fen", "channel", "hall_id", "clerk_id", "receipt_number", "idempotency_key",
              "taken_at", "taken_date", "status")
    history_fields = ("history_type", "history_user_id", "history_hall_id", "history_channel", "history_change_reason")
    allocation_fields = ("bill_id", "amount_fen", "allocated_at", "released_at", "release_reason")
    events = [(e.action, receipt_of.get(int(e.object_id)) if e.action == "PAYMENT_TAKEN" else entry_of[int(e.object_id)],
               e.occurred_at, e.user_id, e.username, e.hall_id, e.channel, e.reason, e.detail, e.ip_address)
              for e in AuditEvent.objects.filter(action__in=["PAYMENT_TAKEN", "LEDGER_ENTRY_POSTED"],
                                                 object_type__in=["ledger.Payment", "ledger.JournalEntry"])
              .exclude(object_type="ledger.JournalEntry", object_id__in=[
                  str(i) for i in JournalEntry.objects.exclude(kind="PAYMENT").values_list("id", flat=True)])
              .order_by("id")]
    return {
        "payments": sorted(tuple(getattr(p, f) for f in fields) for p in payments),
        "entries": sorted(entries),
        "allocations": sorted((receipt_of[a.payment_id], *(getattr(a, f) for f in allocation_fields))
                              for a in PaymentAllocation.objects.filter(payment__account__in=accounts)),
        "payment_history": sorted(tuple(getattr(h, f) for f in fields + history_fields)
                                  for h in Payment.history.filter(account__in=accounts)),
        "allocation_history": sorted((receipt_of[h.payment_id], *(getattr(h, f) for f in allocation_fields
                                                                 + history_fields))
                                     for h in PaymentAllocation.history.filter(payment_id__in=receipt_of)),
        "events": events,
        "receipt_sequences": sorted(ReceiptSequence.objects.filter(hall__city_id=accounts[0].city_id).values_list(
            "hall__code", "business_date", "last_number")),
        "balances": {a.number: balance_fen(a) for a in accounts},
    }


def _counts(city: dict) -> tuple[int, int, int]:
    """The city's payments, audit events (of its halls, payments and entries, and the demo step's own record) and
    allocations."""
    accounts = city["accounts"]
    payments = [str(pk) for pk in Payment.objects.filter(account__in=accounts).values_list("pk", flat=True)]
    entries = [str(pk) for pk in JournalEntry.objects.filter(account__in=accounts).values_list("pk", flat=True)]
    events = AuditEvent.objects.filter(Q(hall__in=city["halls"]) | Q(object_type="ledger.Payment", object_id__in=payments)
                                       | Q(object_type="ledger.JournalEntry", object_id__in=entries)
                                       | Q(action="DEMO_PAYMENTS_LOADED"))
    return (len(payments), events.count(), PaymentAllocation.objects.filter(payment__account__in=accounts).count())


def test_bulk_history_writes_exactly_what_take_payment_writes(paying_city):
    accounts = paying_city["accounts"]
    planned, picked = demo.plan_history(accounts=accounts, as_of=AS_OF, arrears_share=0.25,
                                                 credit_share=0.25)
    channels = {p.channel for p in planned}
    assert channels == {"BANK_WITHHOLDING", "ONLINE", "CASH", "CARD"}
    assert {p.hall.code for p in planned if p.channel in ("CASH", "CARD")} == {"SFS-CITY", "SFS-COUNTY", "SFS-RURAL"}
    assert picked["arrears"] and picked["credit"]
    with transaction.atomic():
        assert demo.book_payments(planned) == len(planned)
        bulk = _rows(accounts)
        transaction.set_rollback(True)
    assert not Payment.objects.filter(account__in=accounts).exists()
    for p in planned:
        with acting_as(demo.payment_actor(p.channel)):
            take_payment(account=p.account, amount_fen=p.amount_fen, channel=p.channel, hall=p.hall, clerk=p.clerk,
                         idempotency_key=p.idempotency_key, taken_at=p.taken_at)
    real = _rows(accounts)
    for name in real:
        assert bulk[name] == real[name], name
    assert len(bulk["payments"]) == len(planned) and len(bulk["events"]) == 2 * len(planned)


def test_demo_step_pays_the_history_keeps_the_ledger_exact_and_fills_today(paying_city):
    accounts = paying_city["accounts"]
    out = StringIO()
    demo.build_payments(as_of=AS_OF, stdout=out)
    assert "payments of the bill history" in out.getvalue() and "taken today" in out.getvalue()
    report = check_ledger()
    assert report.ok, report.offences[:3]
    owed = {}
    for account in accounts:
        billed = Bill.objects.filter(account=account, status="ISSUED").aggregate(t=Sum("amount_fen"))["t"]
        paid = Payment.objects.filter(account=account, status="POSTED").aggregate(t=Sum("amount_fen"))["t"] or 0
        # a payment taken today that cleared an overdue bill charged its late-payment penalty
        penalties = PenaltyCharge.objects.filter(account=account).aggregate(t=Sum("amount_fen"))["t"] or 0
        assert balance_fen(account) == billed + penalties - paid
        owed[account.number] = billed + penalties - paid
    # withholding accounts paid every bill on its due date, before today
    bank = [a for a in accounts if a.bank_withholding]
    withheld = Payment.objects.filter(account__in=bank, channel="BANK_WITHHOLDING").select_related("account")
    assert withheld.count() == len(bank) * len(PERIODS)
    assert all(p.taken_date == Bill.objects.get(account=p.account, period=p.idempotency_key[-7:]).due_date
               for p in withheld)
    # nearly everyone is settled up to last month; last month's bill is open for some; nobody owes the half year
    full_year = sum(b.amount_fen for b in Bill.objects.filter(account=accounts[1]))
    assert sum(1 for v in owed.values() if v <= 0) >= len(accounts) // 3
    assert max(owed.values()) < full_year
    # today: several halls, clerks and channels on the supervisor's day view
    summary = day_summary(halls=paying_city["halls"], day=AS_OF)
    assert {h.hall.code for h in summary.halls} == {"SFS-CITY", "SFS-COUNTY", "SFS-RURAL"}
    assert len({c.username for h in summary.halls for c, _t in h.clerks if c is not None}) == 3
    today = Payment.objects.filter(account__in=accounts, taken_date=AS_OF)
    assert {"CASH", "CARD"} <= set(today.values_list("channel", flat=True))
    assert today.count() >= 5
    assert not Payment.objects.filter(account__in=accounts, taken_date__gt=AS_OF).exists()
    # a second run adds nothing
    counts = _counts(paying_city)
    again = StringIO()
    demo.build_payments(as_of=AS_OF, stdout=again)
    assert "nothing to do" in again.getvalue()
    assert _counts(paying_city) == counts
