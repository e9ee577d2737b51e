"""The columnar bill run makes the same bills, lines, explanations and ledger entries as the per-account run."""
import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from gridcounter.application import billing, billrun
from gridcounter.application.ledger import check_ledger
from gridcounter.application.tariffs import get_catalogue
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, Posting
from gridcounter.data.registry.models import Installation, Meter
from tests.integration.billing.conftest import NOW, City_, make_city, monthly, read
from tests.integration.billrun.written import written_rows

pytestmark = pytest.mark.django_db
PERIOD = "2025-07"
AS_OF = date(2025, 8, 20)
ACTOR = Actor(reason="bill run test", channel="SYSTEM")


@pytest.fixture
def city(db):
    return make_city()


def build(city: City_) -> None:
    """Twenty plain accounts of every kind, and one of each problem the per-account path handles."""
    rnd = random.Random(4)
    months = 18  # readings 2024-01-15 … 2025-07-15
    for i in range(20):
        kind = i % 5
        if kind == 3:
            account, meter = city.account(tariff="SH-RES-TOU", registers=("PEAK", "VALLEY"), household_size=5)
            for register in ("PEAK", "VALLEY"):
                monthly(meter, account, usages=[rnd.randint(50, 400) + Decimal("0.37") for _ in range(months)],
                        register=register)
            continue
        if kind == 4:
            account, meter = city.account(tariff="DEMO-LI-2P", category="LARGE_INDUSTRY", multiplier="40",
                                          registers=("PEAK", "FLAT", "VALLEY", "REACTIVE"), capacity_kva=Decimal("630"))
            for register in ("PEAK", "FLAT", "VALLEY", "REACTIVE"):
                monthly(meter, account, usages=[Decimal(rnd.randint(100, 900)) / 7 for _ in range(months)],
                        register=register)
            continue
        tariff = ("BJ-RES-LT1KV", "ZJ-RES-TOU", "BJ-RES-SHARED")[kind]
        account, meter = city.account(tariff=tariff, multiplier="1" if i % 2 else "2.5", household_size=1 + i % 7)
        usages = [rnd.randint(80, 700) + Decimal(rnd.randint(0, 99)) / 100 for _ in range(months)]
        if i == 5:
            usages[-1] = usages[-13] * 4  # far above the same period last year: bill shock
        monthly(meter, account, usages=usages)
    # the history cases of the explanation and the bill-shock test, some on a second route of the same day
    from gridcounter.data.registry.models import Route

    first_route = city.route
    second = Route.objects.create(city=city.city, hall=city.hall, code="R15B", reading_day=15,
                                  reader=first_route.reader)
    for j, changes in enumerate((
            {5: 0, 17: 900},  # no usage last July: shock against the recent average
            {5: 0, 17: Decimal("123.45")},  # recent average, no shock
            {5: 600, 17: 610},  # far above June, in line with last July: seasonal
            {16: 0, 17: 150},  # nothing used in June: no percentage against it
            {5: 0, 14: 0, 15: 0, 16: 0},  # no usable history: never a shock
    )):
        city.route = second if j % 2 else first_route
        usages = [Decimal(100)] * months
        for k, value in changes.items():
            usages[k] = Decimal(value)
        account, meter = city.account(household_size=2 + j)
        monthly(meter, account, usages=usages)
    city.route = first_route
    # problems: a missed reading, a held reading, an estimate, a rollover, a meter exchange
    a, m = city.account()
    monthly(m, a, usages=[100] * (months - 1))
    a, m = city.account()
    readings = monthly(m, a, usages=[100] * months)
    readings[-1].status = "HELD"
    readings[-1].save()
    a, m = city.account()
    readings = monthly(m, a, usages=[100] * months)
    readings[-1].is_estimate = True
    readings[-1].source = "ESTIMATE"
    readings[-1].save()
    a, m = city.account(digits=4)
    readings = monthly(m, a, usages=[100] * months, value=Decimal(8000))
    readings[-1].value = Decimal(50)  # 9700 → 50 on a 4-digit register: 350 kWh
    readings[-1].save()
    a, m = city.account()
    monthly(m, a, usages=[100] * (months - 1))
    Installation.objects.filter(meter=m).update(removed_date=date(2025, 7, 1), final_readings={"TOTAL": "1790"})
    new = Meter.objects.create(asset_number="NEW-1", digits=6, multiplier=Decimal(1), registers=["TOTAL"])
    Installation.objects.create(meter=new, account=a, installed_date=date(2025, 7, 1), initial_readings={"TOTAL": "0"})
    read(new, a, date(2025, 7, 15), 45)
    # the history: every earlier period billed by the per-account run
    with acting_as(ACTOR):
        for month in range(2, 13):
            billrun.run_bills(engine=billrun.REFERENCE, period=f"2024-{month:02d}", as_of=date(2024, month, 28),
                              created_at=datetime(2024, month, 28, 1, tzinfo=UTC))
        for month in range(1, 7):
            billrun.run_bills(engine=billrun.REFERENCE, period=f"2025-{month:02d}", as_of=date(2025, month, 28),
                              created_at=datetime(2025, month, 28, 1, tzinfo=UTC))


