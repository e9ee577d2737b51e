"""The vectorised kernel and `rate()` agree bill by bill and line by line, to the fen, on every shipped tariff."""
import itertools
import random
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gridcounter.domain.tariffs import (
    BasicChargeBasis,
    RatingError,
    RatingInput,
    TierBasis,
    TouPeriod,
    build_catalogue,
    rate,
    tier_thresholds,
)
from gridcounter.domain.tariffs.rating_frame import (
    FALLBACK,
    VECTOR,
    fallback_count,
    quotes_to_frames,
    rate_frame,
    row_from_input,
    usage_frame,
)

TARIFF_DIR = Path(__file__).resolve().parents[4] / "tariffs"

# Two tariffs only the tests ship: monthly tiers with a large-household bonus (pro-rated thresholds),
# and a price change on 2024-07-01 (a period spanning it is rated by rate() itself).
MONTHLY = """
id = "TEST-MONTHLY"
name = "测试月阶梯"
name_en = "Test monthly tiers"
province = "测试"
usage_categories = ["RESIDENTIAL"]
[[versions]]
effective_from = 2012-01-01
source = "test"
[versions.tiers]
basis = "MONTHLY"
thresholds = [180, 280.5]
large_household = { min_size = 4, extra_kwh_per_month = 50 }
[versions.energy]
untimed = [0.5283, 0.5783, 0.8283]
tou = { PEAK = [0.5583, 0.6083, 0.8583], VALLEY = [0.3, 0.35, 0.6] }
"""
CHANGE = """
id = "TEST-CHANGE"
name = "测试调价"
name_en = "Test price change"
province = "测试"
usage_categories = ["RESIDENTIAL"]
[[versions]]
effective_from = 2012-01-01
source = "test"
[versions.tiers]
basis = "ANNUAL"
thresholds = [2880, 4800]
[versions.energy]
untimed = [0.4883, 0.5383, 0.7883]
[[versions]]
effective_from = 2024-07-01
source = "test"
[versions.tiers]
basis = "ANNUAL"
thresholds = [3000, 5000]
[versions.energy]
untimed = [0.5011, 0.5511, 0.8011]
"""

CATALOGUE = build_catalogue(
    tariff_sources=[(str(p), p.read_text(encoding="utf-8")) for p in sorted(TARIFF_DIR.glob("*.toml"))],
    rule_sources=[(str(p), p.read_text(encoding="utf-8")) for p in sorted((TARIFF_DIR / "rules").glob("*.toml"))],
    extra_tariff_sources=[("test-monthly", MONTHLY), ("test-change", CHANGE)],
)
SHIPPED = sorted(p.stem for p in TARIFF_DIR.glob("*.toml"))
ALL_TARIFFS = sorted(CATALOGUE.tariffs)
FIELDS = {TouPeriod.CRITICAL_PEAK: "critical_peak", TouPeriod.PEAK: "peak", TouPeriod.FLAT: "flat",
          TouPeriod.VALLEY: "valley"}


def compare(cases: list[tuple[str, RatingInput]]) -> pl.DataFrame:
    """Rate every case both ways and assert equality; returns the kernel's totals."""
    rows, quotes, refused = [], [], {}
    for i, (tariff_id, inp) in enumerate(cases):
        rows.append(row_from_input(account_id=i, period="P", tariff_id=tariff_id, inp=inp))
        try:
            quotes.append((i, "P", rate(CATALOGUE.get(tariff_id), inp)))
        except RatingError as exc:
            refused[i] = exc.field
    lines, totals = rate_frame(usage_frame(rows), catalogue=CATALOGUE)
    want_lines, want_totals = quotes_to_frames(quotes)

    assert totals.height == len(cases)
    assert_frame_equal(lines, want_lines)
    got = totals.filter(pl.col("error").is_null()).select(want_totals.columns)
    assert_frame_equal(got, want_totals)
    errors = dict(totals.filter(pl.col("error").is_not_null()).select("account_id", "error_field").iter_rows())
    assert errors == refused
    return totals


def needs_rate(tariff_id: str, inp: RatingInput) -> bool:
    """A period the kernel leaves to rate(): spanning a version change, or a new year under annual tiers."""
    tariff = CATALOGUE.get(tariff_id)
    version, end = tariff.version_on(inp.start_date)
    crosses_year = inp.end_date > date(inp.start_date.year + 1, 1, 1)
    return (end is not None and inp.end_date > end) or (
        version.prices.basis is TierBasis.ANNUAL and crosses_year)


