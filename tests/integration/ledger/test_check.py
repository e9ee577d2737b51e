"""The ledger check, as a function and as `gridcounter ledger-check`."""
import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from gridcounter.application.ledger import (
    cancel_bill,
    check_ledger,
    post_adjustment,
    post_bill,
    reverse_payment,
    take_payment,
)
from gridcounter.data.billing.models import Bill
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
    reverse_payment(payment=payment, supervisor=two_cities.supervisor, reason="wrong account", reversed_at=AT)
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
    # bypass the append-only guards the way a stray script or manual SQL would
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_tampered_posting_is_named(two_cities):
    busy_account(two_cities)
    entry = two_cities.account.journal_entries.filter(kind="PAYMENT").first()
    posting = entry.postings.get(ledger_account="RECEIVABLE")
    _raw("UPDATE ledger_posting SET amount_fen = amount_fen + 1 WHERE id = %s", [posting.pk])

    report = check_ledger()

    codes = {(o.code, o.object_id) for o in report.offences}
    assert ("ENTRY_UNBALANCED", str(entry.pk)) in codes
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