def snapshot(period: str) -> dict:
    out = {}
    for bill in Bill.objects.filter(period=period).exclude(status="CANCELLED").prefetch_related("lines"):
        entry = JournalEntry.objects.filter(idempotency_key=f"bill:{bill.pk}").first()
        out[bill.account.number] = {
            "status": bill.status, "amount_fen": bill.amount_fen, "kwh": str(bill.kwh), "tariff": bill.tariff_id,
            "hold_codes": bill.hold_codes, "is_estimate": bill.is_estimate,
            "issued": str(bill.issued_date), "due": str(bill.due_date),
            "explanation": json.loads(json.dumps(bill.explanation)),
            "readings": bill.readings,
            "shock": (bill.facts or {}).get("shock"),
            "lines": [(ln.position, ln.code, ln.description, ln.description_en, str(Decimal(ln.quantity)),
                       ln.unit, str(Decimal(ln.unit_price).normalize()), ln.amount_fen, ln.tier, ln.tou_period,
                       str(ln.segment_start_date), str(ln.segment_end_date)) for ln in bill.lines.all()],
            "ledger": None if entry is None else sorted(
                (p.ledger_account, p.account_id, p.amount_fen) for p in entry.postings.all()),
        }
    return out


def rolled_back(run):
    """Run `run()` (a bill run of PERIOD) as ACTOR and take the period's bills, then roll it all back.

    Returns (what `run` returned, `snapshot` of the bills): what another run of the same city must make."""
    with transaction.atomic():
        with acting_as(ACTOR):
            result = run()
        expected = snapshot(PERIOD)
        transaction.set_rollback(True)
    assert not Bill.objects.filter(period=PERIOD).exists()
    return result, expected


def test_fast_run_equals_the_per_account_run_bill_by_bill(city):
    build(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    _, expected = rolled_back(lambda: billrun.run_bills(engine=billrun.REFERENCE, period=PERIOD, as_of=AS_OF, created_at=created))

    with acting_as(ACTOR):
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)
    got = snapshot(PERIOD)

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
    build(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    with acting_as(ACTOR):
        first = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)
        entries = JournalEntry.objects.filter(kind="BILL").count()
        second = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)

    assert first.issued > 0 and second.issued == 0 and second.kernel == 0
    assert second.skipped == first.issued + first.held
    assert Bill.objects.filter(period=PERIOD).exclude(status="CANCELLED").count() == 30
    assert JournalEntry.objects.filter(kind="BILL").count() == entries
    assert check_ledger().ok
    bill = Bill.objects.filter(period=PERIOD, status="ISSUED").first()
    assert bill.history.count() == 1 and bill.history.first().history_change_reason == "bill run test"
    assert sum(Posting.objects.filter(entry__idempotency_key=f"bill:{bill.pk}").values_list("amount_fen", flat=True)) == 0


