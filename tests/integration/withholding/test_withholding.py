"""Bank withholding end to end on the database: mandates, the batch sent to the bank, its results posted once,
failures told to the customer, unknown lines kept, every line reconciled, and the day view's non-cash share."""
from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone, translation

from gridcounter.application.ledger import balance_fen, business_date, check_ledger, day_summary
from gridcounter.application.withholding import (
    MandateRefused,
    batch_csv,
    cancel_mandate,
    export_batch,
    import_results,
    reconcile,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.imports.models import RejectedRow
from gridcounter.data.ledger.models import Payment, PenaltyCharge
from gridcounter.data.notices.models import Notice
from gridcounter.data.registry.models import Account
from gridcounter.data.withholding.models import Mandate, WithholdingLine
from gridcounter.domain.ledger import format_fen
from gridcounter.domain.withholding import EXPORT_COLUMNS
from tests.factories import billing
from tests.factories import withholding as wh

pytestmark = pytest.mark.django_db


def penalty_charged(account) -> int:
    """The late-payment penalty the collection of an overdue bill charged (tests/integration/ledger/test_penalties.py)."""
    return sum(PenaltyCharge.objects.filter(account=account).values_list("amount_fen", flat=True))


@pytest.fixture
def city(small_city):
    return small_city


def export(city, *, bank="ICBC"):
    return export_batch(bank_code=bank, city=city.city, as_of=city.today, created_at=timezone.now()).batch


# --- mandates -----------------------------------------------------------------------------------------------


def test_a_mandate_signed_at_the_counter_marks_the_account_and_is_audited(city):
    mandate = wh.mandate(city, bank_account="6222 0202 0011 2233 445")

    assert mandate.status == Mandate.Status.ACTIVE
    assert mandate.bank_account == "6222020200112233445"
    assert (mandate.signed_hall, mandate.signed_by, mandate.signed_date) == (city.east, city.clerk, city.today)
    account = Account.objects.get(pk=city.account.pk)
    assert account.bank_withholding is True
    assert account.bank_account_ref == "6222 **** 3445"
    event = AuditEvent.objects.get(action="WITHHOLDING_MANDATE_SIGNED", object_id=str(mandate.pk))
    assert (event.username, event.hall_id) == ("clerk.east", city.east.pk)
    assert "6222020200112233445" not in str(event.detail)  # the full number is never in the log


def test_a_second_active_mandate_is_refused(city):
    wh.mandate(city)
    with pytest.raises(MandateRefused) as refused:
        wh.mandate(city, bank="CCB")
    assert refused.value.code == "ALREADY_SIGNED"
    assert Mandate.objects.filter(account=city.account).count() == 1


@pytest.mark.parametrize(("number", "code"), [("", "BANK_ACCOUNT_REQUIRED"), ("6222-02O2-0011", "BANK_ACCOUNT_NOT_DIGITS"),
                                              ("62220202", "BANK_ACCOUNT_LENGTH"),
                                              ("62220202001122334455", "BANK_ACCOUNT_LENGTH"),
                                              ("６２２２０２０２００１１２２３３", "BANK_ACCOUNT_NOT_DIGITS")])
def test_a_bad_bank_account_number_is_refused_naming_the_field(city, number, code):
    with translation.override("zh-hans"), pytest.raises(MandateRefused) as refused:
        wh.mandate(city, bank_account=number)
    assert (refused.value.code, refused.value.field) == (code, "bank_account")
    assert not Mandate.objects.filter(account=city.account).exists()


def test_the_length_refusal_says_the_banks_range_in_the_users_language(city):
    with translation.override("en"), pytest.raises(MandateRefused) as refused:
        wh.mandate(city, bank_account="62220202")
    assert str(refused.value) == "Industrial and Commercial Bank of China account numbers have 12 to 19 digits; this one has 8."


def test_an_unknown_bank_and_a_missing_holder_are_refused(city):
    with pytest.raises(MandateRefused) as bank:
        wh.mandate(city, bank="NOBANK")
    with pytest.raises(MandateRefused) as holder:
        wh.mandate(city, holder="  ")
    assert (bank.value.field, holder.value.field) == ("bank", "holder")


def test_a_hall_of_another_city_cannot_sign(city):
    from gridcounter.application.withholding import sign_mandate

    with pytest.raises(MandateRefused) as refused:
        sign_mandate(account=city.account, bank_code="ICBC", holder_name="王建国", bank_account=wh.BANK_ACCOUNT,
                     clerk=city.other_clerk, hall=city.other_hall, signed_at=timezone.now())
    assert refused.value.code == "OUTSIDE_CITY"


def test_a_closed_account_takes_no_mandate(city):
    Account.objects.filter(pk=city.account.pk).update(status=Account.Status.CLOSED)
    with pytest.raises(MandateRefused) as refused:
        wh.mandate(city, Account.objects.get(pk=city.account.pk))
    assert refused.value.code == "ACCOUNT_CLOSED"


def test_cancelling_needs_a_reason_and_clears_the_account_then_a_new_mandate_may_be_signed(city):
    mandate = wh.mandate(city)
    with pytest.raises(MandateRefused) as refused:
        cancel_mandate(mandate=mandate, by=city.clerk, hall=city.east, reason=" ", cancelled_at=timezone.now())
    assert refused.value.field == "reason"

    cancelled = cancel_mandate(mandate=mandate, by=city.clerk, hall=city.east, reason="客户改用网上缴费",
                               cancelled_at=timezone.now())

    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        Mandate.Status.CANCELLED, city.clerk, "客户改用网上缴费")
    assert Account.objects.get(pk=city.account.pk).bank_withholding is False
    assert AuditEvent.objects.get(action="WITHHOLDING_MANDATE_CANCELLED").reason == "客户改用网上缴费"
    assert wh.mandate(city, bank="CCB").status == Mandate.Status.ACTIVE


