"""The shipped catalogue loads and says what DOMAIN.md §4 says; malformed files are refused by file and field."""
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from gridcounter.domain.tariffs import (
    CatalogueError,
    TierBasis,
    TouPeriod,
    UnknownTariff,
    build_catalogue,
    power_factor,
)

TARIFF_DIR = Path(__file__).resolve().parents[4] / "tariffs"
RULES = [(str(p), p.read_text(encoding="utf-8")) for p in sorted((TARIFF_DIR / "rules").glob("*.toml"))]
SHIPPED = [(str(p), p.read_text(encoding="utf-8")) for p in sorted(TARIFF_DIR.glob("*.toml"))]


def catalogue(*texts: str, shipped: bool = False):
    return build_catalogue(tariff_sources=[*(SHIPPED if shipped else []), *((f"t{i}.toml", t) for i, t in enumerate(texts))],
                           rule_sources=RULES)


MINIMAL = """
id = "TEST-MIN"
name = "测试"
name_en = "Test"
province = "测试"
usage_categories = ["RESIDENTIAL"]

[[versions]]
effective_from = 2024-01-01
source = "test"
[versions.energy]
untimed = [0.5]
"""


def test_the_shipped_tariffs_load_with_their_ids_and_sources():
    shipped = catalogue(shipped=True)
    assert set(shipped.tariffs) == {"BJ-RES-LT1KV", "BJ-RES-1KV", "BJ-RES-SHARED", "SH-RES-TOU", "ZJ-RES-TOU",
                                    "SC-GC-TOU", "DEMO-LI-2P"}
    for tariff in shipped.tariffs.values():
        assert tariff.name and tariff.name_en and tariff.province and tariff.usage_categories
        assert all(v.source for v in tariff.versions)
    assert shipped.get("BJ-RES-SHARED").usage_categories == ("SHARED_METER_RESIDENTIAL",)
    assert shipped.get("SC-GC-TOU").usage_categories == ("GENERAL_COMMERCIAL",)
    assert shipped.get("DEMO-LI-2P").usage_categories == ("LARGE_INDUSTRY",)


def test_shipped_prices_are_the_figures_of_domain_md():
    shipped = catalogue(shipped=True)
    bj = shipped.get("BJ-RES-LT1KV").versions[-1].prices
    assert (bj.basis, bj.thresholds, bj.untimed) == (TierBasis.ANNUAL, (D(2880), D(4800)),
                                                     (D("0.4883"), D("0.5383"), D("0.7883")))
    sh = shipped.get("SH-RES-TOU").versions[-1]
    assert sh.prices.tou == {TouPeriod.PEAK: (D("0.617"), D("0.677"), D("0.977")),
                             TouPeriod.VALLEY: (D("0.307"), D("0.337"), D("0.487"))}
    assert sh.tiers.large_household.min_size == 5 and sh.tiers.large_household.extra_kwh_per_month == 100
    demo = shipped.get("DEMO-LI-2P").versions[-1]
    assert demo.prices.tou[TouPeriod.CRITICAL_PEAK] == (D("1.1520"),)
    assert demo.prices.critical_months == {7, 8, 12, 1}
    assert (demo.basic_charge.capacity_price, demo.basic_charge.demand_price) == (30, 40)
    assert demo.power_factor.id == "PF-215" and demo.power_factor.standard == D("0.90")


@pytest.mark.parametrize(("cos_phi", "percent"), [
    ("1.00", "-0.75"), ("0.95", "-0.75"), ("0.94", "-0.60"), ("0.93", "-0.45"), ("0.92", "-0.30"),
    ("0.91", "-0.15"), ("0.90", "0"), ("0.89", "0.5"), ("0.85", "2.5"), ("0.80", "5"), ("0.70", "10"),
    ("0.69", "11"), ("0.65", "15"), ("0.64", "17"), ("0.60", "25"),
])
def test_power_factor_table_215_for_standard_090(cos_phi, percent):
    table = catalogue(shipped=True).power_factor_tables[("PF-215", D("0.90"))]
    assert table.percent_for(D(cos_phi)) == D(percent)
    assert len(table.rows) == 101


@pytest.mark.parametrize(("kwh", "kvarh", "expected"), [
    (D(3), D(4), D("0.60")), (D(4), D(3), D("0.80")), (D(100), D(0), D("1.00")), (D(0), D(5), D("0.00")),
    (D(4000), D(1300), D("0.95")), (D(4000), D(2480), D("0.85")),
    (D(1000), D("484.3"), D("0.90")),  # 0.900004… rounds to 0.90
])
def test_power_factor_is_rounded_half_up_to_two_decimals(kwh, kvarh, expected):
    assert power_factor(kwh=kwh, kvarh=kvarh) == expected


def test_power_factor_undefined_without_energy():
    assert power_factor(kwh=D(0), kvarh=D(0)) is None


