"""Writes the held-out city's files (deterministic): registry.csv, readings-history.csv, readings-2025-08.csv.

    python examples/heldout/make_files.py

The city 留城 (code HLD, hall HLD-CITY, province BJ) must exist before `gridcounter import-registry`; its one
route HLD-R10 is read on the 10th. History: the fixed-day readings 2024-07-10 … 2025-07-10 (13 months). The new
month, 2025-08-10, plants one problem per validation rule (see README.md in this folder).
"""
from __future__ import annotations

import csv
import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
CENT = Decimal("0.01")
HISTORY = [date(2024 + (6 + k) // 12, (6 + k) % 12 + 1, 10) for k in range(13)]  # 2024-07-10 … 2025-07-10
NEW = date(2025, 8, 10)
# mild seasonality by the month most of the cycle ending on the 10th falls in
SEASON = {1: 1.15, 2: 1.10, 3: 1.00, 4: 0.95, 5: 1.00, 6: 1.05, 7: 1.20, 8: 1.25, 9: 1.05, 10: 0.95, 11: 1.00,
          12: 1.10}
REGISTRY_COLUMNS = ["account", "customer_name", "id_type", "id_number", "phone", "city", "hall", "address",
                    "building", "usage_category", "tariff", "voltage", "capacity_kva", "demand_kw", "household_size",
                    "meter", "meter_digits", "multiplier", "installed_on", "route", "reading_day", "registers"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜敏静强磊军洋勇艳杰娟涛明超秀霞平刚"

# case, tariff, registers, digits, daily kWh, building
ACCOUNTS = [
    *[(f"CLEAN{i}", "BJ-RES-LT1KV", "TOTAL", 6, 5.0 + 0.4 * i, f"留城幸福里{1 + i // 2}号楼") for i in range(8)],
    ("CLEAN_TOU1", "SH-RES-TOU", "PEAK;VALLEY", 6, 6.5, "留城幸福里5号楼"),
    ("CLEAN_TOU2", "SH-RES-TOU", "PEAK;VALLEY", 6, 7.0, "留城幸福里5号楼"),
    ("CLEAN_SHOP", "SC-GC-TOU", "PEAK;FLAT;VALLEY", 7, 40.0, "留城中山路商铺"),
    ("DECREASE", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里1号楼"),
    ("ROLLOVER", "BJ-RES-LT1KV", "TOTAL", 4, 6.0, "留城和平里2号楼"),
    ("SPIKE", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里3号楼"),
    ("HIGH", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里4号楼"),
    ("LOW", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里5号楼"),
    ("ZERO_STREAK", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里6号楼"),
    ("OFF_SCHEDULE", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里7号楼"),
    ("MISSED", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里8号楼"),
    ("DUPLICATE", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里9号楼"),
    ("ESTIMATE_STREAK", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城和平里10号楼"),
    ("SWAP_A", "BJ-RES-LT1KV", "TOTAL", 6, 5.0, "留城光明里1号楼"),
    ("SWAP_B", "BJ-RES-LT1KV", "TOTAL", 6, 9.0, "留城光明里1号楼"),
    ("BILL_SHOCK", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城光明里2号楼"),
    ("SUMMER_PEAK", "BJ-RES-LT1KV", "TOTAL", 6, 5.0, "留城光明里3号楼"),
    ("INACTIVE_METER", "BJ-RES-LT1KV", "TOTAL", 6, 6.0, "留城光明里4号楼"),
]
TOU_SHARE = {"PEAK": 0.40, "FLAT": 0.35, "VALLEY": 0.25}


def check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


def month_of_use(day: date) -> int:
    return 12 if day.month == 1 else day.month - 1


def main() -> None:
    rng = random.Random(20250810)
    registry, history, new = [], [], []
    for n, (case, tariff, registers, digits, daily, building) in enumerate(ACCOUNTS, start=1):
        number = f"21000000{n:02d}"
        meter = f"HLD-M{n:04d}"
        first17 = f"1101051975{(n % 12) + 1:02d}{(n % 27) + 1:02d}{n:03d}"
        person = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        commercial = tariff == "SC-GC-TOU"
        registry.append({
            "account": number, "customer_name": "留城鑫源便利店" if commercial else person,
            "id_type": "OTHER" if commercial else "RESIDENT_ID",
            "id_number": f"HLD-SHOP-{n:04d}" if commercial else first17 + check_digit(first17),
            "phone": f"139{n:08d}", "city": "HLD", "hall": "HLD-CITY", "address": f"{building}{n:02d}室",
            "building": building, "usage_category": "GENERAL_COMMERCIAL" if commercial else "RESIDENTIAL",
            "tariff": tariff, "voltage": "380V" if commercial else "220V", "capacity_kva": "",
            "demand_kw": "", "household_size": "" if commercial else "3", "meter": meter, "meter_digits": digits,
            "multiplier": "1", "installed_on": "2025-08-20" if case == "INACTIVE_METER" else "2019-05-01",
            # a new connection, not on a route yet: its meter is installed after the reading below was taken
            "route": "" if case == "INACTIVE_METER" else "HLD-R10", "reading_day": "" if case == "INACTIVE_METER"
            else "10", "registers": registers,
        })
        regs = registers.split(";")
        span = Decimal(10) ** digits
        start = Decimal(rng.randint(1000, 30000 if digits >= 6 else 2000)) + (
            Decimal(30000) if case == "SWAP_B" else 0)
        if case == "ROLLOVER":
            start = Decimal(9999) - Decimal(int(daily * 31 * 12.4 * 1.06)) - Decimal("0.4") * Decimal(daily * 31)
        values = {r: start * Decimal(TOU_SHARE.get(r, 1)) for r in regs}
        days = [*HISTORY, NEW]
        uses: list[float] = []
        for i in range(1, len(days)):
            season = SEASON[month_of_use(days[i])]
            if case == "SUMMER_PEAK":  # air conditioning: the July–August cycle is three times the rest, both years
                season = 3.0 if days[i].month == 8 else 1.0
            uses.append(daily * (days[i] - days[i - 1]).days * season * rng.uniform(0.97, 1.03))
        if case == "ZERO_STREAK":
            uses[-3:] = [0.0, 0.0, 0.0]
        typical = uses[-1]
        planted = {"SPIKE": 10.0, "HIGH": 3.2, "LOW": 0.12, "BILL_SHOCK": 1.8}.get(case)
        if planted:
            uses[-1] = typical * planted
        series = {r: [values[r]] for r in regs}
        for use in uses:
            for r in regs:
                series[r].append(series[r][-1] + Decimal(use * TOU_SHARE.get(r, 1)))
        for r in regs:
            series[r] = [(v % span).quantize(CENT, rounding=ROUND_HALF_UP) for v in series[r]]
        for i, day in enumerate(HISTORY):
            if case == "ESTIMATE_STREAK" and i >= len(HISTORY) - 2:
                continue  # June and July not read: estimated at review, so August would be a third estimate
            if case == "INACTIVE_METER":
                continue
            for r in regs:
                history.append([meter, r, f"{day.isoformat()}T09:30", str(series[r][i]), "AMI"])
        for r in regs:
            value = series[r][-1]
            if case == "DECREASE":
                value = (series[r][-2] - Decimal(50)).quantize(CENT)
            if case in ("MISSED", "ESTIMATE_STREAK"):
                continue
            if case == "OFF_SCHEDULE":  # read five days late
                new.append([meter, r, "2025-08-15T16:00", str(value + Decimal(int(5 * daily))), "HANDHELD"])
                continue
            if case == "INACTIVE_METER":
                new.append([meter, r, "2025-08-10T09:30", "1234.00", "HANDHELD"])
                continue
            new.append([meter, r, f"{NEW.isoformat()}T09:30", str(value), "AMI"])
            if case == "DUPLICATE":  # a second, different reading for the same meter, register and time
                new.append([meter, r, f"{NEW.isoformat()}T09:30", str(value + Decimal(37)), "HANDHELD"])
        if case == "SWAP_A":
            swap_a = (len(new) - 1, series["TOTAL"])
        if case == "SWAP_B":  # each meter's reading was booked on the other account
            index_a, series_a = swap_a
            new[index_a][3] = str(series["TOTAL"][-1])
            new[-1][3] = str(series_a[-1])
    with open(HERE / "registry.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=REGISTRY_COLUMNS)
        writer.writeheader()
        writer.writerows(registry)
    for name, rows in (("readings-history.csv", history), ("readings-2025-08.csv", new)):
        with open(HERE / name, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["meter", "register", "read_at", "value", "source"])
            writer.writerows(sorted(rows, key=lambda row: (row[2], row[0], row[1])))


if __name__ == "__main__":
    main()