# --- export -------------------------------------------------------------------------------------------------


def test_the_export_has_one_line_per_account_with_the_sum_of_its_open_bills(city):
    wh.mandate(city)
    wh.mandate(city, city.neighbour, holder="王小明", bank_account="6212260200001234")
    earlier = billing.bill(account=city.neighbour, period="2026-01", amount_fen=12345)
    later = billing.bill(account=city.neighbour, period="2026-02", amount_fen=10000)
    from gridcounter.application.ledger import post_bill

    post_bill(bill=earlier, created_at=timezone.now())
    post_bill(bill=later, created_at=timezone.now())

    batch = export(city)

    rows = list(csv.reader(io.StringIO(batch_csv(batch))))
    assert rows[0] == list(EXPORT_COLUMNS)
    assert rows[1:] == [
        [batch.number, "1", "1100012345", "王建国", wh.BANK_ACCOUNT, format_fen(city.latest_bill.amount_fen),
         f"{batch.number}-00001"],
        [batch.number, "2", "1100012346", "王小明", "6212260200001234", "223.45", f"{batch.number}-00002"],
    ]
    assert batch.total_fen == city.latest_bill.amount_fen + 22345
    assert batch.number == f"ICBC{city.today:%Y%m%d}001"


def test_an_account_in_an_open_batch_is_not_exported_again_nor_one_of_another_bank(city):
    wh.mandate(city)
    first = export(city)
    assert export(city) is None
    assert export(city, bank="CCB") is None
    assert first.line_count == 1


# --- results ------------------------------------------------------------------------------------------------


def test_a_result_file_imported_twice_posts_once(city, tmp_path):
    wh.mandate(city)
    batch = export(city)
    path = wh.result_file(tmp_path, wh.result_rows(batch))
    amount = city.latest_bill.amount_fen

    first = import_results(path=str(path), now=timezone.now())
    second = import_results(path=str(path), now=timezone.now())

    assert (first.succeeded, first.posted_fen, first.rejected) == (1, amount, 0)
    assert (second.succeeded, second.posted_fen, second.unchanged, second.rejected) == (0, 0, 1, 0)
    payments = Payment.objects.filter(account=city.account, channel=Payment.Channel.BANK_WITHHOLDING)
    assert [p.amount_fen for p in payments] == [amount]
    payment = payments.get()
    assert payment.hall == city.account.home_hall and payment.clerk is None
    assert balance_fen(city.account) == penalty_charged(city.account)  # the bill was overdue when collected
    line = WithholdingLine.objects.get(batch=batch)
    assert (line.state, line.payment, line.bank_transaction) == ("SUCCEEDED", payment, f"T{batch.number}00001")
    taken = AuditEvent.objects.get(action="PAYMENT_TAKEN", object_id=str(payment.pk))
    assert (taken.channel, taken.username) == ("BANK", "bank:ICBC")
    assert check_ledger().ok


def test_a_bill_paid_at_the_counter_meanwhile_is_still_posted_and_becomes_credit(city, tmp_path):
    from gridcounter.application.ledger import take_payment

    wh.mandate(city)
    batch = export(city)
    amount = city.latest_bill.amount_fen
    take_payment(account=city.account, amount_fen=amount, channel="CASH", hall=city.east, clerk=city.clerk,
                 idempotency_key="counter-meanwhile", taken_at=timezone.now())

    import_results(path=str(wh.result_file(tmp_path, wh.result_rows(batch))), now=timezone.now())

    # in credit by what the bank collected, less the late-payment penalty the overdue bill's payment charged
    assert balance_fen(city.account) == -amount + penalty_charged(city.account)


