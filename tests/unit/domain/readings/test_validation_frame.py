"""The vectorised reading rules agree with `validate_reading`, reading by reading: same findings, same numbers, same
zh/en sentences, and most ordinary readings are decided without the reference."""
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcounter.application.readings._readings import select_priors
from gridcounter.domain.readings.validation import (
    PriorReading,
    ReadingCheck,
    Thresholds,
    cycles_from_readings,
    expected_consumption,
    spike_limit,
    validate_reading,
)
from gridcounter.domain.readings.validation_frame import (
    PRIOR_SCHEMA,
    TARGET_SCHEMA,
    centi,
    checks_from_readings,
    clear_rows,
    expected_bounds,
    frames_of,
    validate_checks,
)

RULES_FILE = Path(__file__).resolve().parents[4] / "rules" / "validation.toml"
RULES = Thresholds.from_mapping(tomllib.loads(RULES_FILE.read_text()))
D = Decimal


def check(*, uses, new_use, digits=6, start_value="100", start=date(2025, 1, 15), estimates=(), gap_days=0,
          route_day=15, has_account=True, active=True, day_shift=0):
    """A reading after monthly priors from ``start`` advancing by ``uses``; ``new_use`` is the new advance."""
    value, day = D(start_value), start
    priors = [PriorReading(day, value)]
    for i, use in enumerate(uses):
        day = date(day.year + day.month // 12, day.month % 12 + 1, start.day)
        value = (value + D(use)) % (D(10) ** digits)
        priors.append(PriorReading(day, value, is_estimate=i in estimates))
    read_date = date(day.year + day.month // 12, day.month % 12 + 1, start.day) + timedelta(days=day_shift + gap_days)
    new_value = (value + D(new_use)) % (D(10) ** digits) if D(new_use) >= 0 else value + D(new_use)
    return ReadingCheck(read_date=read_date, value=new_value, digits=digits, previous=priors[-1],
                        history=cycles_from_readings(priors, digits=digits), route_day=route_day,
                        has_account=has_account, account_active=active and has_account, meter="M-1")


CASES = {
    "steady": check(uses=["200"] * 6, new_use="210"),
    "first reading": ReadingCheck(read_date=date(2025, 3, 15), value=D("12.34"), digits=6, route_day=15),
    "one prior": check(uses=[], new_use="150"),
    "fewer cycles than typical": check(uses=["0", "0.01"], new_use="250", estimates=(0,)),
    "high": check(uses=["200"] * 6, new_use="900"),
    "low": check(uses=["200"] * 6, new_use="20"),
    "spike": check(uses=["100"] * 6, new_use="5000"),
    "zero": check(uses=["0", "0", "0"], new_use="0"),
    "zero after use": check(uses=["200"] * 4, new_use="0"),
    "rollover": check(uses=["300"] * 4, new_use="400", start_value="998500"),
    "decrease": check(uses=["300"] * 4, new_use="-500"),
    "same day": check(uses=["200"] * 4, new_use="0", gap_days=-31),
    "before previous": check(uses=["200"] * 4, new_use="10", gap_days=-40),
    "estimated priors": check(uses=["200"] * 5, new_use="230", estimates=(2, 3, 4)),
    "only estimates": check(uses=["200"] * 3, new_use="900", estimates=(0, 1, 2)),
    "off schedule": check(uses=["200"] * 4, new_use="200", day_shift=6),
    "no account": check(uses=["200"] * 4, new_use="200", has_account=False),
    "inactive account": check(uses=["0"] * 4, new_use="0", active=False),
    "route day 28": check(uses=["200"] * 4, new_use="200", route_day=28, start=date(2025, 1, 28)),
    "no route": check(uses=["200"] * 4, new_use="200", route_day=None),
    "same month last year": check(uses=["200"] * 13, new_use="210"),
    "seasonal": check(uses=["200", "10"] + ["200"] * 11, new_use="200"),
    "trend capped up": check(uses=["40"] * 13 + ["400"] * 3, new_use="130"),
    "trend capped down": check(uses=["400"] * 13 + ["40"] * 3, new_use="1300"),
    "trend within caps": check(uses=["100"] * 13 + ["150"] * 3, new_use="150"),
    "third decimal": check(uses=["200"] * 4, new_use="200.005"),
    "band edge": check(uses=["100"] * 3, new_use="250"),
    "low edge": check(uses=["100"] * 3, new_use="30"),
}


def test_table_of_cases_agrees_row_by_row_in_one_frame():
    checks = list(CASES.values())
    assert validate_checks(checks, rules=RULES) == [validate_reading(c, rules=RULES) for c in checks]


def test_findings_carry_both_sentences_as_the_reference_writes_them():
    findings = validate_checks([CASES["high"], CASES["rollover"]], rules=RULES)
    assert [f.code for f in findings[0]] == ["HIGH"]
    assert findings[0][0].reason_zh and findings[0][0].reason_en
    assert findings[0] == validate_reading(CASES["high"], rules=RULES)
    assert [f.code for f in findings[1]] == ["ROLLOVER"]


def test_ordinary_readings_are_decided_without_the_reference():
    names = ["steady", "first reading", "one prior", "estimated priors", "no route", "same day"]
    frame, cycles = frames_of([CASES[n] for n in names])
    assert clear_rows(frame, cycles, rules=RULES).to_list() == [True] * len(names)


def test_readings_with_a_finding_are_never_clear():
    names = [n for n, c in CASES.items() if validate_reading(c, rules=RULES)]
    assert {"high", "low", "spike", "rollover", "decrease", "off schedule", "no account"} <= set(names)
    frame, cycles = frames_of([CASES[n] for n in names])
    assert not any(clear_rows(frame, cycles, rules=RULES).to_list())


def test_readings_at_every_edge_of_the_band_and_the_spike_limit_agree():
    """New advances a cent apart around HIGH, LOW and SPIKE limits, for several histories."""
    batch = []
    for history, days_shift in ((["100"] * 3, 0), (["97.3", "101.1", "99.9", "103"], 1), (["333.33"] * 6, -2)):
        base = check(uses=history, new_use="1", day_shift=days_shift)
        prev = base.previous
        expect = expected_consumption(history=base.history, start_date=prev.read_date, end_date=base.read_date,
                                      rules=RULES)
        limit = spike_limit(expectation=expect, days=(base.read_date - prev.read_date).days, rules=RULES)
        for edge in (expect.kwh * RULES.high_factor, expect.kwh * RULES.low_factor, limit):
            for cents in range(-250, 251):
                use = (edge + D(cents) / 100).quantize(D("0.01"))
                batch.append(check(uses=history, new_use=str(use), day_shift=days_shift))
    assert validate_checks(batch, rules=RULES) == [validate_reading(c, rules=RULES) for c in batch]
    frame, cycles = frames_of(batch)
    assert sum(clear_rows(frame, cycles, rules=RULES)) > len(batch) // 4  # rows a few cents inside a limit are decided too


uses = st.lists(st.sampled_from(["0", "0.01", "50", "99.99", "100", "150", "200", "250", "300", "1000", "4000"]),
                max_size=15)
checks = st.builds(
    check, uses=uses,
    new_use=st.one_of(st.sampled_from(["0", "-1", "-300", "20", "29.99", "30", "250", "250.01", "800", "50000"]),
                      st.decimals(min_value=-2000, max_value=20000, places=2)),
    digits=st.sampled_from([4, 5, 6, 8]),
    start_value=st.sampled_from(["0", "100", "9500", "99990"]),
    start=st.sampled_from([date(2024, 1, 10), date(2024, 11, 28), date(2025, 2, 1)]),
    estimates=st.sets(st.integers(0, 14), max_size=6),
    gap_days=st.sampled_from([0, 0, 0, 1, -1, 9, -30, 45]),
    route_day=st.sampled_from([None, 1, 10, 28, 15]),
    has_account=st.sampled_from([True, True, True, False]),
    active=st.booleans(),
    day_shift=st.integers(-4, 4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(checks, min_size=1, max_size=12))
def test_any_readings_agree_with_the_reference(batch):
    assert validate_checks(batch, rules=RULES) == [validate_reading(c, rules=RULES) for c in batch]


# ---- the frames built as columns from readings (`checks_from_readings`), against the reference's priors -------

UTC8 = timezone(timedelta(hours=8))


def _reference_frames(targets, stored, rows):
    """`frames_of` over the checks the import builds one by one: `select_priors` over the readings accepted so far."""
    checks = []
    for t in targets:
        accepted = sorted(((at, d, D(c) / 100, e, seen) for key, seen, at, d, c, e in stored + rows
                           if key == t["key"] and seen < t["seen"]), key=lambda r: (r[0], r[4]))
        installation = t["installation"]
        since = t["read_date"] - timedelta(days=RULES.lookback_days)
        if installation is not None:
            since = max(since, installation.installed_date)
        priors = select_priors([r[:4] for r in accepted], before=t["read_at"], since=since, installation=installation,
                               register="TOTAL")
        checks.append(ReadingCheck(read_date=t["read_date"], value=D(t["value_c"]) / 100, digits=t["digits"],
                                   previous=priors[-1] if priors else None,
                                   history=cycles_from_readings(priors, digits=t["digits"]), route_day=15))
    return frames_of(checks)


def _column_frames(targets, stored, rows):
    columns = {name: [] for name in TARGET_SCHEMA}
    for t in targets:
        installation = t["installation"]
        since = t["read_date"] - timedelta(days=RULES.lookback_days)
        initial_date = initial_c = None
        if installation is not None:
            since = max(since, installation.installed_date)
            if installation.installed_date >= since:
                initial_date = installation.installed_date
                initial_c = centi(D(str(installation.initial_readings["TOTAL"])))
        for name, v in (("key", t["key"]), ("seen", t["seen"]), ("read_at", t["read_at"]),
                        ("read_date", t["read_date"]), ("value_c", t["value_c"]), ("since", since),
                        ("dial_c", 10 ** t["digits"] * 100), ("initial_date", initial_date), ("initial_c", initial_c),
                        ("has_account", True), ("route_day", 15)):
            columns[name].append(v)
    priors = {name: [row[i] for row in stored + rows] for i, name in enumerate(PRIOR_SCHEMA)}
    return checks_from_readings(pl.DataFrame(columns, schema=TARGET_SCHEMA), pl.DataFrame(priors, schema=PRIOR_SCHEMA))


@dataclass
class Installed:
    installed_date: date
    initial_readings: dict


readings_of_a_key = st.lists(st.tuples(st.integers(0, 800), st.integers(0, 23), st.integers(0, 60000),
                                       st.booleans()), max_size=14)


@settings(max_examples=200, deadline=None)
@given(stored=st.lists(readings_of_a_key, min_size=1, max_size=3), file_rows=st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 800), st.integers(0, 23), st.integers(0, 60000)), min_size=1,
    max_size=12), digits=st.sampled_from([4, 6]), installed=st.one_of(st.none(), st.integers(0, 800)),
    initial=st.sampled_from(["0", "12.5", 300]))
