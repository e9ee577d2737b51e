"""The reading rules alone, without a database: `validate_reading` row by row against `validation_frame` over the
same readings, in the same run.

    .venv/bin/python bench/validation_frame.py --rows 200000

The readings are like the readings bench file's (bench/imports.py): monthly fixed-day readings of a register, each
new reading seen with its priors of the lookback window (up to 14 cycles), household-like use with a seasonal
swing, every 300th reading a spike or a decrease, every 50th meter without an account. Timed: the reference over
every reading; `frames_of` (the frames built from the reference's checks, Python per row: what an import building
its columns directly would not pay); `clear_rows` on the frames; the reference on the rows not clear. The findings
of both are compared, row by row.
"""
from __future__ import annotations

import argparse
import json
import random
import time
import tomllib
from datetime import date
from decimal import Decimal

import common

from gridcounter.domain.readings.validation import (
    PriorReading,
    ReadingCheck,
    Thresholds,
    cycles_from_readings,
    validate_reading,
)
from gridcounter.domain.readings.validation_frame import clear_rows, frames_of


def _checks(rows: int, seed: int = 17) -> list[ReadingCheck]:
    rng = random.Random(seed)
    checks = []
    meter = 0
    while len(checks) < rows:
        meter += 1
        route_day = rng.randint(1, 28)
        base = Decimal(rng.randint(80, 400))
        value = Decimal(rng.randint(0, 90000))
        readings = []
        for i in range(18):
            year, month = 2025 + (i + 5) // 12, (i + 5) % 12 + 1
            day = date(year, month, route_day)
            if readings:
                season = Decimal("1.3") if month in (1, 2, 7, 8) else Decimal(1)
                use = (base * season * Decimal(rng.randint(85, 115)) / 100).quantize(Decimal("0.01"))
                if len(checks) % 300 == 299:
                    use = use * 9 if rng.random() < 0.5 else -use
                value = max(value + use, Decimal(0)) % Decimal(1_000_000)
                priors = [r for r in readings if (day - r.read_date).days <= 430]
                checks.append(ReadingCheck(
                    read_date=day, value=value, digits=6, previous=priors[-1],
                    history=cycles_from_readings(priors, digits=6), route_day=route_day,
                    has_account=meter % 50 != 0, account_active=meter % 50 != 0, meter=f"M{meter}"))
            readings.append(PriorReading(day, value))
    return checks[:rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    rules = Thresholds.from_mapping(tomllib.loads((common.ROOT / "rules" / "validation.toml").read_text()))
    checks = _checks(args.rows)

    started = time.perf_counter()
    reference = [validate_reading(c, rules=rules) for c in checks]
    reference_s = time.perf_counter() - started

    started = time.perf_counter()
    frame, cycles = frames_of(checks)
    frames_s = time.perf_counter() - started
    started = time.perf_counter()
    clear = clear_rows(frame, cycles, rules=rules).to_list()
    clear_s = time.perf_counter() - started
    started = time.perf_counter()
    found = [[] if ok else validate_reading(checks[i], rules=rules) for i, ok in enumerate(clear)]
    fallback_s = time.perf_counter() - started

    assert found == reference, "the frame and the reference disagree"
    frame_s = clear_s + fallback_s
    n = len(checks)
    print(json.dumps({
        "rows": n, "cycles": cycles.height, "with_findings": sum(1 for f in reference if f),
        "clear": sum(clear), "left_to_reference": n - sum(clear),
        "reference_s": round(reference_s, 2), "reference_rows_s": round(n / reference_s),
        "frames_of_s": round(frames_s, 2), "clear_rows_s": round(clear_s, 2), "fallback_s": round(fallback_s, 2),
        "frame_rows_s": round(n / frame_s), "reference_over_frame": round(reference_s / frame_s, 1),
        "reference_over_frame_with_frames_of": round(reference_s / (frame_s + frames_s), 1),
        "peak_mib": round(common.peak_mib()),
    }, indent=1))


if __name__ == "__main__":
    main()