def test_a_failure_is_recorded_with_the_banks_reason_and_the_customer_told(city, tmp_path):
    wh.mandate(city)
    batch = export(city)
    rows = wh.result_rows(batch, outcomes={1: ("1001", "余额不足")})

    report = import_results(path=str(wh.result_file(tmp_path, rows)), now=timezone.now())

    assert (report.succeeded, report.failed) == (0, 1)
    line = WithholdingLine.objects.get(batch=batch)
    assert (line.state, line.result_code, line.result_message, line.payment) == ("FAILED", "1001", "余额不足", None)
    notice = Notice.objects.get(account=city.account, kind="WITHHOLDING_FAILED")
    assert notice.channel == "SMS" and notice.recipient == "13800138000"
    assert "账户余额不足" in notice.body and "3445" in notice.body
    assert format_fen(line.amount_fen) in notice.body
    assert balance_fen(city.account) == city.latest_bill.amount_fen  # nothing posted
    import_results(path=str(wh.result_file(tmp_path, rows)), now=timezone.now())
    assert Notice.objects.filter(account=city.account, kind="WITHHOLDING_FAILED").count() == 1  # told once


def test_unknown_lines_are_named_and_kept_and_never_posted(city, tmp_path):
    wh.mandate(city)
    batch = export(city)
    good = wh.result_rows(batch)[0]
    rows = [
        {**good, "batch": "NOSUCH001"},
        {**good, "line": "7"},
        {**good, "account": "9999999999"},
        {**good, "amount": "1.00"},
        {**good, "result": "OK"},
        {**good, "transaction": ""},
    ]

    with translation.override("en"):
        report = import_results(path=str(wh.result_file(tmp_path, rows)), now=timezone.now())

    assert report.rejected == 6 and report.succeeded == 0
    assert [(r["line"], r["column"]) for r in report.rejected_rows] == [
        (2, "batch"), (3, "line"), (4, "account"), (5, "amount"), (6, "result"), (7, "transaction")]
    assert report.rejected_rows[2]["reason"] == (f"line 1 of batch {batch.number} is account 1100012345, "
                                                  "not “9999999999”")
    assert report.rejected_rows[3]["reason"] == (f"line 1 of batch {batch.number} asked "
                                                  f"{format_fen(batch.total_fen)} yuan, the result says 1.00")
    kept = RejectedRow.objects.filter(batch__kind="WITHHOLDING_RESULTS").order_by("line")
    assert [r.line for r in kept] == [2, 3, 4, 5, 6, 7]
    assert kept[0].raw["batch"] == "NOSUCH001"
    assert not Payment.objects.filter(channel=Payment.Channel.BANK_WITHHOLDING).exists()
    assert WithholdingLine.objects.get(batch=batch).state == "PENDING"


def test_a_result_contradicting_the_one_recorded_is_kept_not_applied(city, tmp_path):
    wh.mandate(city)
    batch = export(city)
    import_results(path=str(wh.result_file(tmp_path, wh.result_rows(batch))), now=timezone.now())
    failed = wh.result_rows(batch, outcomes={1: ("1001", "余额不足")})

    report = import_results(path=str(wh.result_file(tmp_path, failed, name="again.csv")), now=timezone.now())

    assert (report.rejected, report.rejected_rows[0]["column"]) == (1, "result")
    assert WithholdingLine.objects.get(batch=batch).state == "SUCCEEDED"


# --- reconcile and the day view -------------------------------------------------------------------------------


def test_every_line_is_collected_failed_or_pending_and_the_totals_add_up(city, tmp_path):
    from gridcounter.application.ledger import post_bill
    from tests.factories import registry

    accounts = [city.account, city.neighbour]
    third = registry.account(city=city.city, hall=city.east, number="1100012399", name="赵六", address="示范市 9 号")
    accounts.append(third)
    for n, account in enumerate(accounts[1:], start=1):
        post_bill(bill=billing.bill(account=account, period="2026-02", amount_fen=5000 * n),
                  created_at=timezone.now())
    for n, account in enumerate(accounts):
        wh.mandate(city, account, holder=f"户主{n}", bank_account=f"62220202001122334{n:02d}")
    batch = export(city)
    rows = wh.result_rows(batch, outcomes={2: ("1002", "账户冻结")})
    import_results(path=str(wh.result_file(tmp_path, rows[:2])), now=timezone.now())  # line 3 not answered yet

    result = reconcile(batch)

    assert result.counts == {"SUCCEEDED": 1, "FAILED": 1, "PENDING": 1}
    assert result.totals_fen == {"SUCCEEDED": city.latest_bill.amount_fen, "FAILED": 5000, "PENDING": 10000}
    assert result.balanced and not result.closed
    items = result.as_dict()["items"]
    assert items[0]["receipt"] and items[1]["message"] == "账户冻结" and items[2]["state"] == "PENDING"
    assert batch.closed_at is None

    import_results(path=str(wh.result_file(tmp_path, rows[2:], name="late.csv")), now=timezone.now())

    batch.refresh_from_db()
    assert reconcile(batch).closed and batch.closed_at is not None


