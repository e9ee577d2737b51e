"""Time-of-use accounts with 15-minute intervals are billed from them, the same by the kernel and by the ORM run."""
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.test import TestCase

from gridcounter.application import billrun
from gridcounter.application.ledger import check_ledger
from gridcounter.application.readings import import_intervals
from gridcounter.application.tariffs import get_catalogue
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.domain.billing.explanation import kwh_text
from gridcounter.domain.tariffs import RatingInput, rate
from tests.factories import billing as bills
from tests.factories import cities
from tests.factories.cities import CityForBilling
from tests.factories.readings import TZ

pytestmark = pytest.mark.django_db
PERIOD = "2025-07"
START, END = date(2025, 6, 15), date(2025, 7, 15)  # the route's period 2025-07 (fixed day 15): 30 days
AS_OF = date(2025, 7, 20)
CREATED = datetime(2025, 7, 20, 1, tzinfo=UTC)
ACTOR = Actor(reason="bill run test", channel="SYSTEM")
SLOTS = 30 * 96


@pytest.fixture
def city(db, settings, tmp_path):
    settings.GRIDCOUNTER_INTERVAL_DIR = tmp_path / "intervals"
    return cities.city_for_billing(province="SC")


def kwh_at(slot: int, base: Decimal) -> Decimal:
    """A day's shape: more in the afternoon and evening, little at night (4 decimals, as head-ends send)."""
    hour = (slot // 4) % 24
    return base + Decimal("0.0125") * (hour % 12) + (Decimal("0.3") if 15 <= hour < 17 else Decimal(0))


def component(slot: int) -> str:
    """SC-GC-TOU's clock hours, written out here: critical peak 15–17 in July, peak 10–12 and 15–21, flat 7–10,
    12–15 and 21–23, valley 23–7."""
    moment = datetime(START.year, START.month, START.day, tzinfo=TZ) + timedelta(minutes=15 * slot)
    hour = moment.hour
    if moment.month == 7 and 15 <= hour < 17:
        return "critical_peak"
    if 10 <= hour < 12 or 15 <= hour < 21:
        return "peak"
    if 7 <= hour < 10 or 12 <= hour < 15 or 21 <= hour < 23:
        return "flat"
    return "valley"


def expected_bins(base: Decimal) -> dict[str, Decimal]:
    bins = dict.fromkeys(("critical_peak", "peak", "flat", "valley"), Decimal(0))
    for slot in range(SLOTS):
        bins[component(slot)] += kwh_at(slot, base)
    return {k: v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for k, v in bins.items()}


def build(city: CityForBilling, tmp_path) -> dict[str, object]:
    """Three register accounts, and four SC-GC-TOU accounts sending intervals: clean, a small filled gap, a long
    gap, intervals far from the register. Last period billed by the ORM run (from the registers)."""
    accounts = {}
    for name, usages in (("plain", [210, 230]), ("plain2", [150, Decimal("162.35")])):
        accounts[name], meter = city.account(tariff="BJ-RES-LT1KV", household_size=3)
        city.monthly(meter, accounts[name], usages=usages, start=date(2025, 5, 15), value=Decimal(1000))
    accounts["tou_registers"], meter = city.account(tariff="SC-GC-TOU", category="GENERAL_COMMERCIAL",
                                                    registers=("PEAK", "FLAT", "VALLEY"))
    for register, used in (("PEAK", 120), ("FLAT", 90), ("VALLEY", 60)):
        city.monthly(meter, accounts["tou_registers"], usages=[used, used + 5], start=date(2025, 5, 15),
                register=register)
    lines = []
    cases = {"clean": (Decimal("0.10"), (), 0), "filled": (Decimal("0.12"), range(1000, 1003), 0),
             "long_gap": (Decimal("0.14"), range(2000, 2010), 0), "mismatch": (Decimal("0.16"), (), 50)}
    for name, (base, skip, off) in cases.items():
        account, meter = city.account(tariff="SC-GC-TOU", category="GENERAL_COMMERCIAL")
        accounts[name] = account
        total = sum((kwh_at(s, base) for s in range(SLOTS)), Decimal(0))
        city.monthly(meter, account, usages=[total.quantize(Decimal(1)), total + off], start=date(2025, 5, 15),
                value=Decimal(5000))
        moment = datetime(START.year, START.month, START.day, tzinfo=TZ)
        for slot in range(SLOTS):
            if slot not in skip:
                lines.append(f"{meter.asset_number},{(moment + timedelta(minutes=15 * slot)).strftime('%Y-%m-%dT%H:%M')},"
                             f"{kwh_at(slot, base)}")
    path = tmp_path / "ami-2025-07.csv"
    path.write_text("meter,start_at,kwh\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with TestCase.captureOnCommitCallbacks(execute=True):  # the parts move into place when the import commits
        done = import_intervals(path=path, as_of=city.now)
    assert done.rejected_rows == [] and done.written == {(PERIOD, "R15"): 4 * SLOTS - 13}
    with acting_as(ACTOR):
        billrun.run_bills(engine=billrun.REFERENCE, period="2025-06", as_of=date(2025, 6, 20), created_at=datetime(2025, 6, 20, 1, tzinfo=UTC))
    return {**accounts, "bases": {k: v[0] for k, v in cases.items()}}


def snapshot(city: CityForBilling) -> dict:
    return bills.snapshot(PERIOD, city=city.city)


def rolled_back(city: CityForBilling, run):
    return bills.rolled_back(run, period=PERIOD, city=city.city, actor=ACTOR)


def reasons(bill: dict) -> dict[str, dict]:
    return {r["code"]: r for r in bill["explanation"]}


def test_interval_accounts_get_the_same_bills_from_the_kernel_and_the_orm_run(city, tmp_path):
    made = build(city, tmp_path)
    orm, expected = rolled_back(city, lambda: billrun.run_bills(engine=billrun.REFERENCE, period=PERIOD, as_of=AS_OF, created_at=CREATED))

    with acting_as(ACTOR):
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED)
    got = snapshot(city)

    assert set(got) == set(expected) and len(got) == 7
    for number in expected:
        assert got[number] == expected[number], number
    assert (summary.issued, summary.held) == (orm.issued, orm.held) == (5, 2)
    # the clean and the filled account are rated by the kernel; the two held ones are drafted per account
    assert summary.per_account_reasons["INTERVAL_DATA"] == 2 and summary.kernel == 5
    assert summary.held_by_code == {"GAP": 1, "SUM_MISMATCH": 1}

    bill = {name: got[made[name].number] for name in ("plain", "tou_registers", "clean", "filled", "long_gap",
                                                       "mismatch")}
    # accounts without intervals: billed from their registers as before
    assert "INTERVAL_DATA" not in reasons(bill["plain"]) and bill["plain"]["kwh"] == "230.00"
    assert "INTERVAL_DATA" not in reasons(bill["tou_registers"]) and bill["tou_registers"]["kwh"] == "285.00"

    # clean: rated from the binned intervals exactly as the quote engine rates those four numbers
    bins = expected_bins(made["bases"]["clean"])
    tariff = get_catalogue().get("SC-GC-TOU")
    quote = rate(tariff, RatingInput(start_date=START, end_date=END, **bins))
    clean = bill["clean"]
    assert clean["status"] == "ISSUED" and not clean["is_estimate"]
    assert clean["amount_fen"] == int((quote.total * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert Decimal(clean["kwh"]) == sum(bins.values())
    assert {ln[9]: Decimal(ln[4]) for ln in clean["lines"] if ln[1] == "ENERGY"} == {
        "CRITICAL_PEAK": bins["critical_peak"], "PEAK": bins["peak"], "FLAT": bins["flat"], "VALLEY": bins["valley"]}
    data = reasons(clean)["INTERVAL_DATA"]
    assert data["numbers"]["actual_intervals"] == SLOTS == data["numbers"]["expected_intervals"]
    assert "15-minute interval data (2880 of 2880 intervals received)" in data["text_en"]
    assert f"peak {kwh_text(bins['peak'])} kWh" in data["text_en"]
    assert "15分钟间隔数据" in data["text_zh"]
    assert reasons(clean)["ESTIMATED"]["text_en"] == "Every 15-minute interval of this period was measured."

    # a small gap filled by interpolation: issued, marked as an estimate, the sentence says how many
    filled = bill["filled"]
    assert filled["status"] == "ISSUED" and filled["is_estimate"]
    estimated = reasons(filled)["ESTIMATED"]
    assert estimated["numbers"]["estimated_intervals"] == 3 and estimated["numbers"]["is_estimate"]
    assert estimated["text_en"].startswith("3 of the period's 2880 15-minute intervals were missing and were "
                                           "interpolated")
    assert "3 个15分钟间隔缺数" in estimated["text_zh"]
    assert reasons(filled)["INTERVAL_DATA"]["numbers"]["actual_intervals"] == SLOTS - 3

    # a long gap and a sum far from the register: held at zero with their codes and plain reasons
    for name, code, words in (("long_gap", "GAP", "10 of the period's 2880 15-minute intervals are missing"),
                              ("mismatch", "SUM_MISMATCH", "50 kWh apart")):
        held = bill[name]
        assert held["status"] == "HELD" and held["hold_codes"] == [code] and held["amount_fen"] == 0
        assert held["lines"] == [] and held["ledger"] is None
        reason = reasons(held)[code]
        assert reason["numbers"]["hold"] and words in reason["text_en"]
        assert reason["text_en"].startswith("Held for review: ") and reason["text_zh"].startswith("暂缓发行，待审核：")
    assert check_ledger().ok


def test_a_rerun_makes_no_second_bill(city, tmp_path):
    build(city, tmp_path)
    with acting_as(ACTOR):
        first = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED)
        second = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED)
    assert (first.issued, first.held) == (5, 2) and second.issued == 0 and second.skipped == 7
    assert Bill.objects.filter(period=PERIOD, account__city=city.city).exclude(status="CANCELLED").count() == 7
    assert check_ledger().ok


def test_a_meter_that_sends_intervals_and_sent_none_is_held_gap_not_billed_from_its_registers(city, tmp_path,
                                                                                             settings):
    made = build(city, tmp_path)
    marked = {name for name in ("plain", "tou_registers", "clean", "filled", "long_gap", "mismatch")
              if made[name].installations.get().meter.sends_intervals}
    assert marked == {"clean", "filled", "long_gap", "mismatch"}  # by their first import
    shutil.rmtree(settings.GRIDCOUNTER_INTERVAL_DIR)  # the head-end sent nothing for the period
    orm, expected = rolled_back(city, lambda: billrun.run_bills(engine=billrun.REFERENCE, period=PERIOD, as_of=AS_OF, created_at=CREATED))
    with acting_as(ACTOR):
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED)
    got = snapshot(city)
    for number in expected:
        assert got[number] == expected[number], number
    assert (summary.issued, summary.held) == (orm.issued, orm.held) == (3, 4)
    assert summary.held_by_code == {"GAP": 4} and summary.per_account_reasons["INTERVAL_DATA"] == 4
    mismatch = Bill.objects.get(account=made["mismatch"], period=PERIOD)
    assert mismatch.hold_codes == ["GAP"] and mismatch.kwh == 0 and mismatch.amount_fen == 0
    gap = next(r for r in mismatch.explanation if r["code"] == "GAP")
    assert "2880 of the period's 2880 15-minute intervals are missing" in gap["text_en"]
    assert Bill.objects.get(account=made["plain"], period=PERIOD).kwh == Decimal("230.00")
