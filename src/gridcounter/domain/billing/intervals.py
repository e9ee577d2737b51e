"""An interval-metered account's period usage: the binned 15-minute intervals take the place of the registers."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from gridcounter.domain.readings.codes import Finding

from .cycle import CycleUsage
from .explanation import HoldFinding, IntervalFacts

# usage columns of `domain.readings.intervals.USAGE_COLUMNS` (0.01 kWh) → the register name the draft rates
TOU_COLUMNS = {"critical_peak_c": "CRITICAL_PEAK", "peak_c": "PEAK", "flat_c": "FLAT", "valley_c": "VALLEY"}


def _centi(value: int | None) -> Decimal:
    return Decimal(value or 0).scaleb(-2)


def interval_facts(*, row: Mapping, findings: Iterable[Finding],
                   blocking: Iterable[str]) -> tuple[dict[str, Decimal], list[HoldFinding], IntervalFacts]:
    """One account's interval row and findings as the draft uses them: (kWh by register, holds, facts).

    kWh: peak / flat / valley (and critical peak) for a time-of-use tariff, TOTAL otherwise. Holds: the findings
    in `blocking`. Facts: what the explanation says (intervals expected, received, filled, missing; kWh by period).
    """
    blocking = set(blocking)
    findings = list(findings)
    if row.get("kwh_c") is not None:
        kwh = {"TOTAL": _centi(row["kwh_c"])}
    else:
        kwh = {name: _centi(row.get(column)) for column, name in TOU_COLUMNS.items()}
    estimated_kwh = next((Decimal(str(f.numbers.get("kwh", "0"))) for f in findings if f.code == "ESTIMATED"),
                         Decimal(0))
    holds = [HoldFinding(f.code, dict(f.numbers), f.reason_zh, f.reason_en) for f in findings if f.code in blocking]
    facts = IntervalFacts(expected=int(row["expected_intervals"]), actual=int(row["actual_intervals"]),
                          estimated=int(row["estimated_intervals"]), missing=int(row["missing_intervals"]),
                          kwh_by_period=kwh, estimated_kwh=estimated_kwh, codes=tuple(f.code for f in findings),
                          held=bool(holds) or bool(row.get("held")))
    return kwh, holds, facts


def interval_cycle_usage(*, register: CycleUsage, row: Mapping, findings: Iterable[Finding],
                         blocking: Iterable[str]) -> CycleUsage:
    """The usage to bill from one account's interval row (`interval_usage_frame`'s usage) and findings.

    The binned kWh replace the register-derived usage (`interval_facts`). The register readings stay on the bill
    as the sum check's evidence; their own holds and estimates give way to the interval findings: those in
    `blocking` hold the bill (at zero), ESTIMATED intervals make it an estimate.
    """
    kwh, holds, facts = interval_facts(row=row, findings=findings, blocking=blocking)
    return CycleUsage(kwh_by_register=dict(kwh), kvarh=register.kvarh, readings=register.readings,
                      reading_ids=list(register.reading_ids), holds=holds, intervals=facts)
