"""Pure billing rules: periods, consumption, bill shock, explanations and the bill draft."""
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gridcounter.domain.billing.cycle import InstallationRef, ReadingRef, cycle_usage
from gridcounter.domain.billing.draft import AccountFacts, TariffSegment, draft_bill
from gridcounter.domain.billing.explanation import BillContext, explain
from gridcounter.domain.billing.periods import (
    InvalidPeriod,
    MeterSpan,
    billing_period,
    register_use,
    same_period_last_year,
)
from gridcounter.domain.billing.shock import PeriodFigures, assess_shock
from gridcounter.domain.tariffs import parse_tariff, tier_status

TARIFFS = Path(__file__).resolve().parents[4] / "tariffs"
D = Decimal


def test_a_period_runs_from_last_months_fixed_day_to_this_months():
    p = billing_period(period="2025-01", reading_day=15)
    assert (p.start_date, p.end_date, p.days) == (date(2024, 12, 15), date(2025, 1, 15), 31)
    assert same_period_last_year("2025-01") == "2024-01"
    assert (p.previous, p.last_year, p.recent, p.back(3)) == ("2024-12", "2024-01", ("2024-12", "2024-11", "2024-10"),
                                                              "2024-10")
    assert len(set(p.earlier)) == 12 and p.earlier == tuple(sorted(p.earlier, reverse=True))
    with pytest.raises(InvalidPeriod):
        billing_period(period="2025-13", reading_day=15)


def test_rollover_and_meter_exchange():
    rolled = register_use([MeterSpan(start_value=D(9990), end_value=D(5), digits=4, multiplier=D(40))])
    assert (rolled.kwh, rolled.rolled_over) == (D(600), True)
    exchanged = register_use([MeterSpan(start_value=D(100), end_value=D(150), digits=6, multiplier=D(1)),
                              MeterSpan(start_value=D(0), end_value=D(30), digits=6, multiplier=D(1))])
    assert exchanged.kwh == D(80)  # old final − previous + new current − initial


def _reading(rid, meter, day, value):
    return ReadingRef(reading_id=rid, meter_id=meter, register="TOTAL", read_date=day, read_at=f"{day}T10:00",
                      value=D(value), source="HANDHELD", is_estimate=False, status="ACCEPTED")


def test_cycle_usage_across_a_meter_exchange():
    billing = billing_period(period="2025-03", reading_day=15)
    old = InstallationRef(meter_id=1, asset_number="OLD", digits=6, multiplier=D(1), registers=("TOTAL",),
                          installed_date=date(2020, 1, 1), removed_date=date(2025, 3, 1),
                          initial_readings={}, final_readings={"TOTAL": "1150"})
    new = InstallationRef(meter_id=2, asset_number="NEW", digits=6, multiplier=D(1), registers=("TOTAL",),
                          installed_date=date(2025, 3, 1), removed_date=None,
                          initial_readings={"TOTAL": "0"}, final_readings={})
    usage = cycle_usage(billing=billing, installations=[old, new], readings_by_meter={
        1: [_reading(1, 1, date(2025, 2, 15), 1000)], 2: [_reading(2, 2, date(2025, 3, 15), 70)]})
    assert usage.total_kwh == D(220) and not usage.holds
    assert (usage.meter_exchange.old_meter, usage.meter_exchange.new_meter) == ("OLD", "NEW")


def test_missing_reading_holds_with_missed():
    billing = billing_period(period="2025-03", reading_day=15)
    inst = InstallationRef(meter_id=1, asset_number="M1", digits=6, multiplier=D(1), registers=("TOTAL",),
                           installed_date=date(2020, 1, 1), removed_date=None, initial_readings={}, final_readings={})
    usage = cycle_usage(billing=billing, installations=[inst],
                        readings_by_meter={1: [_reading(1, 1, date(2025, 2, 14), 1000)]})
    assert [h.code for h in usage.holds] == ["MISSED"]
    assert "2025-03-15" in usage.holds[0].reason_en


def test_tier_status_says_what_remains():
    status = tier_status(before=D(2700), after=D(3000), thresholds=[D(2880), D(4800)], basis="ANNUAL")
    assert (status.ytd_kwh, status.tier, status.remaining_kwh, status.crossed) == (D(3000), 2, D(1800), True)
    at_bound = tier_status(before=D(2700), after=D(2880), thresholds=[D(2880), D(4800)], basis=None)
    assert (at_bound.tier, at_bound.remaining_kwh, at_bound.crossed, at_bound.basis) == (1, D(0), False, "ANNUAL")
    top = tier_status(before=D(4800), after=D(5000), thresholds=[D(2880), D(4800)], basis="MONTHLY")
    assert (top.tier, top.next_threshold_kwh, top.remaining_kwh, top.crossed) == (3, None, None, True)


def fig(period, amount, kwh=200, days=30):
    return PeriodFigures(period=period, kwh=D(kwh), amount_fen=amount, days=days)