# -- generating inputs -------------------------------------------------------------------------------------


def annual_marks(tariff_id: str, household_size: int) -> list[D]:
    version = CATALOGUE.get(tariff_id).versions[-1]
    return list(tier_thresholds(version, household_size=household_size, units=30))


def usage_for(tariff_id: str, on: date, total: D, rnd: random.Random, *, timed: bool | None = None) -> dict:
    """Untimed kWh where the tariff takes it (or TOU registers), else TOU registers splitting `total`."""
    prices = CATALOGUE.get(tariff_id).version_on(on)[0].prices
    if prices.untimed is not None and (not prices.tou or timed is False or (timed is None and rnd.random() < 0.5)):
        return {"kwh": total}
    periods = [p for p in prices.tou if p is not TouPeriod.CRITICAL_PEAK or on.month in prices.critical_months]
    cents = int(total * 100)
    cuts = sorted(rnd.randint(0, cents) for _ in range(len(periods) - 1))
    bounds = [0, *cuts, cents]
    parts = [D(b - a) / 100 for a, b in itertools.pairwise(bounds)]
    if rnd.random() < 0.2:
        parts[rnd.randrange(len(parts))] = D(0)
    return {FIELDS[p]: q for p, q in zip(periods, parts, strict=True)}


def basic_for(tariff_id: str, rnd: random.Random) -> dict:
    if CATALOGUE.get(tariff_id).versions[-1].basic_charge is None:
        return {}
    kwargs: dict = {"kvarh": D(rnd.randint(0, 2_000_000)) / 100} if rnd.random() < 0.8 else {}
    if rnd.random() < 0.4:
        return {**kwargs, "capacity_kva": D(rnd.randint(0, 50000)) / 10}
    contract = D(rnd.randint(0, 50000)) / 10
    demand = contract * D(rnd.choice(["0", "0.5", "1", "1.04", "1.05", "1.0501", "1.06", "1.5", "2"]))
    return {**kwargs, "demand_kw": demand.quantize(D("0.0001")), "contract_demand_kw": contract}


def grid_cases() -> list[tuple[str, RatingInput]]:
    """Every tariff × usage 0…20000 across the thresholds × ytd at every threshold × households 1–7."""
    rnd = random.Random(20240601)
    cases = []
    for tariff_id in ALL_TARIFFS:
        for household in range(1, 8):
            marks = annual_marks(tariff_id, household)
            ytds = [D(0), *(m + d for m in marks for d in (D("-0.01"), D(0), D("0.01"), D(-150)))]
            usages = [D(0), D("0.01"), D("0.49"), D(1), D("123.45"), D(240), D(400), D("999.99"), D(5000),
                      D(20000), *(m + d for m in marks for d in (D("-0.01"), D(0), D("0.01")))]
            for ytd in ytds:
                for total in rnd.sample(usages, 6):
                    month = rnd.randint(1, 12)
                    start = date(2024, month, 1)
                    end = date(2024 + (month == 12), month % 12 + 1, 1)
                    if rnd.random() < 0.3:  # a part month: pro-rated thresholds and basic charge
                        start = start + timedelta(days=rnd.randint(0, 20))
                        end = start + timedelta(days=rnd.randint(1, 30))
                        if end.year > start.year:
                            end = date(start.year, 12, 31)
                    usage = usage_for(tariff_id, start, total, rnd)
                    cases.append((tariff_id, RatingInput(start_date=start, end_date=end, ytd_kwh=max(ytd, D(0)),
                                                         household_size=household, **usage, **basic_for(tariff_id, rnd))))
    return cases


def test_grid_of_every_tariff_agrees_to_the_fen_and_is_vectorised():
    cases = grid_cases()
    assert len(cases) > 2000
    assert {t for t, _ in cases} >= set(SHIPPED)

    totals = compare(cases)

    # only the periods spanning the test tariff's price change are handed back to rate()
    fell_back = set(totals.filter(pl.col("engine") == FALLBACK)["account_id"].to_list())
    assert fell_back == {i for i, (t, inp) in enumerate(cases) if needs_rate(t, inp)}
    assert totals.filter(pl.col("amount_fen") > 0).height > 0.9 * len(cases)


