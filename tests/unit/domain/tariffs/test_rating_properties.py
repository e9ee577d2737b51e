"""Properties every shipped tariff keeps: monotone in usage, continuous at tier thresholds, lines add up, never negative."""
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridcounter.domain.tariffs import RatingInput, TouPeriod, build_catalogue, rate, tier_thresholds

TARIFF_DIR = Path(__file__).resolve().parents[4] / "tariffs"
CATALOGUE = build_catalogue(
    tariff_sources=[(str(p), p.read_text(encoding="utf-8")) for p in sorted(TARIFF_DIR.glob("*.toml"))],
    rule_sources=[(str(p), p.read_text(encoding="utf-8")) for p in sorted((TARIFF_DIR / "rules").glob("*.toml"))],
)
TARIFF_IDS = sorted(CATALOGUE.tariffs)
TIERED_IDS = [t for t in TARIFF_IDS if CATALOGUE.get(t).versions[-1].tiers is not None]
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

kwh = st.decimals(min_value=0, max_value=20000, places=2, allow_nan=False, allow_infinity=False)
small_kwh = st.decimals(min_value=0, max_value=2000, places=2, allow_nan=False, allow_infinity=False)
delta = st.decimals(min_value=D(1), max_value=500, places=2, allow_nan=False, allow_infinity=False)
epsilon = st.decimals(min_value=D("0.01"), max_value=50, places=2, allow_nan=False, allow_infinity=False)
months = st.integers(min_value=1, max_value=12)
FIELDS = {TouPeriod.CRITICAL_PEAK: "critical_peak", TouPeriod.PEAK: "peak", TouPeriod.FLAT: "flat",
          TouPeriod.VALLEY: "valley"}


def month(m: int, days: int | None = None) -> dict:
    start = date(2024, m, 1)
    end = date(2024 + (m == 12), m % 12 + 1, 1) if days is None else start + timedelta(days=days)
    return {"start_date": start, "end_date": end}


def periods_of(tariff_id: str, m: int) -> list[TouPeriod]:
    prices = CATALOGUE.get(tariff_id).versions[-1].prices
    return [p for p in prices.tou if p is not TouPeriod.CRITICAL_PEAK or m in prices.critical_months]


def usage_kwargs(tariff_id: str, m: int, draw) -> dict:
    """Untimed kWh where the tariff takes it (sometimes TOU registers instead), else TOU registers."""
    prices = CATALOGUE.get(tariff_id).versions[-1].prices
    if prices.untimed is not None and (not prices.tou or draw(st.booleans())):
        return {"kwh": draw(kwh)}
    return {FIELDS[p]: draw(small_kwh) for p in periods_of(tariff_id, m)}


def fixed_kwargs(tariff_id: str, draw) -> dict:
    """Inputs other than usage: year to date, household, basic-charge basis."""
    kwargs: dict = {"ytd_kwh": draw(kwh), "household_size": draw(st.integers(1, 8))}
    if CATALOGUE.get(tariff_id).versions[-1].basic_charge is not None:
        if draw(st.booleans()):
            kwargs["capacity_kva"] = draw(st.decimals(min_value=0, max_value=5000, places=1))
        else:
            kwargs["demand_kw"] = draw(st.decimals(min_value=0, max_value=5000, places=1))
            kwargs["contract_demand_kw"] = draw(st.decimals(min_value=0, max_value=5000, places=1))
    return kwargs


@pytest.mark.parametrize("tariff_id", TARIFF_IDS)
@SETTINGS
@given(data=st.data(), m=months)
def test_total_never_decreases_as_usage_grows(tariff_id, data, m):
    tariff = CATALOGUE.get(tariff_id)
    base = {**month(m), **fixed_kwargs(tariff_id, data.draw), **usage_kwargs(tariff_id, m, data.draw)}
    grown = dict(base)
    if "kwh" in base:
        grown["kwh"] = base["kwh"] + data.draw(epsilon)  # untimed: exact monotonicity, down to 0.01 kWh
    else:
        # time of use: one register grows by at least 1 kWh (proportional tier splits may move a fen or two)
        field = data.draw(st.sampled_from(sorted(k for k in base if k in FIELDS.values())))
        grown[field] = base[field] + data.draw(delta)
    assert rate(tariff, RatingInput(**grown)).total >= rate(tariff, RatingInput(**base)).total


@pytest.mark.parametrize("tariff_id", TIERED_IDS)
@SETTINGS
@given(data=st.data(), m=months, household=st.integers(1, 8), eps=epsilon)
def test_tier_thresholds_are_continuous(tariff_id, data, m, household, eps):
    """At a threshold, ε more kWh costs ε × the next tier's price and ε less saves ε × the lower one: no jump."""
    tariff = CATALOGUE.get(tariff_id)
    version = tariff.versions[-1]
    thresholds = tier_thresholds(version, household_size=household, units=30)
    t = data.draw(st.integers(0, len(thresholds) - 1))
    at = thresholds[t]
    ytd = data.draw(st.decimals(min_value=0, max_value=at - eps, places=2))
    usage = at - ytd

    def total(k):
        return rate(tariff, RatingInput(**month(m), kwh=k, ytd_kwh=ytd, household_size=household)).total

    lower, upper = version.prices.untimed[t], version.prices.untimed[t + 1]
    assert abs(total(usage + eps) - total(usage) - eps * upper) <= D("0.01")
    assert abs(total(usage) - total(usage - eps) - eps * lower) <= D("0.01")


@pytest.mark.parametrize("tariff_id", sorted(set(TARIFF_IDS) - set(TIERED_IDS)))
@SETTINGS
@given(data=st.data(), m=months, eps=epsilon)
def test_untiered_tariffs_charge_each_kwh_at_its_price(tariff_id, data, m, eps):
    tariff = CATALOGUE.get(tariff_id)
    prices = tariff.versions[-1].prices
    period = data.draw(st.sampled_from(periods_of(tariff_id, m) or [None]))
    field = "kwh" if period is None else FIELDS[period]
    price = prices.untimed[0] if period is None else prices.tou[period][0]
    extra = {"capacity_kva": D(100)} if tariff.versions[-1].basic_charge else {}
    u = data.draw(kwh)

    def total(k):
        return rate(tariff, RatingInput(**month(m), **extra, **{field: k})).total

    assert abs(total(u + eps) - total(u) - eps * price) <= D("0.01")


@pytest.mark.parametrize("tariff_id", TARIFF_IDS)
@SETTINGS
@given(data=st.data(), m=months, days=st.one_of(st.none(), st.integers(1, 45)),
       kvarh=st.one_of(st.none(), kwh))
def test_lines_sum_to_the_total_which_is_never_negative(tariff_id, data, m, days, kvarh):
    kwargs = {**month(m, days), **fixed_kwargs(tariff_id, data.draw), **usage_kwargs(tariff_id, m, data.draw)}
    quote = rate(CATALOGUE.get(tariff_id), RatingInput(**kwargs, kvarh=kvarh))
    assert quote.total == sum(line.amount for line in quote.lines)
    assert quote.total >= 0
    assert all(line.amount == line.amount.quantize(D("0.01")) for line in quote.lines)
    energy = sum(line.quantity for line in quote.lines if line.unit == "kWh")
    assert energy == sum(v for k, v in kwargs.items() if k in ("kwh", *FIELDS.values()))