def test_bill_shock_against_last_year_unless_explained():
    kwargs = dict(days=30, recent=[fig("2025-06", 10000)], previous=fig("2025-06", 10000),
                  threshold_pct=D(50))
    shock = assess_shock(amount_fen=30000, last_year=fig("2024-07", 10000), explaining_codes=set(), **kwargs)
    assert shock.is_shock and shock.increase_pct == D("200.0") and shock.basis == "SAME_PERIOD_LAST_YEAR"
    explained = assess_shock(amount_fen=30000, last_year=fig("2024-07", 10000), explaining_codes={"TIER_CROSSED"},
                             **kwargs)
    assert not explained.is_shock
    seasonal = assess_shock(amount_fen=30000, last_year=fig("2024-07", 29000), explaining_codes=set(), **kwargs)
    assert not seasonal.is_shock and seasonal.seasonal
    no_history = assess_shock(amount_fen=30000, last_year=None, explaining_codes=set(), days=30, recent=[],
                              previous=None, threshold_pct=D(50))
    assert no_history.basis == "NONE" and not no_history.is_shock


def test_explanation_sentences_in_both_languages():
    ctx = BillContext(period="2025-07", start_date=date(2025, 6, 15), end_date=date(2025, 7, 15), kwh=D(330),
                      amount_fen=16114, previous=fig("2025-06", 9766), last_year=fig("2024-07", 14649, kwh=300))
    reasons = {r.code: r for r in explain(ctx)}
    assert reasons["USAGE_VS_LAST_YEAR"].numbers["change_pct"] == "10.0"
    assert "增加 10.0%" in reasons["USAGE_VS_LAST_YEAR"].text_zh
    assert "65.0% more" in reasons["USAGE_VS_PREVIOUS"].text_en
    assert reasons["DAYS_IN_PERIOD"].numbers["days"] == 30
    assert "actual meter readings" in reasons["ESTIMATED"].text_en


def test_sentences_group_thousands_as_the_screens_do_while_numbers_stay_plain():
    ctx = BillContext(period="2025-07", start_date=date(2025, 6, 15), end_date=date(2025, 7, 15),
                      kwh=D("12345.5"), amount_fen=123456789, previous=fig("2025-06", 9766, kwh=D("1000.25")),
                      last_year=fig("2024-07", 1000000, kwh=2000))
    ctx.shock = assess_shock(amount_fen=123456789, days=30, last_year=ctx.last_year, recent=[], previous=None,
                             explaining_codes=set(), threshold_pct=D(50))
    reasons = {r.code: r for r in explain(ctx)}
    previous = reasons["USAGE_VS_PREVIOUS"]
    assert "本期用电 12,345.50 千瓦时" in previous.text_zh and "（2025-06，1,000.25 千瓦时）" in previous.text_zh
    assert previous.text_en.startswith("You used 12,345.50 kWh")
    assert previous.numbers["kwh"] == "12345.5" and previous.numbers["previous_kwh"] == "1000.25"
    shock = reasons["BILL_SHOCK"]
    assert "本期 1,234,567.89 元" in shock.text_zh and "（10,000.00 元）" in shock.text_zh
    assert shock.text_en.startswith("Bill shock: 1,234,567.89 yuan")
    assert shock.numbers["amount_fen"] == 123456789


def _tariff(extra_version: str = ""):
    text = (TARIFFS / "BJ-RES-LT1KV.toml").read_text(encoding="utf-8") + extra_version
    return parse_tariff(text, origin="test.toml", power_factor_tables={})


def _usage(kwh):
    billing = billing_period(period="2025-07", reading_day=15)
    inst = InstallationRef(meter_id=1, asset_number="M1", digits=6, multiplier=D(1), registers=("TOTAL",),
                           installed_date=date(2020, 1, 1), removed_date=None, initial_readings={}, final_readings={})
    return billing, cycle_usage(billing=billing, installations=[inst], readings_by_meter={1: [
        _reading(1, 1, date(2025, 6, 15), 1000), _reading(2, 1, date(2025, 7, 15), 1000 + kwh)]})


def test_draft_crossing_a_tier_is_explained_not_shock():
    tariff = _tariff()
    billing, usage = _usage(300)
    draft = draft_bill(billing=billing, usage=usage, tariffs={tariff.id: tariff},
                       segments=[TariffSegment(tariff.id, "RESIDENTIAL", billing.start_date, billing.end_date)],
                       facts=AccountFacts(account_id=1, ytd_kwh=D(2700), last_year=fig("2024-07", 5000, kwh=100)))
    # 180 kWh at 0.4883 + 120 kWh at 0.5383
    assert draft.amount_fen == 8789 + 6460 and draft.status == "ISSUED"
    tier = next(r for r in draft.explanation if r["code"] == "TIER_STATUS")
    assert tier["numbers"]["crossed"] is True and tier["numbers"]["remaining_kwh"] == "1800.00"


def test_draft_across_a_price_change_is_split_and_says_so():
    tariff = _tariff('\n[[versions]]\neffective_from = 2025-07-01\nsource = "test"\n\n[versions.tiers]\n'
                     'basis = "ANNUAL"\nthresholds = [2880, 4800]\n\n[versions.energy]\nuntimed = [0.5, 0.55, 0.8]\n')
    billing, usage = _usage(300)
    draft = draft_bill(billing=billing, usage=usage, tariffs={tariff.id: tariff},
                       segments=[TariffSegment(tariff.id, "RESIDENTIAL", billing.start_date, billing.end_date)],
                       facts=AccountFacts(account_id=1))
    change = next(r for r in draft.explanation if r["code"] == "PRICE_CHANGE")
    assert change["numbers"]["change_date"] == "2025-07-01"
    assert {line.segment_start_date for line in draft.lines} == {date(2025, 6, 15), date(2025, 7, 1)}
