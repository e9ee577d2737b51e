"""The review queue and the auditor's decisions; corrections cancel, reissue and keep the ledger balanced."""
from datetime import date
from decimal import Decimal

import pytest

from gridcounter.application.billing import (
    BillNotHeld,
    ReasonRequired,
    correct_issued_reading,
    correct_reading,
    estimate_reading,
    held_bills,
    order_reread,
    release_bill,
)
from gridcounter.application.billrun import run_bills
from gridcounter.application.ledger import balance_fen
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill, ReviewDecision
from gridcounter.data.ledger.models import JournalEntry
from gridcounter.data.readings.models import Reading, SiteVisitOrder
from tests.factories.cities import CITY_NOW as NOW

pytestmark = pytest.mark.django_db
AS_OF = date(2025, 8, 20)


def run(period):
    return run_bills(period=period, as_of=AS_OF, created_at=NOW)


def live(account, period):
    return Bill.objects.exclude(status="CANCELLED").get(account=account, period=period)


@pytest.fixture
def queue(city):
    """Bills of 2025-03: one clean, one held on a DECREASE, one held on a missed reading."""
    clean, m1 = city.account()
    city.monthly(m1, clean, usages=[200, 200, 200], start=date(2025, 1, 15))
    bad, m2 = city.account()
    city.read(m2, bad, date(2025, 1, 15), 1000)
    city.read(m2, bad, date(2025, 2, 15), 1200)
    city.read(m2, bad, date(2025, 3, 15), 1100, status="HELD", codes=["DECREASE"])
    missed, m3 = city.account()
    city.read(m3, missed, date(2025, 1, 15), 500)
    city.read(m3, missed, date(2025, 2, 15), 700)
    run("2025-02")
    run("2025-03")
    return clean, bad, missed


def test_the_queue_lists_held_bills_with_account_amount_codes_route_and_reader(queue):
    clean, bad, missed = queue
    items = held_bills(period="2025-03")
    assert [(i.account, i.hold_codes, i.route, i.reader) for i in items] == [
        (bad.number, ["DECREASE"], "R15", "抄表员甲"), (missed.number, ["MISSED"], "R15", "抄表员甲")]
    assert [i.account for i in held_bills(period="2025-03", rule="MISSED")] == [missed.number]
    assert items[1].reasons[0]["code"] == "MISSED" and items[1].reasons[0]["text_zh"]


def test_correcting_a_held_reading_supersedes_it_and_issues_a_new_bill(queue, city):
    _, bad, _ = queue
    held = live(bad, "2025-03")
    with acting_as(Actor(user=city.auditor, hall=city.hall, reason="digits misread", channel="CLI")):
        decision = correct_reading(bill=held, register="TOTAL", value="1400", reason="digits misread",
                                   decided_at=NOW, as_of=AS_OF)
    held.refresh_from_db()
    assert held.status == "CANCELLED"
    new = decision.new_bill
    assert new.status == "ISSUED" and new.replaces_id == held.pk and new.kwh == Decimal("200.00")
    assert Reading.objects.get(value=Decimal(1100), meter__asset_number="M00002").status == "SUPERSEDED"
    correction = Reading.objects.get(value=Decimal(1400), meter__asset_number="M00002")
    assert correction.source == "CORRECTION" and correction.supersedes.value == Decimal(1100)
    assert balance_fen(bad) == 2 * 9766
    assert decision.decided_by == city.auditor and decision.decision == "CORRECT_READING"
    event = AuditEvent.objects.get(action="REVIEW_CORRECT_READING", object_id=str(held.pk))
    assert event.username == "auditor" and event.reason == "digits misread"
    with pytest.raises(BillNotHeld):
        release_bill(bill=held, reason="again", decided_at=NOW, as_of=AS_OF)


def test_release_issues_and_posts_and_accepts_the_reading(queue, city):
    _, bad, _ = queue
    held = live(bad, "2025-03")
    with pytest.raises(ReasonRequired):
        release_bill(bill=held, reason=" ", decided_at=NOW, as_of=AS_OF)
    with acting_as(Actor(user=city.auditor, hall=city.hall, channel="WEB")):
        release_bill(bill=held, reason="meter replaced, reading checked", decided_at=NOW, as_of=AS_OF)
    held.refresh_from_db()
    assert held.status == "ISSUED" and held.issued_date == AS_OF
    assert JournalEntry.objects.filter(kind="BILL", source_id=str(held.pk)).exists()
    assert Reading.objects.get(value=Decimal(1100)).status == "ACCEPTED"
    assert ReviewDecision.objects.get(bill=held).decision == "RELEASE"
    assert AuditEvent.objects.filter(action="REVIEW_RELEASE", object_id=str(held.pk), username="auditor").exists()