def test_two_part_tariff_basic_charge_excess_demand_and_power_factor():
    rnd = random.Random(7)
    start, end = date(2024, 7, 1), date(2024, 8, 1)
    cases = []
    for contract, factor in itertools.product(["0", "100", "1000.5", "3333.3"], ["0", "1", "1.05", "1.0501", "1.3"]):
        demand = (D(contract) * D(factor)).quantize(D("0.0001"))
        for kvarh in [None, D(0), D("0.01"), D(150), D(900), D(5000), D(100000)]:
            usage = usage_for("DEMO-LI-2P", start, D(rnd.randint(0, 2_000_000)) / 100, rnd, timed=True)
            extra = {} if kvarh is None else {"kvarh": kvarh}
            cases.append(("DEMO-LI-2P", RatingInput(start_date=start, end_date=end, demand_kw=demand,
                                                    contract_demand_kw=D(contract), **usage, **extra)))
            cases.append(("DEMO-LI-2P", RatingInput(start_date=start + timedelta(days=9), end_date=end,
                                                    capacity_kva=D(contract), **usage, **extra)))
    cases.append(("DEMO-LI-2P", RatingInput(start_date=start, end_date=end, peak=D(0), flat=D(0), valley=D(0),
                                            capacity_kva=D(500), kvarh=D(0))))  # no energy: no power-factor line

    totals = compare(cases)

    assert fallback_count(totals) == 0
    assert totals["amount_fen"].min() >= 0


def test_power_factor_charge_rises_as_reactive_energy_grows():
    period = {"start_date": date(2024, 3, 1), "end_date": date(2024, 4, 1)}
    cases = [("DEMO-LI-2P", RatingInput(**period, flat=D(1000), capacity_kva=D(100), kvarh=D(q)))
             for q in (0, 300, 500, 1000, 3000)]

    totals = compare(cases)

    amounts = totals["amount_fen"].to_list()
    assert amounts == sorted(amounts) and amounts[0] < amounts[-1]


def test_periods_spanning_a_price_change_or_a_new_year_are_rated_by_rate_and_counted():
    cases = [
        ("TEST-CHANGE", RatingInput(start_date=date(2024, 6, 15), end_date=date(2024, 7, 15), kwh=D(400),
                                    ytd_kwh=D(2700))),
        ("TEST-CHANGE", RatingInput(start_date=date(2024, 7, 1), end_date=date(2024, 8, 1), kwh=D(400),
                                    ytd_kwh=D(2900))),  # the new version alone: vectorised
        ("BJ-RES-LT1KV", RatingInput(start_date=date(2024, 12, 15), end_date=date(2025, 1, 15), kwh=D(500),
                                     ytd_kwh=D(4700))),
        ("SH-RES-TOU", RatingInput(start_date=date(2024, 12, 20), end_date=date(2025, 1, 20), peak=D(300),
                                   valley=D(100), ytd_kwh=D(4790), household_size=5)),
        ("TEST-MONTHLY", RatingInput(start_date=date(2024, 12, 20), end_date=date(2025, 1, 20), kwh=D(300),
                                     household_size=4)),  # monthly tiers do not restart: vectorised
    ]

    totals = compare(cases)

    assert totals["engine"].to_list() == [FALLBACK, VECTOR, FALLBACK, FALLBACK, VECTOR]


def test_inputs_rate_refuses_are_reported_with_the_field_and_not_billed():
    nov = {"start_date": date(2024, 11, 1), "end_date": date(2024, 12, 1)}
    cases = [
        ("BJ-RES-LT1KV", RatingInput(**nov, peak=D(10))),  # no TOU prices
        ("SC-GC-TOU", RatingInput(**nov, kwh=D(10))),  # TOU only
        ("SC-GC-TOU", RatingInput(**nov, critical_peak=D(5), flat=D(1))),  # no critical peak in November
        ("SH-RES-TOU", RatingInput(**nov, peak=D(5), flat=D(1))),  # no flat period
        ("BJ-RES-LT1KV", RatingInput(**nov, kwh=D(10), peak=D(1))),  # both
        ("BJ-RES-LT1KV", RatingInput(**nov)),  # neither
        ("DEMO-LI-2P", RatingInput(**nov, flat=D(10))),  # two-part without capacity or demand
        ("DEMO-LI-2P", RatingInput(**nov, flat=D(10), demand_kw=D(5))),  # demand without contract
        ("DEMO-LI-2P", RatingInput(**nov, flat=D(10), demand_kw=D(5), capacity_kva=D(5))),  # which basis?
        ("DEMO-LI-2P", RatingInput(**nov, flat=D(10), capacity_kva=D(5),
                                   basic_charge_basis=BasicChargeBasis.DEMAND)),
        ("BJ-RES-LT1KV", RatingInput(start_date=date(2024, 11, 1), end_date=date(2024, 11, 1), kwh=D(1))),
        ("BJ-RES-LT1KV", RatingInput(**nov, kwh=D(-1))),
        ("BJ-RES-LT1KV", RatingInput(**nov, kwh=D(1), household_size=0)),
        ("BJ-RES-LT1KV", RatingInput(start_date=date(2010, 1, 1), end_date=date(2010, 2, 1), kwh=D(1))),
        ("BJ-RES-LT1KV", RatingInput(**nov, kwh=D(100))),  # fine, between refusals
    ]

    totals = compare(cases)

    assert totals.filter(pl.col("error").is_not_null()).height == len(cases) - 1
    assert totals.filter(pl.col("error").is_null())["amount_fen"].to_list() == [4883]