def test_withholding_payments_count_in_the_days_non_cash_share(city, tmp_path):
    from gridcounter.application.ledger import take_payment

    now = timezone.now()
    take_payment(account=city.neighbour, amount_fen=10000, channel="CASH", hall=city.west, clerk=city.clerk_west,
                 idempotency_key="cash-today", taken_at=now)
    wh.mandate(city)
    batch = export(city)
    import_results(path=str(wh.result_file(tmp_path, wh.result_rows(batch))), now=now)
    withheld = city.latest_bill.amount_fen

    summary = day_summary(halls=[city.east, city.west], day=business_date(now))

    assert summary.total.non_cash_fen == withheld
    assert summary.total.cash_fen == 10000
    west = next(h for h in summary.halls if h.hall == city.west)  # the account's home hall
    assert west.takings.by_channel["BANK_WITHHOLDING"] == withheld
    with translation.override("en"):
        channels = [(str(label), n, fen) for label, n, fen, _share in summary.channels]
    assert ("Bank withholding", 1, withheld) in channels
    expected = (Decimal(withheld * 100) / Decimal(withheld + 10000)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert summary.total.non_cash_share == expected


def test_the_batchs_amounts_agree_with_open_bills_account_by_account(city):
    """outstanding_by_account is open_bills' rule for many accounts at once: the same figures, bill for bill."""
    from gridcounter.application.ledger import open_bills, post_bill, take_payment
    from gridcounter.application.withholding import outstanding_by_account

    for period, fen in (("2026-01", 12345), ("2026-02", 999), ("2026-03", 50000)):
        post_bill(bill=billing.bill(account=city.neighbour, period=period, amount_fen=fen), created_at=timezone.now())
    take_payment(account=city.neighbour, amount_fen=20000, channel="CASH", hall=city.east, clerk=city.clerk,
                 idempotency_key="part-paid", taken_at=timezone.now())
    accounts = [city.account, city.neighbour, city.stranger]

    fast = outstanding_by_account(account_ids=[a.pk for a in accounts], as_of=city.today)

    reference = {a.pk: sum(left for _bill, left in open_bills(a)) for a in accounts}
    assert fast == {pk: fen for pk, fen in reference.items() if fen > 0}
    assert fast[city.neighbour.pk] == 12345 + 999 + 50000 - 20000


class _Stopped(Exception):
    pass


def test_a_stopped_import_keeps_true_counts_and_the_same_file_again_finishes_it_posting_each_line_once(city,
                                                                                                      tmp_path):
    from gridcounter.application.ledger import post_bill
    from gridcounter.data.imports.models import ImportBatch
    from tests.factories import registry

    accounts = [city.account, city.neighbour,
                registry.account(city=city.city, hall=city.east, number="1100012398", name="钱七", address="示范市 8 号")]
    for n, account in enumerate(accounts):
        if n:
            post_bill(bill=billing.bill(account=account, period="2026-02", amount_fen=3000 * n),
                      created_at=timezone.now())
        wh.mandate(city, account, holder=f"户主{n}", bank_account=f"62220202001122334{n:02d}")
    batch = export(city)
    path = wh.result_file(tmp_path, wh.result_rows(batch))

    def stop_after_the_first_chunk(done, total):
        raise _Stopped(f"stopped after line {done} of {total}")

    # Given an import stopped after its first chunk (one line) was committed
    with pytest.raises(_Stopped):
        import_results(path=str(path), now=timezone.now(), chunk_rows=1, progress=stop_after_the_first_chunk)

    stopped = ImportBatch.objects.get(kind="WITHHOLDING_RESULTS", completed_at__isnull=True)
    assert (stopped.rows_total, stopped.lines_done, stopped.tallies["succeeded"]) == (1, 2, 1)
    assert Payment.objects.filter(channel=Payment.Channel.BANK_WITHHOLDING).count() == 1

    # When the same file is imported again, it goes on after the committed line
    report = import_results(path=str(path), now=timezone.now(), chunk_rows=1)

    assert (report.rows, report.succeeded) == (3, 3)  # the batch's counts, the stopped run's included
    assert sorted(Payment.objects.filter(channel=Payment.Channel.BANK_WITHHOLDING)
                  .values_list("amount_fen", flat=True)) == sorted(line.amount_fen for line in batch.lines.all())
    assert reconcile(batch).closed
    assert check_ledger().ok