def test_reread_orders_a_site_visit_and_the_bill_stays_held(queue):
    _, _, missed = queue
    held = live(missed, "2025-03")
    order_reread(bill=held, reason="no access on the fixed day", decided_at=NOW, as_of=AS_OF)
    held.refresh_from_db()
    assert held.status == "HELD"
    order = SiteVisitOrder.objects.get(account=missed, reason_code="RE_READ")
    assert order.status == "OPEN" and order.detail["bill"] == held.pk
    assert AuditEvent.objects.filter(action="REVIEW_ORDER_REREAD", object_id=str(held.pk)).exists()


def test_estimate_replaces_the_missing_reading_and_the_bill_says_so(queue):
    _, _, missed = queue
    held = live(missed, "2025-03")
    decision = estimate_reading(bill=held, reason="customer away, estimate", decided_at=NOW, as_of=AS_OF)
    new = decision.new_bill
    assert new.status == "ISSUED" and new.is_estimate
    assert new.kwh == Decimal("181.00")  # February's 200 kWh over 31 days, scaled to 28 days, whole kWh
    estimated = next(r for r in new.explanation if r["code"] == "ESTIMATED")
    assert estimated["numbers"]["estimated_registers"] == ["TOTAL"]
    assert Reading.objects.get(account=missed, read_date=date(2025, 3, 15)).source == "ESTIMATE"


def test_correcting_an_issued_reading_cancels_and_reissues_both_bills_it_touched(queue):
    clean, _, _ = queue
    monthly_reading = Reading.objects.get(account=clean, read_date=date(2025, 4, 15))
    run("2025-04")
    march_reading = Reading.objects.get(account=clean, read_date=date(2025, 3, 15))
    old_march, old_april = live(clean, "2025-03"), live(clean, "2025-04")
    new_bills = correct_issued_reading(reading=march_reading, value=march_reading.value + 50,
                                       reason="reader typed 600 for 650", corrected_at=NOW, as_of=AS_OF)
    assert [b.period for b in new_bills] == ["2025-03", "2025-04"]
    new_march, new_april = new_bills
    for old in (old_march, old_april):
        old.refresh_from_db()
        assert old.status == "CANCELLED"
        assert JournalEntry.objects.filter(kind="BILL_CANCELLATION", source_id=str(old.pk)).exists()
    assert new_march.replaces == old_march and new_april.replaces == old_april
    assert (new_march.kwh, new_april.kwh) == (Decimal("250.00"), Decimal("150.00"))
    difference = next(r for r in new_march.explanation if r["code"] == "CORRECTION_DIFFERENCE")["numbers"]
    assert (difference["old_amount_fen"], difference["new_amount_fen"], difference["difference_fen"]) == (
        9766, 12208, 2442)
    assert balance_fen(clean) == 9766 + 12208 + 7325
    assert monthly_reading.pk  # the April reading itself is untouched


@pytest.fixture
def duplicate(city):
    """A bill of 2025-03 held on DUPLICATE: two different values read at the same moment."""
    account, meter = city.account()
    city.read(meter, account, date(2025, 1, 15), 1000)
    city.read(meter, account, date(2025, 2, 15), 1200)
    dup = [{"code": "DUPLICATE", "numbers": {"other_value": "1450", "value": "1400"}}]
    city.read(meter, account, date(2025, 3, 15), 1400, status="HELD", codes=["DUPLICATE"], findings=dup)
    city.read(meter, account, date(2025, 3, 15), 1450, status="HELD", codes=["DUPLICATE"], findings=dup)
    run("2025-02")
    run("2025-03")
    return account


@pytest.mark.parametrize("value", ["1400", "1450"])
def test_correcting_a_duplicate_with_either_value_read_issues_a_bill_from_a_new_reading(duplicate, city, value):
    held = live(duplicate, "2025-03")
    assert held.status == "HELD" and "DUPLICATE" in held.hold_codes
    with acting_as(Actor(user=city.auditor, hall=city.hall, reason="checked on site", channel="WEB")):
        decision = correct_reading(bill=held, register="TOTAL", value=value, reason="checked on site",
                                   decided_at=NOW, as_of=AS_OF)
    new = decision.new_bill
    assert new.status == "ISSUED" and new.kwh == Decimal(value) - 1200
    march = Reading.objects.filter(account=duplicate, read_date=date(2025, 3, 15))
    assert sorted((r.value, r.status) for r in march.exclude(source="CORRECTION")) == [
        (Decimal(1400), "SUPERSEDED"), (Decimal(1450), "SUPERSEDED")]
    correction = march.get(source="CORRECTION")
    assert correction.value == Decimal(value) and correction.status == "ACCEPTED" and correction.supersedes_id
    assert AuditEvent.objects.filter(action="REVIEW_CORRECT_READING", object_id=str(held.pk)).exists()