def test_frames_built_as_columns_are_the_reference_frames(stored, file_rows, digits, installed, initial):
    start = date(2024, 1, 1)

    def moment(day, hour):
        return datetime.combine(start + timedelta(days=day), time(hour), UTC8).astimezone(UTC)

    rows_stored = [(key, seen, moment(day, hour), (moment(day, hour).astimezone(UTC8)).date(), c, e)
                   for key, readings_ in enumerate(stored) for seen, (day, hour, c, e) in enumerate(
                       sorted(readings_, key=lambda r: (r[0], r[1])))]
    installation = None if installed is None else Installed(start + timedelta(days=installed), {"TOTAL": initial})
    targets, rows_file = [], []
    for i, (key, day, hour, c) in enumerate(file_rows):
        at = moment(day, hour)
        seen = (1 << 40) + i
        targets.append({"key": key, "seen": seen, "read_at": at, "read_date": at.astimezone(UTC8).date(), "value_c": c,
                        "digits": digits, "installation": installation})
        rows_file.append((key, seen, at, at.astimezone(UTC8).date(), c, False))
    got_checks, got_cycles = _column_frames(targets, rows_stored, rows_file)
    want_checks, want_cycles = _reference_frames(targets, rows_stored, rows_file)
    assert got_checks.to_dicts() == want_checks.to_dicts()
    assert got_cycles.sort("row", "seq").to_dicts() == want_cycles.sort("row", "seq").to_dicts()


def test_expected_bounds_hold_the_reference_expectation():
    checks = [c for c in CASES.values() if c.previous is not None]
    frame, cycles = frames_of(checks)
    bounds = expected_bounds(frame, cycles, rules=RULES).to_dicts()
    for c, b in zip(checks, bounds, strict=True):
        expect = expected_consumption(history=c.history, start_date=c.previous.read_date, end_date=c.read_date,
                                      rules=RULES)
        kwh_c = expect.kwh * 100 if expect else 0
        if b["lo_c"] is not None:
            assert b["lo_c"] <= kwh_c <= b["hi_c"]
    assert sum(b["lo_c"] is not None for b in bounds) >= len(checks) - 2
