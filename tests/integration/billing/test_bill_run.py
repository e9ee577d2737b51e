"""The bill run on a small city: clean accounts issued, planted problems held, reruns make nothing new."""
from datetime import date
from decimal import Decimal

import pytest

from gridcounter.application.billrun import run_bills
from gridcounter.application.ledger import balance_fen
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.notices.models import Notice
from gridcounter.domain.readings.codes import finding
from tests.factories.cities import CITY_NOW as NOW

pytestmark = pytest.mark.django_db


def run(period, as_of=date(2025, 8, 20), **kw):
    return run_bills(period=period, as_of=as_of, created_at=NOW, **kw)


def reason(bill, code):
    return next(r for r in bill.explanation if r["code"] == code)


def periods(first, last):
    year, month = map(int, first.split("-"))
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


@pytest.fixture
def three(city):
    clean, m1 = city.account()
    city.monthly(m1, clean, usages=[200, 200, 200], start=date(2025, 1, 15))
    bad, m2 = city.account()
    city.read(m2, bad, date(2025, 1, 15), 1000)
    city.read(m2, bad, date(2025, 2, 15), 1200)
    city.read(m2, bad, date(2025, 3, 15), 1100, status="HELD", codes=["DECREASE"],
         findings=[finding("DECREASE", curr=Decimal(1100), prev=Decimal(1200), digits=6, rollover_kwh=999900,
                           limit_kwh=2000).as_dict()])
    missed, m3 = city.account()
    city.read(m3, missed, date(2025, 1, 15), 500)
    city.read(m3, missed, date(2025, 2, 15), 700)
    return clean, bad, missed, m3


def test_issues_clean_accounts_and_holds_planted_problems(three):
    clean, bad, missed, _ = three
    run("2025-02")
    summary = run("2025-03")
    assert (summary.issued, summary.held) == (1, 2)
    assert summary.held_by_code == {"DECREASE": 1, "MISSED": 1}
    issued = Bill.objects.get(account=clean, period="2025-03")
    assert issued.status == "ISSUED"
    assert (issued.start_date, issued.end_date) == (date(2025, 2, 15), date(2025, 3, 15))
    assert issued.kwh == Decimal("200.00")
    assert issued.amount_fen == 9766  # 200 kWh × 0.4883 yuan, tier 1 of Beijing's annual tiers
    assert issued.due_date == date(2025, 9, 4)  # issued 2025-08-20 + 15 days
    assert balance_fen(clean) == 2 * 9766
    held = Bill.objects.get(account=bad, period="2025-03")
    assert held.status == "HELD" and held.hold_codes == ["DECREASE"]
    assert "1100" in reason(held, "DECREASE")["text_en"]
    assert balance_fen(bad) == 9766  # February only: a held bill is not posted
    assert Bill.objects.get(account=missed, period="2025-03").hold_codes == ["MISSED"]


def test_rerun_creates_nothing_new_and_issues_a_held_bill_once_its_reason_is_gone(three, city):
    clean, bad, missed, meter = three
    run("2025-02")
    run("2025-03")
    march = Bill.objects.filter(period="2025-03", account__city=city.city)
    before = set(march.values_list("id", "status"))
    again = run("2025-03")
    assert (again.issued, again.held, again.skipped) == (0, 0, 3)
    assert set(march.values_list("id", "status")) == before

    city.read(meter, missed, date(2025, 3, 15), 880)  # the missed reading arrives
    third = run("2025-03")
    assert (third.issued, third.skipped) == (1, 2)
    bill = Bill.objects.get(account=missed, period="2025-03")
    assert bill.status == "ISSUED" and bill.kwh == Decimal("180.00")
    assert (bill.id, "HELD") in before  # the same bill, now issued
    assert balance_fen(missed) == 9766 + 8789  # 180 × 0.4883 = 87.894


