"""Posting bills, cancellations and adjustments; balances and open bills; the ledger is append-only."""
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied

from gridcounter.application.ledger import (
    BillNotIssued,
    BillNotPosted,
    IdempotencyConflict,
    InvalidPosting,
    ReasonRequired,
    UnbalancedEntry,
    apply_credit,
    balance_fen,
    cancel_bill,
    open_bills,
    post_adjustment,
    post_bill,
    post_entry,
    post_rebill_difference,
    take_payment,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, Posting
from tests.factories import billing
from tests.factories.billing import AT

pytestmark = pytest.mark.django_db


def pay(two_cities, amount_fen, key, *, account=None, hall=None, clerk=None, at=AT):
    return take_payment(account=account or two_cities.account, amount_fen=amount_fen, channel="CASH",
                        hall=hall or two_cities.binjiang, clerk=clerk or two_cities.clerk, idempotency_key=key, taken_at=at)


def test_a_posted_bill_is_owed_and_open(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=12345)

    entry = post_bill(bill=bill, created_at=AT)

    assert balance_fen(two_cities.account) == 12345
    assert open_bills(two_cities.account) == [(bill, 12345)]
    assert sorted((p.ledger_account, p.amount_fen) for p in entry.postings.all()) == [
        ("ENERGY_REVENUE", -12345), ("RECEIVABLE", 12345)]


def test_a_bill_posts_once(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000)

    first = post_bill(bill=bill, created_at=AT)
    again = post_bill(bill=bill, created_at=AT + timedelta(hours=1))

    assert again.pk == first.pk
    assert balance_fen(two_cities.account) == 5000


def test_a_held_bill_is_not_posted(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000, status=Bill.Status.HELD)

    with pytest.raises(BillNotIssued):
        post_bill(bill=bill, created_at=AT)
    assert balance_fen(two_cities.account) == 0


def test_unbalanced_entry_is_refused_and_nothing_written(two_cities):
    with pytest.raises(UnbalancedEntry, match=r"\+1 fen"):
        post_entry(kind="ADJUSTMENT", account=two_cities.account, effective_date=date(2026, 3, 31), created_at=AT,
                   description="typo", postings=[("RECEIVABLE", two_cities.account, 101), ("ADJUSTMENT", None, -100)])
    assert not JournalEntry.objects.filter(account=two_cities.account).exists()


def test_receivable_posting_must_name_the_account(two_cities):
    with pytest.raises(InvalidPosting):
        post_entry(kind="ADJUSTMENT", account=two_cities.account, effective_date=date(2026, 3, 31), created_at=AT,
                   description="x", postings=[("RECEIVABLE", None, 100), ("ADJUSTMENT", None, -100)])


def test_same_key_different_entry_is_a_conflict(two_cities):
    post_adjustment(account=two_cities.account, amount_fen=500, effective_date=date(2026, 3, 31), created_at=AT,
                    description="Meter test fee", reason="customer asked for a test", idempotency_key="adj-1")
    again = post_adjustment(account=two_cities.account, amount_fen=500, effective_date=date(2026, 3, 31), created_at=AT,
                            description="Meter test fee", reason="retry", idempotency_key="adj-1")
    assert balance_fen(two_cities.account) == 500
    assert again.idempotency_key == "adj-1"

    with pytest.raises(IdempotencyConflict):
        post_adjustment(account=two_cities.account, amount_fen=700, effective_date=date(2026, 3, 31), created_at=AT,
                        description="Meter test fee", reason="retry", idempotency_key="adj-1")
    assert balance_fen(two_cities.account) == 500


def test_entries_and_postings_are_never_changed_or_deleted(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000)
    entry = post_bill(bill=bill, created_at=AT)
    posting = entry.postings.first()

    for attempt in (entry.save, entry.delete, posting.save, posting.delete,
                    lambda: Posting.objects.filter(entry=entry).update(amount_fen=1),
                    lambda: JournalEntry.objects.filter(pk=entry.pk).delete()):
        with pytest.raises(PermissionDenied):
            attempt()
    assert balance_fen(two_cities.account) == 5000


def test_entry_is_stamped_and_audited_with_the_actor(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000)
    with acting_as(Actor(user=two_cities.supervisor, hall=two_cities.west_lake, reason="monthly run", channel="CLI")):
        entry = post_bill(bill=bill, created_at=AT)

    assert entry.created_by == two_cities.supervisor
    assert entry.hall == two_cities.west_lake
    event = AuditEvent.objects.get(action="LEDGER_ENTRY_POSTED", object_id=str(entry.pk))
    assert event.username == two_cities.supervisor.username
    assert event.detail["postings"] == [["RECEIVABLE", two_cities.account.number, 5000], ["ENERGY_REVENUE", None, -5000]]


def test_cancelling_a_paid_bill_turns_the_payment_into_credit_for_the_replacement(two_cities):
    old = billing.bill(account=two_cities.account, period="2026-02", amount_fen=10000)
    post_bill(bill=old, created_at=AT)
    pay(two_cities, 10000, "k-1")
    assert open_bills(two_cities.account) == []

    cancel_bill(bill=old, created_at=AT, reason="wrong meter reading")
    Bill.objects.filter(pk=old.pk).update(status=Bill.Status.CANCELLED)
    assert balance_fen(two_cities.account) == -10000

    new = billing.bill(account=two_cities.account, period="2026-02", amount_fen=8000)
    post_bill(bill=new, created_at=AT)
    applied = apply_credit(account=two_cities.account, created_at=AT)

    assert [(a.bill, a.amount_fen) for a in applied] == [(new, 8000)]
    assert open_bills(two_cities.account) == []
    assert balance_fen(two_cities.account) == -2000


def test_cancel_needs_a_reason_and_a_posted_bill(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=10000)
    with pytest.raises(ReasonRequired):
        cancel_bill(bill=bill, created_at=AT, reason=" ")
    with pytest.raises(BillNotPosted):
        cancel_bill(bill=bill, created_at=AT, reason="wrong reading")


def test_rebill_by_difference_moves_the_balance_by_the_difference(two_cities):
    old = billing.bill(account=two_cities.account, period="2026-02", amount_fen=10000)
    post_bill(bill=old, created_at=AT)
    Bill.objects.filter(pk=old.pk).update(status=Bill.Status.CANCELLED)
    new = billing.bill(account=two_cities.account, period="2026-02", amount_fen=12500)

    entry = post_rebill_difference(old_bill=old, new_bill=new, created_at=AT, reason="actual reading arrived")

    assert entry.kind == "CORRECTION"
    assert balance_fen(two_cities.account) == 12500
    assert open_bills(two_cities.account) == [(new, 12500)]


def test_credit_adjustment_makes_a_negative_balance(two_cities):
    post_adjustment(account=two_cities.account, amount_fen=-3000, effective_date=date(2026, 3, 31), created_at=AT,
                    description="Meter 10 % fast: refund", reason="meter test beyond tolerance")
    assert balance_fen(two_cities.account) == -3000


def test_adjustment_needs_a_reason(two_cities):
    with pytest.raises(ReasonRequired):
        post_adjustment(account=two_cities.account, amount_fen=100, effective_date=date(2026, 3, 31), created_at=AT,
                        description="x", reason="")