def test_unknown_tariff_lists_the_known_ones():
    with pytest.raises(UnknownTariff, match="unknown tariff 'NOPE'.*BJ-RES-1KV"):
        catalogue(shipped=True).get("NOPE")


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("untimed = [0.5]", "untimed = [0.5]\nuntimd = [1]"), "t0.toml: versions[0].energy.untimd: unknown field"),
    (lambda t: t.replace('source = "test"\n', ""), "t0.toml: versions[0].source: is required"),
    (lambda t: t.replace("effective_from = 2024-01-01", 'effective_from = "2024-01-01"'), "effective_from: must be a TOML date"),
    (lambda t: t.replace("untimed = [0.5]", "untimed = [-0.5]"), "must be at least 0"),
    (lambda t: t.replace("untimed = [0.5]", 'untimed = ["abc"]'), "must be a number"),
    (lambda t: t.replace('[versions.energy]', '[versions.tiers]\nbasis = "ANNUAL"\nthresholds = [100]\n[versions.energy]'),
     "energy.untimed: needs 2 price(s), one per tier, not 1"),
    (lambda t: t.replace('[versions.energy]', '[versions.tiers]\nbasis = "WEEKLY"\nthresholds = [100]\n[versions.energy]'),
     "tiers.basis: must be MONTHLY or ANNUAL"),
    (lambda t: t.replace('[versions.energy]', '[versions.tiers]\nbasis = "ANNUAL"\nthresholds = [200, 100]\n[versions.energy]'),
     "strictly increasing"),
    (lambda t: t + '\n[[versions]]\neffective_from = 2023-06-01\nsource = "x"\n[versions.energy]\nuntimed = [1]\n',
     "in order of effective_from"),
    (lambda t: t.replace("effective_from = 2024-01-01", "effective_from = 2024-01-01\neffective_to = 2023-01-01"),
     "effective_to: must be after effective_from"),
    (lambda t: t.replace('id = "TEST-MIN"', 'id = "test min"'), "id: must be upper-case"),
    (lambda t: t.replace("untimed = [0.5]", "untimed = [0.5]\n[versions.power_factor]\ntable = \"PF-999\"\nstandard = 0.9"),
     "no power-factor table PF-999"),
    (lambda t: t.replace("untimed = [0.5]", "tou = { PEAK = [1], VALLEY = [0.5] }\n[[versions.time_of_use]]\n"
                         "period = \"PEAK\"\nhours = [[8, 22]]\n[[versions.time_of_use]]\nperiod = \"VALLEY\"\nhours = [[23, 8]]"),
     "cover each hour of the day exactly once"),
    (lambda t: t.replace("untimed = [0.5]", "tou = { PEAK = [1], SHOULDER = [0.5] }"), "unknown time-of-use period"),
    (lambda t: t.replace("untimed = [0.5]", "base = 0.5"), "base and ratios go together"),
    (lambda t: t.replace("untimed = [0.5]", "untimed = [0.5]\ncritical_peak = { multiplier = 1.2, months = [7] }"),
     "needs a PEAK price"),
    (lambda t: t + "\n[oops", "not valid TOML"),
])
def test_malformed_files_are_refused_naming_file_and_field(change, message):
    with pytest.raises(CatalogueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        catalogue(change(MINIMAL))


def test_prices_may_be_written_as_strings_and_are_decimals():
    tariff = catalogue(MINIMAL.replace("untimed = [0.5]", 'untimed = ["0.5083"]')).get("TEST-MIN")
    assert tariff.versions[0].prices.untimed == (D("0.5083"),)


def test_two_files_with_the_same_id_are_refused():
    with pytest.raises(CatalogueError, match="t1.toml: tariff id TEST-MIN already defined in t0.toml"):
        catalogue(MINIMAL, MINIMAL)


def test_an_extra_file_replaces_the_catalogue_tariff_of_the_same_id():
    replaced = build_catalogue(tariff_sources=[("a.toml", MINIMAL)], rule_sources=RULES,
                               extra_tariff_sources=[("b.toml", MINIMAL.replace("[0.5]", "[0.6]"))])
    assert replaced.get("TEST-MIN").versions[0].prices.untimed == (D("0.6"),)
    assert replaced.get("TEST-MIN").origin == "b.toml"


def test_version_in_force_with_a_gap():
    text = MINIMAL.replace("effective_from = 2024-01-01", "effective_from = 2024-01-01\neffective_to = 2024-03-01") + (
        '\n[[versions]]\neffective_from = 2024-04-01\nsource = "later"\n[versions.energy]\nuntimed = [0.6]\n')
    tariff = catalogue(text).get("TEST-MIN")
    assert tariff.version_on(date(2024, 2, 29))[1] == date(2024, 3, 1)
    assert tariff.version_on(date(2024, 3, 15)) is None
    assert tariff.version_on(date(2030, 1, 1))[0].source == "later"
