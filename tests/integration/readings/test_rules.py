"""Each validation rule fires on its planted case through the real use cases, and not on a clean one."""
from datetime import date
from decimal import Decimal

import pytest

from gridcounter.application.readings import submit_reading, validate_cycle, validate_route_period
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import Reading, ReviewItem, SiteVisitOrder
from tests.factories import readings, registry
from tests.factories.cities import TOWN_NOW as NOW
from tests.factories.readings import local

pytestmark = pytest.mark.django_db
NOV15 = date(2026, 11, 15)
USES = [200, 210, 190, 205, 195, 200]


def submit(town, account, value, *, day=NOV15, source="AMI", meter=None):
    return submit_reading(meter=meter or account.meter, register="TOTAL", read_at=local(day), value=Decimal(value),
                          source=source, actor=town.actor, received_at=NOW)


def test_clean_reading_is_accepted_without_codes(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    outcome = submit(town, a, last + 200)
    assert outcome.created and outcome.codes == [] and not outcome.held
    assert outcome.reading.account == a


@pytest.mark.parametrize(("advance", "code"), [(-100, "DECREASE"), (2500, "SPIKE"), (700, "HIGH"), (30, "LOW")])
def test_implausible_readings_are_held_with_a_reason(town, advance, code):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    outcome = submit(town, a, last + advance)
    assert outcome.codes == [code]
    assert outcome.held
    assert outcome.reasons("en")[0]["reason"] and outcome.reasons("zh-hans")[0]["reason"] != outcome.reasons("en")[0]["reason"]
    event = AuditEvent.objects.get(action="READING_RECEIVED", object_id=str(outcome.reading.pk))
    assert event.detail["codes"] == [code]


def test_rollover_is_accepted_and_noted(town):
    a = town.account(digits=5)
    last = town.history(a, start_value=98700, uses=USES)  # 99900 at the last fixed day
    assert last == Decimal(99900)
    outcome = submit(town, a, 95)
    assert outcome.codes == ["ROLLOVER"] and not outcome.held
    assert outcome.findings[0].numbers["kwh"] == "195"
    result = validate_cycle(account=a, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert result.registers["TOTAL"].kwh == Decimal("195.00") and not result.blocking


def test_zero_streak_orders_an_on_site_check(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=[200, 210, 190, 0, 0])
    outcome = submit(town, a, last)
    assert "ZERO_STREAK" in outcome.codes
    order = SiteVisitOrder.objects.get(account=a)
    assert order.reason_code == "ZERO_STREAK" and order.status == SiteVisitOrder.Status.OPEN
    assert order.ordered_date == date(2026, 11, 20)


def test_zero_streak_not_on_an_account_that_uses_power(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=[200, 210, 190, 0, 200])
    assert "ZERO_STREAK" not in submit(town, a, last).codes
    assert not SiteVisitOrder.objects.filter(account=a).exists()


def test_off_schedule_reading(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    outcome = submit(town, a, last + 210, day=date(2026, 11, 20))
    assert outcome.codes == ["OFF_SCHEDULE"] and outcome.held  # a bill on it would cover the wrong days
    assert submit(town, town.account(), 1, day=date(2026, 11, 17)).codes == []  # within ±2 days


def test_duplicate_is_held_and_the_identical_resend_is_the_same_reading(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    first = submit(town, a, last + 200)
    again = submit(town, a, last + 200)
    assert not again.created and again.reading.pk == first.reading.pk
    second = submit(town, a, last + 260)
    assert second.created and second.codes == ["DUPLICATE"] and second.held
    assert second.findings[0].numbers["other_value"] == str(last + 200)
    cycle = validate_cycle(account=a, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert cycle.blocking and "DUPLICATE" in cycle.codes


def test_inactive_meter_reading_has_no_account(town):
    spare = registry.meter(asset_number="SPARE-9")
    outcome = submit_reading(meter=spare, register="TOTAL", read_at=local(NOV15), value=Decimal(5), source="HANDHELD",
                             actor=town.actor, received_at=NOW)
    assert outcome.reading.account is None and outcome.codes == ["INACTIVE_METER"]


def test_swapped_meters_in_one_building_flag_both_accounts(town):
    a, b = town.account(building="7号楼"), town.account(building="7号楼")
    last_a = town.history(a, start_value=12000, uses=USES)
    last_b = town.history(b, start_value=35000, uses=USES)
    # the reader wrote each flat's value under the other flat's meter
    submit(town, a, last_b + 190)
    submit(town, b, last_a + 210)
    for account in (a, b):
        reading = Reading.objects.get(account=account, read_date=NOV15)
        assert "SWAP_SUSPECTED" in reading.codes and reading.status == Reading.Status.HELD
        assert ReviewItem.objects.filter(account=account, code="SWAP_SUSPECTED").exists()
    numbers = Reading.objects.get(account=a, read_date=NOV15).findings[-1]["numbers"]
    assert numbers["other_account"] == b.number


def test_neighbours_reading_normally_are_not_swapped(town):
    a, b = town.account(building="8号楼"), town.account(building="8号楼")
    submit(town, a, town.history(a, start_value=12000, uses=USES) + 200)
    submit(town, b, town.history(b, start_value=35000, uses=USES) + 200)
    assert not ReviewItem.objects.filter(account__in=[a, b]).exists()


def test_route_period_reports_missed_and_revalidates(town):
    a, b = town.account(), town.account()
    town.history(a, start_value=10000, uses=USES)
    last_b = town.history(b, start_value=20000, uses=USES)
    readings.read(b.meter, b, NOV15, last_b + 2000, source="AMI", created_at=NOW)  # arrived without validation
    report = validate_route_period(route=town.route, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert report.fixed_date == NOV15
    assert report.missed == [{"account": a.number, "register": "TOTAL"}]
    assert ReviewItem.objects.get(account=a, code="MISSED").fixed_date == NOV15
    assert report.flagged == {b.number: ["SPIKE"]} and report.held == [b.number]
    assert Reading.objects.get(account=b, read_date=NOV15).status == Reading.Status.HELD
    again = validate_route_period(route=town.route, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert again.missed == report.missed
    assert ReviewItem.objects.filter(account=a, code="MISSED").count() == 1


def test_route_period_finds_swapped_meters_among_readings_that_came_in_unchecked(town):
    a, b = town.account(building="9号楼"), town.account(building="9号楼")
    last_a = town.history(a, start_value=12000, uses=USES)
    last_b = town.history(b, start_value=35000, uses=USES)
    for account, value in ((a, last_b + 195), (b, last_a + 205)):
        readings.read(account.meter, account, NOV15, value, source="HANDHELD", created_at=NOW)  # unchecked
    report = validate_route_period(route=town.route, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert "SWAP_SUSPECTED" in report.flagged[a.number] and "SWAP_SUSPECTED" in report.flagged[b.number]
    assert set(report.held) == {a.number, b.number}
    item = ReviewItem.objects.get(account=b, code="SWAP_SUSPECTED")
    assert item.finding["numbers"]["other_account"] == a.number
