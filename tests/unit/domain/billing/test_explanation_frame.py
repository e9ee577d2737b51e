"""The kernel's bill-shock test over frames holds exactly the bills `assess_shock` holds, with the same figures."""
import json
import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl

from gridcounter.application.tariffs import read_catalogue
from gridcounter.domain.billing.explanation_frame import EXPLAIN_INPUT, explain_frame, tier_table
from gridcounter.domain.billing.shock import PeriodFigures, assess_shock

ROOT = Path(__file__).resolve().parents[4]
START, END = date(2025, 6, 15), date(2025, 7, 15)
PERIODS = {"prev": "2025-06", "r2": "2025-05", "r3": "2025-04", "ly": "2024-07"}
TARIFF = "DEMO-LI-2P"  # no tiers: nothing explains a rise, so every rise past the threshold is judged


def random_rows(n: int) -> list[dict]:
    rnd = random.Random(11)
    rows = []
    for i in range(n):
        usage_c = rnd.choice([0, rnd.randint(1, 200_00), rnd.randint(1, 2_000_00)])
        row = {"account_id": i, "tariff_id": TARIFF, "household_size": None, "total_e4": usage_c * 100,
               "used_c": usage_c, "ytd_c": 0, "amount_fen": rnd.choice([0, rnd.randint(1, 200_000)])}
        for prefix in ("prev", "r2", "r3", "ly"):
            present = rnd.random() < 0.7
            kwh = rnd.choice([0, usage_c, rnd.randint(1, 2_000_00), usage_c // 2 + 1])
            amount = rnd.choice([0, row["amount_fen"], rnd.randint(1, 200_000), row["amount_fen"] // 3])
            row[f"{prefix}_kwh_c"] = kwh if present else None
            row[f"{prefix}_amount_fen"] = amount if present else None
            row[f"{prefix}_days"] = rnd.choice([28, 30, 31, 0]) if present else None
        rows.append(row)
    return rows


def figures(row: dict, prefix: str) -> PeriodFigures | None:
    if row[f"{prefix}_kwh_c"] is None:
        return None
    return PeriodFigures(period=PERIODS[prefix], kwh=Decimal(row[f"{prefix}_kwh_c"]).scaleb(-2),
                         amount_fen=row[f"{prefix}_amount_fen"], days=row[f"{prefix}_days"])


def test_frame_shock_equals_assess_shock_bill_by_bill():
    catalogue = read_catalogue([ROOT / "tariffs"])
    rows = random_rows(3000)
    frame = pl.DataFrame(rows, schema=EXPLAIN_INPUT, orient="row")
    tiers = tier_table(catalogue=catalogue, keys=[(TARIFF, None)], start_date=START, end_date=END)
    out = explain_frame(frame, tiers=tiers, period="2025-07", previous_period="2025-06",
                        last_year_period="2024-07", start_date=START, end_date=END, threshold_pct=Decimal(50))
    by_id = {r["account_id"]: r for r in out.iter_rows(named=True)}
    compared = held = price_only = 0
    for row in rows:
        got = by_id[row["account_id"]]
        if got["explain_one_by_one"]:
            continue  # left to explain() by design (exact ties)
        previous = figures(row, "prev")
        recent = [f for f in (previous, figures(row, "r2"), figures(row, "r3")) if f is not None]
        expected = assess_shock(amount_fen=row["amount_fen"], days=(END - START).days, last_year=figures(row, "ly"),
                                recent=recent, previous=previous, explaining_codes=set(), threshold_pct=Decimal(50),
                                kwh=Decimal(row["used_c"]).scaleb(-2).quantize(Decimal("0.01"), ROUND_HALF_UP))
        shock = json.loads(got["facts"])["shock"]
        want = {k: (None if v is None else str(v) if isinstance(v, Decimal) else v)
                for k, v in expected.__dict__.items()}
        assert shock == want, row
        assert got["status"] == ("HELD" if expected.is_shock else "ISSUED")
        compared += 1
        held += expected.is_shock
        price_only += (expected.increase_pct or 0) > 50 and not expected.is_shock  # dearer, but no more usage
    assert compared > 2900 and held > 100 and price_only > 100  # the rule was exercised every way
