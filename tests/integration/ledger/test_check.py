"""The ledger check, as a function and as `gridcounter ledger-check`."""
import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from gridcounter.application.ledger import (
    cancel_bill,
    check_ledger,
    post_adjustment,
    post_bill,
    reverse_payment,
    take_payment,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.guard import maintenance
from gridcounter.data.ledger.models import JournalEntry, Payment, PaymentAllocation, Posting
from tests.factories import billing
from tests.factories.billing import AT

pytestmark = pytest.mark.django_db


def busy_account(two_cities):
    bill = billing.bill(account=two_cities.account, period="2026-01", amount_fen=9000)
    post_bill(bill=bill, created_at=AT)
    post_bill(bill=billing.bill(account=two_cities.account, period="2026-02", amount_fen=4000), created_at=AT)
    payment = take_payment(account=two_cities.account, amount_fen=10000, channel="CASH", hall=two_cities.binjiang,
                           clerk=two_cities.clerk, idempotency_key="k-1", taken_at=AT).payment
    take_payment(account=two_cities.account, amount_fen=2500, channel="CARD", hall=two_cities.west_lake, clerk=two_cities.clerk,
                 idempotency_key="k-2", taken_at=AT)
    reverse_payment(payment=payment, by=two_cities.supervisor, reason="wrong account", reversed_at=AT)
    cancel_bill(bill=bill, created_at=AT + timedelta(days=1), reason="wrong reading")
    Bill.objects.filter(pk=bill.pk).update(status=Bill.Status.CANCELLED)
    post_adjustment(account=two_cities.account, amount_fen=-300, effective_date=date(2026, 4, 1), created_at=AT,
                    description="goodwill", reason="complaint upheld")


def test_a_consistent_ledger_passes(two_cities):
    busy_account(two_cities)

    report = check_ledger()

    assert report.ok, report.offences
    assert report.accounts_checked >= 1


def _raw(sql, params):
    # SQL that goes around the ledger's rules
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _past_the_triggers(sql, params):
    # what a superuser can do to the database's own guards (session_replication_role; SQLite: the maintenance flag)
    with maintenance():
        _raw(sql, params)


def test_a_tampered_posting_is_named(two_cities):
    busy_account(two_cities)
    entry = two_cities.account.journal_entries.filter(kind="PAYMENT").first()
    posting = entry.postings.get(ledger_account="RECEIVABLE")
    _past_the_triggers("UPDATE ledger_posting SET amount_fen = amount_fen + 1 WHERE id = %s", [posting.pk])

    report = check_ledger()

    codes = {(o.code, o.object_id) for o in report.offences}
    assert ("ENTRY_UNBALANCED", str(entry.pk)) in codes
    assert ("CHAIN_CHANGED", str(entry.pk)) in codes and report.first_changed_entry == entry.pk
    assert ("ACCOUNT_BALANCE_MISMATCH", str(two_cities.account.pk)) in codes
    assert any(two_cities.account.number in o.message for o in report.offences)


def test_command_prints_json_and_exits_1_on_offences(two_cities, capsys):
    busy_account(two_cities)
    call_command("ledger_check", "--json")
    assert json.loads(capsys.readouterr().out)["ok"] is True

    bill = two_cities.account.bills.get(period="2026-02")
    _raw("UPDATE billing_bill SET amount_fen = 1 WHERE id = %s", [bill.pk])
    with pytest.raises(SystemExit) as exited:
        call_command("ledger_check", "--json")
    assert exited.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    assert "BILL_ENTRY_AMOUNT_MISMATCH" in {o["code"] for o in out["offences"]}


def test_command_prints_text(two_cities, capsys):
    busy_account(two_cities)
    with translation.override("en"):
        call_command("ledger_check")
    assert "OK: the ledger balances." in capsys.readouterr().out


def test_one_sql_transaction_rewriting_a_payment_is_refused_by_the_database(two_cities):
    busy_account(two_cities)
    payment = Payment.objects.filter(account=two_cities.account, status="POSTED").first()
    event = AuditEvent.objects.filter(action="PAYMENT_TAKEN", object_id=str(payment.pk)).first()
    before = sorted(Posting.objects.filter(entry=payment.entry_id).values_list("id", "amount_fen"))

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("UPDATE ledger_payment SET amount_fen = 1 WHERE id = %s", [payment.pk])
        _raw("UPDATE ledger_posting SET amount_fen = CASE WHEN amount_fen > 0 THEN 1 ELSE -1 END WHERE entry_id = %s",
             [payment.entry_id])
        _raw("UPDATE audit_auditevent SET detail = '{}' WHERE id = %s", [event.pk])

    payment.refresh_from_db()
    assert payment.amount_fen == 2500
    assert sorted(Posting.objects.filter(entry=payment.entry_id).values_list("id", "amount_fen")) == before
    assert check_ledger().ok


@pytest.mark.parametrize("sql", [
    "DELETE FROM ledger_posting WHERE entry_id = {entry}",
    "UPDATE ledger_journalentry SET description = 'x' WHERE id = {entry}",
    "DELETE FROM ledger_journalentry WHERE id = {entry}",
    "UPDATE ledger_entryseal SET digest = 'x' WHERE entry_id = {entry}",
    "DELETE FROM audit_auditevent",
    "UPDATE ledger_payment SET status = 'REVERSED', amount_fen = 1 WHERE entry_id = {entry}",
    "UPDATE ledger_paymentallocation SET amount_fen = 1",
    "DELETE FROM ledger_reversal",
])
def test_the_database_refuses_to_change_the_ledger(two_cities, sql):
    busy_account(two_cities)
    entry = JournalEntry.objects.filter(kind="PAYMENT").order_by("id").last()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(sql.format(entry=entry.pk), [])
    assert check_ledger().ok


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_truncating_the_ledger_is_refused(two_cities):
    busy_account(two_cities)
    _raw("SET CONSTRAINTS ALL IMMEDIATE", [])  # the test's own transaction's deferred checks, done
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("TRUNCATE ledger_posting", [])
    assert Posting.objects.exists()


def test_the_rules_own_changes_still_pass(two_cities):
    busy_account(two_cities)  # a reversal (POSTED -> REVERSED) and released allocations, through the triggers

    assert Payment.objects.filter(status="REVERSED").count() == 1
    assert PaymentAllocation.objects.filter(released_at__isnull=False).exists()
    assert check_ledger().ok


def test_an_entry_removed_past_the_triggers_is_named(two_cities):
    busy_account(two_cities)
    chain = list(JournalEntry.objects.filter(account=two_cities.account).order_by("id"))
    removed, after = chain[1], chain[2]  # the 2026-02 bill's entry, and the payment after it
    for sql in ("DELETE FROM audit_auditevent WHERE object_type = 'ledger.JournalEntry' AND object_id = %s",
                "DELETE FROM ledger_posting WHERE entry_id = %s", "DELETE FROM ledger_entryseal WHERE entry_id = %s",
                "DELETE FROM ledger_journalentry WHERE id = %s"):
        _past_the_triggers(sql, [str(removed.pk) if "audit" in sql else removed.pk])
    _past_the_triggers("UPDATE ledger_journalentry SET effective_date = %s WHERE id = %s", ["2020-01-01", chain[0].pk])

    report = check_ledger()

    codes = {(o.code, o.object_id) for o in report.offences}
    assert report.first_changed_entry == chain[0].pk
    assert {("CHAIN_CHANGED", str(chain[0].pk)), ("CHAIN_GAP", str(after.pk))} <= codes


def test_a_missing_trigger_is_reported(two_cities):
    busy_account(two_cities)
    table = "ledger_posting"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER gc_guard_rows")
        else:
            cursor.execute(f"DROP TRIGGER gc_guard_{table}_update")

    report = check_ledger()

    assert [(o.code, o.object_id) for o in report.offences] == [("GUARD_MISSING", table)]


def test_an_open_bill_beside_credit_is_named(two_cities):
    take_payment(account=two_cities.account, amount_fen=5000, channel="CASH", hall=two_cities.binjiang,
                 clerk=two_cities.clerk, idempotency_key="credit-first", taken_at=AT)
    # a bill posted without the credit being applied (what a bill run racing the payment used to leave)
    bill = billing.bill(account=two_cities.account, period="2026-03", amount_fen=3000)
    post_bill(bill=bill, created_at=AT)

    report = check_ledger()

    offences = {o.code: o for o in report.offences}
    assert offences["OPEN_BILL_BESIDE_CREDIT"].object_id == str(bill.pk)
    assert "3000 fen open" in offences["OPEN_BILL_BESIDE_CREDIT"].message


def test_last_entries_removed_with_their_seals_are_found_from_saved_heads(two_cities, tmp_path, capsys):
    busy_account(two_cities)
    heads = tmp_path / "heads.json"
    call_command("ledger_check", "--save-heads", str(heads))
    last = JournalEntry.objects.filter(account=two_cities.account).order_by("id").last()  # the adjustment
    for sql in ("DELETE FROM audit_auditevent WHERE object_type = 'ledger.JournalEntry' AND object_id = %s",
                "DELETE FROM ledger_posting WHERE entry_id = %s", "DELETE FROM ledger_entryseal WHERE entry_id = %s",
                "DELETE FROM ledger_journalentry WHERE id = %s"):
        _past_the_triggers(sql, [str(last.pk) if "audit" in sql else last.pk])
    assert check_ledger().ok  # the shorter chain verifies on its own

    with pytest.raises(SystemExit), translation.override("en"):
        call_command("ledger_check", "--heads", str(heads))

    assert f"CHAIN_TRUNCATED registry.Account #{two_cities.account.pk}" in capsys.readouterr().out