def test_tier_status_and_change_vs_last_year(city):
    account, meter = city.account()
    usages = [200] * 18
    usages[5] = 300  # period 2024-07 (June 15 – July 15)
    usages[17] = 330  # period 2025-07
    city.monthly(meter, account, usages=usages, start=date(2024, 1, 15))
    for period in periods("2024-02", "2025-07"):
        run(period)
    bill = Bill.objects.get(account=account, period="2025-07")
    assert bill.status == "ISSUED"
    vs_last_year = reason(bill, "USAGE_VS_LAST_YEAR")
    assert vs_last_year["numbers"]["change_pct"] == "10.0"
    assert "10.0% more than the same period last year" in vs_last_year["text_en"]
    assert "65.0%" in reason(bill, "USAGE_VS_PREVIOUS")["text_en"]  # 330 vs 200
    tier = reason(bill, "TIER_STATUS")["numbers"]
    # 2025 periods 01..07: 6 × 200 + 330 = 1530 kWh so far; 2880 − 1530 remain in tier 1
    assert (tier["ytd_kwh"], tier["tier"], tier["remaining_kwh"]) == ("1530.00", 1, "1350.00")
    assert reason(bill, "DAYS_IN_PERIOD")["numbers"]["days"] == 30
    assert reason(bill, "ESTIMATED")["numbers"]["is_estimate"] is False


def test_bill_shock_is_held_and_the_customer_told_but_a_seasonal_peak_is_explained(city):
    shock, m1 = city.account()
    usages = [200] * 18
    usages[17] = 600  # 2025-07: three times last July, nothing but usage explains it
    city.monthly(m1, shock, usages=usages, start=date(2024, 1, 15))
    summer, m2 = city.account()
    usages = [200] * 18
    usages[5] = usages[6] = 600  # last summer's air-conditioning
    usages[17] = 620
    city.monthly(m2, summer, usages=usages, start=date(2024, 1, 15))
    # the first year of history has no last year to compare with: billed without the shock rule
    for period in periods("2024-02", "2024-12"):
        run(period, shock_threshold_pct=Decimal(10_000))
    for period in periods("2025-01", "2025-07"):
        run(period)

    held = Bill.objects.get(account=shock, period="2025-07")
    assert held.status == "HELD" and held.hold_codes == ["BILL_SHOCK"]
    numbers = reason(held, "BILL_SHOCK")["numbers"]
    assert numbers["basis"] == "SAME_PERIOD_LAST_YEAR" and numbers["increase_pct"] == "200.0"
    told = AuditEvent.objects.get(action="CUSTOMER_NOTIFIED_BILL_SHOCK", object_id=str(held.pk))
    assert told.detail["account"] == shock.number and "Bill shock" in told.detail["text_en"]
    # and the customer's SMS waits in the outbox, in the customer's words, once however often the run is repeated
    run("2025-07")
    sms = Notice.objects.get(account=shock, kind="BILL_SHOCK")
    assert (sms.channel, sms.recipient, sms.status) == ("SMS", shock.customer.phone, "QUEUED")
    assert f"户号{shock.number}：2025-07电费" in sms.body and "比去年同期" in sms.body and "高 200.0%" in sms.body

    explained = Bill.objects.get(account=summer, period="2025-07")
    assert explained.status == "ISSUED"
    seasonal = reason(explained, "SEASONAL")
    assert seasonal["numbers"]["change_vs_previous_pct"] == "210.0"
    assert seasonal["numbers"]["change_vs_last_year_pct"] == "3.3"
    assert "air-conditioning" in seasonal["text_en"]


def test_meter_with_multiplier_and_rollover(city):
    account, meter = city.account(digits=4, multiplier="40")
    city.read(meter, account, date(2025, 1, 15), 9990)
    city.read(meter, account, date(2025, 2, 15), 5)  # passed 9999
    run("2025-02")
    bill = Bill.objects.get(account=account, period="2025-02")
    assert bill.kwh == Decimal("600.00")  # (10000 − 9990 + 5) × 40
    assert reason(bill, "ROLLOVER")["numbers"]["registers"] == ["TOTAL"]


def test_a_route_not_yet_read_is_not_due(city):
    account, meter = city.account()
    city.monthly(meter, account, usages=[200], start=date(2025, 7, 15))
    summary = run("2025-08", as_of=date(2025, 8, 14))
    assert (summary.issued, summary.not_due) == (0, 1)
    assert not Bill.objects.filter(account=account).exists()
