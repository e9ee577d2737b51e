"""The columnar bill run makes the same bills, lines, explanations and ledger entries as the per-account run."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from gridcounter.application import billing, billrun
from gridcounter.application.ledger import check_ledger
from gridcounter.application.tariffs import get_catalogue
from gridcounter.data.audit.context import acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, Posting
from tests.factories import billing as bills
from tests.factories import cities
from tests.factories.cities import BILL_RUN_ACTOR as ACTOR
from tests.factories.cities import BILL_RUN_AS_OF as AS_OF
from tests.factories.cities import BILL_RUN_PERIOD as PERIOD
from tests.factories.cities import CITY_NOW as NOW
from tests.factories.cities import bill_run_history

pytestmark = pytest.mark.django_db


def snapshot(city) -> dict:
    return bills.snapshot(PERIOD, city=city.city)


def rolled_back(city, run):
    return bills.rolled_back(run, period=PERIOD, city=city.city, actor=ACTOR)


def test_fast_run_equals_the_per_account_run_bill_by_bill(city):
    bill_run_history(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    _, expected = rolled_back(city, lambda: billrun.run_bills(engine=billrun.REFERENCE, period=PERIOD, as_of=AS_OF, created_at=created))

    with acting_as(ACTOR):
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)
    got = snapshot(city)

    assert set(got) == set(expected) and len(got) == 30
    for number in expected:
        assert got[number] == expected[number], number
    assert summary.kernel == 25 and summary.per_account == 5 and summary.routes == 2
    assert summary.explained_one_by_one == 0  # every kernel bill explained by the frame path
    codes = {r["code"] for bill in got.values() for r in bill["explanation"]}
    assert {"BILL_SHOCK", "SEASONAL", "USAGE_VS_PREVIOUS", "USAGE_VS_LAST_YEAR", "TIER_STATUS"} <= codes
    assert {bill["shock"]["basis"] for bill in got.values() if bill["shock"]} >= {
        "SAME_PERIOD_LAST_YEAR", "RECENT_AVERAGE", "NONE"}
    assert summary.per_account_reasons == {"MISSED": 1, "READING_HELD": 1, "ESTIMATED": 1, "ROLLOVER": 1,
                                           "METER_EXCHANGE_OR_NO_METER": 1}
    assert "BILL_SHOCK" in summary.held_by_code
    assert check_ledger().ok


def test_rerun_makes_no_second_bill_and_the_ledger_stays_balanced(city):
    bill_run_history(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    with acting_as(ACTOR):
        first = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)
        entries = JournalEntry.objects.filter(kind="BILL", account__city=city.city).count()
        second = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)

    assert first.issued > 0 and second.issued == 0 and second.kernel == 0
    assert second.skipped == first.issued + first.held
    assert Bill.objects.filter(period=PERIOD, account__city=city.city).exclude(status="CANCELLED").count() == 30
    assert JournalEntry.objects.filter(kind="BILL", account__city=city.city).count() == entries
    assert check_ledger().ok
    bill = Bill.objects.filter(period=PERIOD, account__city=city.city, status="ISSUED").first()
    assert bill.history.count() == 1 and bill.history.first().history_change_reason == "bill run test"
    assert sum(Posting.objects.filter(entry__idempotency_key=f"bill:{bill.pk}").values_list("amount_fen", flat=True)) == 0


def test_a_route_not_yet_read_is_not_due(city):
    bill_run_history(city)
    with acting_as(ACTOR):
        summary = billrun.run_bills(period="2025-08", as_of=date(2025, 8, 10), created_at=NOW)
    assert summary.not_due == 30 and summary.issued == 0


def test_credit_an_account_holds_settles_its_new_bill_as_the_per_account_run_does(city):
    from gridcounter.application.ledger import take_payment
    from gridcounter.data.ledger.models import PaymentAllocation
    from gridcounter.data.registry.models import Account

    bill_run_history(city)
    account = Account.objects.filter(route=city.route, tariff_id="BJ-RES-LT1KV").order_by("id").first()
    take_payment(account=account, amount_fen=10_000_00, channel="CASH", hall=city.hall, clerk=city.auditor,
                 idempotency_key="prepaid-1", taken_at=datetime(2025, 8, 1, 2, tzinfo=UTC))
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)

    def settled() -> list:
        return sorted(PaymentAllocation.objects.filter(bill__period=PERIOD, bill__account__city=city.city,
                                                       released_at__isnull=True).values_list(
            "bill__account__number", "amount_fen"))

    with transaction.atomic():
        with acting_as(ACTOR):
            billrun.run_bills(engine=billrun.REFERENCE, period=PERIOD, as_of=AS_OF, created_at=created)
        expected = settled()
        transaction.set_rollback(True)
    with acting_as(ACTOR):
        billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)

    assert expected and expected[0][0] == account.number
    assert settled() == expected
    assert check_ledger().ok


@pytest.mark.django_db(transaction=True)
def test_rows_staged_in_a_scratch_file_are_the_rows_the_run_writes_from_its_own_frames(tmp_path):
    """The SQLite run's staged path (what a reading process hands over: `run_rows` written by `stage_rows`, the
    file attached, `insert_staged`) on accounts of every kind, held and per-account bills among them."""
    from django.conf import settings
    from django.db import connection

    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("rows are staged on SQLite only; PostgreSQL copies its frames")
    city = cities.city_for_billing()
    bill_run_history(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)

    def own_frames():
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)
        return summary, bills.written_rows(PERIOD)

    (summary, rows), expected = rolled_back(city, own_frames)  # ids are max + 1 on SQLite: the same again after it

    catalogue = get_catalogue()
    due_days, threshold = billing.run_limits(None, None)
    batches, _ = billrun.plan_batches(period=PERIOD, as_of=AS_OF)
    with acting_as(ACTOR):
        made_rows = {"as_of": AS_OF, "created_at": created, "due_days": due_days,
                     "actor": billrun.RowActor.current()}
        for i, batch in enumerate(batches):
            prepared = billrun.prepare_batch(routes=batch, period=PERIOD, catalogue=catalogue,
                                                  threshold=threshold)
            made = billrun.run_rows(bills=prepared.bills, lines=prepared.lines, route_of=prepared.route_of,
                                         billing=prepared.billing, **made_rows)
            path = str(tmp_path / f"batch-{i}.sqlite3")
            billrun.stage_rows(path, made)
            prepared.stage, prepared.stage_path = billrun.row_counts(made), path
            with connection.cursor() as cursor:
                cursor.execute(f"ATTACH DATABASE %s AS {billrun.STAGE}", [path])
            try:
                billrun.run_batch(routes=batch, period=PERIOD, as_of=AS_OF, created_at=created,
                                            catalogue=catalogue, read_ahead=lambda prepared=prepared: prepared)
            finally:
                with connection.cursor() as cursor:
                    cursor.execute(f"DETACH DATABASE {billrun.STAGE}")

    assert summary.per_account == 5 and summary.held > 0
    got = snapshot(city)
    assert set(got) == set(expected) and len(got) == 30
    for number in expected:
        assert got[number] == expected[number], number
    assert bills.written_rows(PERIOD) == rows
    assert len(rows["ledger_posting"]) == 2 * summary.issued and len(rows["audit_auditevent"]) == summary.issued
    assert check_ledger().ok


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_a_rerun_re_validates_held_bills_inside_its_batch_and_records_only_the_routes_it_billed(city, engine):
    from gridcounter.data.audit.models import AuditEvent
    from gridcounter.data.billing.models import BillRun

    bill_run_history(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    def run(**kwargs):
        return billrun.run_bills(engine=engine, **kwargs)

    with acting_as(ACTOR):
        first = run(period=PERIOD, as_of=AS_OF, created_at=created)
    period_bills = Bill.objects.filter(period=PERIOD, account__city=city.city)
    shocked = list(period_bills.filter(status="HELD", hold_codes=["BILL_SHOCK"]))
    held = period_bills.filter(status="HELD").count()
    assert first.held == held > len(shocked) >= 2
    city_runs = BillRun.objects.filter(route__city=city.city, period=PERIOD)
    runs_before = set(city_runs.values_list("pk", flat=True))
    city_events = AuditEvent.objects.filter(action="BILL_RUN", detail__period=PERIOD,
                                            detail__route__in=list(city_runs.values_list("route__code", flat=True)))
    events_before = city_events.count()
    assert events_before == len(runs_before) == first.routes

    # the same rerun changes nothing and leaves no record of itself; a rerun with a higher bill-shock threshold
    # issues the shocked bills in place, on a new record of their routes only
    with acting_as(ACTOR):
        same = run(period=PERIOD, as_of=AS_OF, created_at=created)
    assert (same.issued, same.held, same.skipped, same.routes) == (0, 0, 30, first.routes)
    assert set(city_runs.values_list("pk", flat=True)) == runs_before and city_events.count() == events_before
    lines_before = {b.pk: list(b.lines.order_by("position").values_list("id", "code", "amount_fen")) for b in shocked}
    later = created + timedelta(days=1)
    with acting_as(ACTOR):
        higher = run(period=PERIOD, as_of=AS_OF, created_at=later, shock_threshold_pct=Decimal(100_000))

    assert (higher.issued, higher.held, higher.skipped) == (len(shocked), 0, 30 - len(shocked))
    for bill in shocked:  # issued in place, on the rerun's record of its route, and posted
        bill.refresh_from_db()
        assert bill.status == "ISSUED" and bill.hold_codes == [] and bill.due_date == date(2025, 9, 4)
        assert JournalEntry.objects.filter(idempotency_key=f"bill:{bill.pk}").exists()
        assert bill.run.summary["issued"] >= 1 and bill.run.pk not in runs_before
        # the same bill (made when first drafted), a change version in its history, its lines drawn again
        assert bill.created_at == created
        version = bill.history.order_by("-history_id").first()
        assert (version.history_type, version.history_change_reason, version.status) == (
            "~", "bill run: held bill re-validated", "ISSUED")
        assert version.history_date == later and bill.history.count() == 2
        lines = list(bill.lines.order_by("position").values_list("id", "code", "amount_fen"))
        assert [line[1:] for line in lines] == [line[1:] for line in lines_before[bill.pk]]
        assert not {line[0] for line in lines} & {line[0] for line in lines_before[bill.pk]}
        assert AuditEvent.objects.filter(action="LEDGER_ENTRY_POSTED", detail__source=f"billing.Bill:{bill.pk}"
                                         ).count() == 1
    assert check_ledger().ok
    assert period_bills.exclude(status="CANCELLED").count() == 30
    new_runs = city_runs.exclude(pk__in=runs_before)
    assert sorted(new_runs.values_list("route__code", flat=True)) == sorted({b.account.route.code for b in shocked})
    events = AuditEvent.objects.filter(action="BILL_RUN", object_id__in=[str(r.pk) for r in new_runs])
    assert events.count() == new_runs.count() == city_events.count() - events_before
    assert sum(r.summary["issued"] for r in new_runs) == len(shocked)