def test_an_unknown_tariff_is_refused_by_name():
    row = row_from_input(account_id=1, period="P", tariff_id="NO-SUCH", inp=RatingInput(
        start_date=date(2024, 1, 1), end_date=date(2024, 2, 1), kwh=D(1)))
    lines, totals = rate_frame(usage_frame([row]), catalogue=CATALOGUE)
    assert lines.is_empty()
    assert totals.row(0, named=True)["error_field"] == "tariff_id"
    assert "NO-SUCH" in totals.row(0, named=True)["error"]


# -- Hypothesis: many random bills per example, compared in one go -----------------------------------------

cents = st.integers(min_value=0, max_value=2_000_000).map(lambda c: D(c) / 100)


@st.composite
def a_case(draw) -> tuple[str, RatingInput]:
    tariff_id = draw(st.sampled_from(ALL_TARIFFS))
    year = draw(st.sampled_from([2023, 2024, 2025]))
    start = date(year, draw(st.integers(1, 12)), draw(st.integers(1, 28)))
    if draw(st.booleans()):
        start = start.replace(day=1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    else:
        end = start + timedelta(days=draw(st.integers(1, 62)))
    household = draw(st.none() | st.integers(1, 7))
    marks = annual_marks(tariff_id, household or 1)
    ytd = draw(cents | st.sampled_from(marks or [D(0)]).flatmap(
        lambda m: st.integers(-300, 300).map(lambda d: max(D(0), m + D(d) / 100))))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    total = draw(cents | st.integers(0, 100_000).map(lambda c: D(c) / 100))
    found = CATALOGUE.get(tariff_id).version_on(start)
    if found is None:
        return tariff_id, RatingInput(start_date=start, end_date=end, kwh=total)
    usage = usage_for(tariff_id, start, total, rnd)
    return tariff_id, RatingInput(start_date=start, end_date=end, ytd_kwh=ytd, household_size=household,
                                  **usage, **basic_for(tariff_id, rnd))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=st.lists(a_case(), min_size=60, max_size=120))
def test_random_bills_agree_to_the_fen(cases):
    totals = compare(cases)

    expected_fallback = {i for i, (t, inp) in enumerate(cases) if needs_rate(t, inp)}
    fell_back = set(totals.filter(pl.col("engine") == FALLBACK)["account_id"].to_list())
    refused = set(totals.filter(pl.col("error").is_not_null())["account_id"].to_list())
    assert fell_back - refused == expected_fallback - refused


@pytest.mark.parametrize("tariff_id", SHIPPED)
def test_each_shipped_tariff_rates_a_thousand_bills_vectorised(tariff_id):
    rnd = random.Random(tariff_id)
    cases = []
    for _ in range(1000):
        month = rnd.randint(1, 12)
        start = date(2024, month, 1)
        end = date(2024 + (month == 12), month % 12 + 1, 1)
        total = D(rnd.randint(0, 2_000_000)) / 100
        ytd = D(rnd.randint(0, 600_000)) / 100
        cases.append((tariff_id, RatingInput(start_date=start, end_date=end, ytd_kwh=ytd,
                                             household_size=rnd.randint(1, 7), **usage_for(tariff_id, start, total, rnd),
                                             **basic_for(tariff_id, rnd))))
    totals = compare(cases)
    assert fallback_count(totals) == 0