def test_a_route_not_yet_read_is_not_due(city):
    build(city)
    with acting_as(ACTOR):
        summary = billrun.run_bills(period="2025-08", as_of=date(2025, 8, 10), created_at=NOW)
    assert summary.not_due == 30 and summary.issued == 0


def test_credit_an_account_holds_settles_its_new_bill_as_the_per_account_run_does(city):
    from gridcounter.application.ledger import take_payment
    from gridcounter.data.ledger.models import PaymentAllocation
    from gridcounter.data.registry.models import Account

    build(city)
    account = Account.objects.filter(route=city.route, tariff_id="BJ-RES-LT1KV").order_by("id").first()
    take_payment(account=account, amount_fen=10_000_00, channel="CASH", hall=city.hall, clerk=city.auditor,
                 idempotency_key="prepaid-1", taken_at=datetime(2025, 8, 1, 2, tzinfo=UTC))
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)

    def settled() -> list:
        return sorted(PaymentAllocation.objects.filter(bill__period=PERIOD, released_at__isnull=True).values_list(
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
    build(make_city())
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)

    def own_frames():
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created)
        return summary, written_rows(PERIOD)

    (summary, rows), expected = rolled_back(own_frames)  # ids are max + 1 on SQLite: the same again after it

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
    got = snapshot(PERIOD)
    assert set(got) == set(expected) and len(got) == 30
    for number in expected:
        assert got[number] == expected[number], number
    assert written_rows(PERIOD) == rows
    assert len(rows["ledger_posting"]) == 2 * summary.issued and len(rows["audit_auditevent"]) == summary.issued
    assert check_ledger().ok


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_a_rerun_re_validates_held_bills_inside_its_batch_with_one_run_record_per_route(city, engine):
    from gridcounter.data.audit.models import AuditEvent
    from gridcounter.data.billing.models import BillRun

    build(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    def run(**kwargs):
        return billrun.run_bills(engine=engine, **kwargs)

    with acting_as(ACTOR):
        first = run(period=PERIOD, as_of=AS_OF, created_at=created)
    shocked = list(Bill.objects.filter(period=PERIOD, status="HELD", hold_codes=["BILL_SHOCK"]))
    held = Bill.objects.filter(period=PERIOD, status="HELD").count()
    assert first.held == held > len(shocked) >= 2
    runs_before = set(BillRun.objects.values_list("pk", flat=True))

    # the same rerun changes nothing; a rerun with a higher bill-shock threshold issues the shocked bill in place
    with acting_as(ACTOR):
        same = run(period=PERIOD, as_of=AS_OF, created_at=created)
        higher = run(period=PERIOD, as_of=AS_OF, created_at=created, shock_threshold_pct=Decimal(100_000))

    assert (same.issued, same.held, same.skipped) == (0, 0, 30)
    assert (higher.issued, higher.held, higher.skipped) == (len(shocked), 0, 30 - len(shocked))
    for bill in shocked:  # issued in place, on the rerun's record of its route, and posted
        bill.refresh_from_db()
        assert bill.status == "ISSUED" and bill.hold_codes == [] and bill.due_date == date(2025, 9, 4)
        assert JournalEntry.objects.filter(idempotency_key=f"bill:{bill.pk}").exists()
        assert bill.run.summary["issued"] >= 1 and bill.run.pk not in runs_before
    assert check_ledger().ok
    assert Bill.objects.filter(period=PERIOD).exclude(status="CANCELLED").count() == 30
    routes = sorted(BillRun.objects.filter(pk__in=runs_before, period=PERIOD).values_list("route__code", flat=True))
    new_runs = BillRun.objects.exclude(pk__in=runs_before)
    assert sorted(new_runs.values_list("route__code", flat=True)) == sorted(2 * routes)  # two reruns, one each
    events = AuditEvent.objects.filter(action="BILL_RUN", object_id__in=[str(r.pk) for r in new_runs])
    assert events.count() == new_runs.count()
    assert sum(r.summary["issued"] + r.summary["skipped"] for r in new_runs) == 60  # each account once a run
