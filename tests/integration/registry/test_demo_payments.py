"""The demo city pays its bills: the bulk payment history is what the counter would have booked, the ledger adds up."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.db import transaction
from django.db.models import Sum

from gridcounter.application import demo
from gridcounter.application.ledger import balance_fen, check_ledger, day_summary, post_bills, take_payment
from gridcounter.application.registry import ensure_roles
from gridcounter.data.audit.context import acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, Payment, PaymentAllocation, ReceiptSequence
from gridcounter.data.org.models import City, Company, Hall, StaffUser
from gridcounter.data.registry.models import Account, Customer, Premise

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 7, 20)
PERIODS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]


@pytest.fixture
def city(db):
    """A small demo city: three halls with a clerk each, 40 accounts (a third on withholding), six months billed."""
    company = Company.objects.create(code="DEMO", name="示范供电公司")
    city = City.objects.create(company=company, code="SFS", name="示范市", province="BJ")
    roles = ensure_roles()
    halls = [Hall.objects.create(city=city, code=code, name=code, kind=kind)
             for code, kind in (("SFS-CITY", "CITY"), ("SFS-COUNTY", "COUNTY"), ("SFS-RURAL", "RURAL"))]
    for hall in halls:
        clerk = StaffUser.objects.create(username=f"clerk_{hall.kind.lower()}", display_name="柜员", hall=hall)
        clerk.roles.set([roles["CLERK"]])
    accounts = []
    for n in range(40):
        customer = Customer.objects.create(name=f"客户{n}", id_type="RESIDENT_ID", id_number=f"1101{n:014d}")
        premise = Premise.objects.create(city=city, address=f"人民路{n}号")
        accounts.append(Account.objects.create(
            number=f"1019{n:06d}", customer=customer, premise=premise, city=city, home_hall=halls[n % 3],
            usage_category="RESIDENTIAL", tariff_id="BJ-RES-LT1KV", voltage="LV_220V", bank_withholding=n % 3 == 0))
    for period in PERIODS:
        year, month = (int(p) for p in period.split("-"))
        issued = date(year, month, 28)
        bills = [Bill.objects.create(
            account=account, period=period, start_date=date(year, month, 1), end_date=issued,
            status=Bill.Status.ISSUED, tariff_id="BJ-RES-LT1KV", kwh=Decimal("200.00"),
            amount_fen=9000 + 137 * n + 1000 * month, issued_date=issued, due_date=issued + timedelta(days=15),
            created_at=datetime(year, month, 28, 1, tzinfo=UTC)) for n, account in enumerate(accounts)]
        for bill in bills:
            bill.account = next(a for a in accounts if a.pk == bill.account_id)
        post_bills(bills=bills, created_at=datetime(year, month, 28, 1, tzinfo=UTC))
    return {"accounts": accounts, "halls": halls}


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
        "receipt_sequences": sorted(ReceiptSequence.objects.values_list("hall__code", "business_date", "last_number")),
        "balances": {a.number: balance_fen(a) for a in accounts},
    }


def test_bulk_history_writes_exactly_what_take_payment_writes(city):
    accounts = city["accounts"]
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
    assert not Payment.objects.exists()
    for p in planned:
        with acting_as(demo.payment_actor(p.channel)):
            take_payment(account=p.account, amount_fen=p.amount_fen, channel=p.channel, hall=p.hall, clerk=p.clerk,
                         idempotency_key=p.idempotency_key, taken_at=p.taken_at)
    real = _rows(accounts)
    for name in real:
        assert bulk[name] == real[name], name
    assert len(bulk["payments"]) == len(planned) and len(bulk["events"]) == 2 * len(planned)


def test_demo_step_pays_the_history_keeps_the_ledger_exact_and_fills_today(city):
    accounts = city["accounts"]
    out = StringIO()
    demo.build_payments(as_of=AS_OF, stdout=out)
    assert "payments of the bill history" in out.getvalue() and "taken today" in out.getvalue()
    report = check_ledger()
    assert report.ok, report.offences[:3]
    owed = {}
    for account in accounts:
        billed = Bill.objects.filter(account=account, status="ISSUED").aggregate(t=Sum("amount_fen"))["t"]
        paid = Payment.objects.filter(account=account, status="POSTED").aggregate(t=Sum("amount_fen"))["t"] or 0
        assert balance_fen(account) == billed - paid
        owed[account.number] = billed - paid
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
    summary = day_summary(halls=city["halls"], day=AS_OF)
    assert {h.hall.code for h in summary.halls} == {"SFS-CITY", "SFS-COUNTY", "SFS-RURAL"}
    assert len({c.username for h in summary.halls for c, _t in h.clerks if c is not None}) == 3
    today = Payment.objects.filter(taken_date=AS_OF)
    assert {"CASH", "CARD"} <= set(today.values_list("channel", flat=True))
    assert today.count() >= 5
    assert not Payment.objects.filter(taken_date__gt=AS_OF).exists()
    # a second run adds nothing
    counts = (Payment.objects.count(), AuditEvent.objects.count(), PaymentAllocation.objects.count())
    again = StringIO()
    demo.build_payments(as_of=AS_OF, stdout=again)
    assert "nothing to do" in again.getvalue()
    assert (Payment.objects.count(), AuditEvent.objects.count(), PaymentAllocation.objects.count()) == counts
