"""Interval-data benchmark: N time-of-use accounts × one month of 15-minute intervals, route by route.

    .venv/bin/python bench/intervals.py --accounts 100000            # ~298 M intervals, July (critical peak)
    .venv/bin/python bench/intervals.py --accounts 10000 --per-route 500

Two phases, each in its own process so that its peak RSS (ru_maxrss) is its own:

1. generate — per route, every account's 2,976 intervals (a daily load shape with noise; 1 % of the
   accounts miss 3 intervals in a row, 0.1 % miss 8) written as the dataset's Parquet part
   (`application.readings.write_part`), plus the route's register readings matching the sums;
2. run — per route, `scan_route` (lazy Parquet scan) → `interval_usage_frame` (validate, fill, bin) →
   `rate_frame` on the accounts not held. Times are split into the interval kernel and rating.

No database: the dataset is the Parquet folder (default /tmp/gc-intervals-bench), the catalogue the
repository's tariffs/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
from common import ROOT, peak_mib

from gridcounter.application.readings import partition_dir, scan_route, write_part
from gridcounter.application.tariffs import read_catalogue
from gridcounter.domain.readings.intervals import (
    IntervalRules,
    interval_usage_frame,
    period_start_utc,
    slot_count,
)
from gridcounter.domain.tariffs.rating_frame import rate_frame

PERIOD = "2026-07"
START, END = date(2026, 7, 1), date(2026, 8, 1)  # a calendar month: the critical-peak rule applies


def routes(args) -> list[tuple[str, int, int]]:
    out, first, i = [], 1, 0
    while first <= args.accounts:
        count = min(args.per_route, args.accounts - first + 1)
        out.append((f"B{i:04d}", first, count))
        first, i = first + count, i + 1
    return out


def route_intervals(first: int, count: int) -> pl.DataFrame:
    """Every interval of `count` accounts from `first`: integer 10⁻⁴ kWh, a daily shape with noise."""
    n = slot_count(start_date=START, end_date=END)
    origin_us = int(period_start_utc(START).timestamp()) * 1_000_000
    c = pl.col
    frame = pl.DataFrame({"_i": pl.int_range(0, count * n, eager=True, dtype=pl.Int64)}).select(
        account_id=c("_i") // n + first, _slot=c("_i") % n)
    hour = (c("_slot") // 4) % 24
    shape = pl.when(hour.is_between(18, 21)).then(5000).when(hour.is_between(8, 17)).then(3000).otherwise(1200)
    noise = (c("account_id") * 2654435761 + c("_slot") * 40503) % 1000
    frame = frame.with_columns(
        meter_id=c("account_id"),
        start_at=pl.from_epoch(c("_slot") * 900_000_000 + origin_us, time_unit="us").dt.replace_time_zone("UTC"),
        kwh_e4=(shape + noise).cast(pl.Int64),
    )
    # small gaps (filled) on 1 % of the accounts, large ones (held) on 0.1 %
    small = (c("account_id") % 100 == 7) & c("_slot").is_between(1000, 1002)
    large = (c("account_id") % 1000 == 11) & c("_slot").is_between(2000, 2007)
    return frame.filter(~(small | large)).drop("_slot")


def phase_generate(args) -> dict:
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    total, t0 = 0, time.perf_counter()
    for code, first, count in routes(args):
        frame = route_intervals(first, count)
        write_part(frame, root=root, period=PERIOD, route_code=code, name="bench")
        sums = frame.group_by("account_id").agg(pl.col("kwh_e4").sum())
        sums.select("account_id", register_start_c=pl.lit(0, pl.Int64),
                    register_end_c=(pl.col("kwh_e4") + 50) // 100, multiplier_c=pl.lit(100, pl.Int64)).write_parquet(
            partition_dir(root=root, period=PERIOD, route_code=code) / "registers.parquet.meta")
        total += frame.height
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in root.rglob("part-*.parquet"))
    return {"intervals": total, "seconds": round(seconds, 2), "parquet_mib": round(size / 2**20, 1),
            "peak_mib": round(peak_mib(), 1)}


def phase_run(args) -> dict:
    catalogue = read_catalogue([ROOT / "tariffs"])
    rules = IntervalRules()  # the shipped rules/validation.toml values
    root = Path(args.dir)
    kernel_s = rate_s = 0.0
    intervals = accounts = held = estimated = fen = 0
    for code, _first, _count in routes(args):
        t0 = time.perf_counter()
        registers = pl.read_parquet(partition_dir(root=root, period=PERIOD, route_code=code) / "registers.parquet.meta")
        frame = registers.with_columns(tariff_id=pl.lit(args.tariff))
        lazy = scan_route(root=root, period=PERIOD, route_code=code)
        result = interval_usage_frame(lazy, frame, period=PERIOD, start_date=START, end_date=END,
                                      catalogue=catalogue, rules=rules)
        t1 = time.perf_counter()
        usage = result.usage.filter(~pl.col("held")).with_columns(ytd_c=pl.lit(0, pl.Int64))
        _lines, totals = rate_frame(usage, catalogue=catalogue)
        t2 = time.perf_counter()
        kernel_s += t1 - t0
        rate_s += t2 - t1
        intervals += int(result.usage["actual_intervals"].sum())
        accounts += result.usage.height
        held += len(result.held_account_ids)
        estimated += int(result.usage["estimated_intervals"].sum())
        fen += int(totals["amount_fen"].sum())
    total_s = kernel_s + rate_s
    return {"intervals": intervals, "accounts": accounts, "held": held, "estimated_intervals": estimated,
            "billed_yuan": f"{fen / 100:.2f}", "kernel_seconds": round(kernel_s, 2),
            "rate_seconds": round(rate_s, 2), "total_seconds": round(total_s, 2),
            "intervals_per_s": round(intervals / kernel_s), "accounts_per_s": round(accounts / total_s),
            "peak_mib": round(peak_mib(), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--per-route", type=int, default=1000)
    parser.add_argument("--tariff", default="SC-GC-TOU")
    parser.add_argument("--dir", default="/tmp/gc-intervals-bench")
    parser.add_argument("--phase", choices=["generate", "run"])
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset")
    args = parser.parse_args()
    if args.phase:
        phase = phase_generate if args.phase == "generate" else phase_run
        print(json.dumps(phase(args)))
        return
    report = {"accounts": args.accounts, "per_route": args.per_route, "tariff": args.tariff, "period": PERIOD,
              "machine": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                          "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                          "python": platform.python_version(), "polars": pl.__version__}}
    for phase in ("generate", "run"):
        done = subprocess.run([sys.executable, __file__, "--phase", phase, "--accounts", str(args.accounts),
                               "--per-route", str(args.per_route), "--tariff", args.tariff, "--dir", args.dir],
                              capture_output=True, text=True, check=True)
        report[phase] = json.loads(done.stdout.strip().splitlines()[-1])
        print(phase, report[phase], file=sys.stderr)
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
