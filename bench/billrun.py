"""Bill-run benchmark: kernel end to end vs the per-account ORM run, the raw COPY limit and the raw compute limit.

    .venv/bin/python bench/billrun.py --accounts 100000 --db sqlite
    .venv/bin/python bench/billrun.py --accounts 100000 --db postgres   # DATABASE_URL …/gcbench

Each phase runs in a child process (this script with --phase), so its peak RSS (ru_maxrss) is its own.
The database is created afresh (SQLite file /tmp/gc-bench.sqlite3, PostgreSQL database gcbench).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2025-07"
AS_OF = date(2025, 7, 31)
CREATED = datetime(2025, 7, 31, 2, tzinfo=UTC)
URLS = {"sqlite": "sqlite:////tmp/gc-bench.sqlite3", "postgres": "postgres://postgres@127.0.0.1:5432/gcbench"}


def setup_django(db: str) -> None:
    os.environ["DATABASE_URL"] = URLS[db]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- phases (each in its own process) ---------------------------------------------------------------------

def phase_prepare(args) -> dict:
    if args.db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"/tmp/gc-bench.sqlite3{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS gcbench")
            conn.execute("CREATE DATABASE gcbench")
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from gridcounter.application.seed import seed_city

    started = time.perf_counter()
    seeded = seed_city(accounts=args.accounts, city_code="BEN", as_of=AS_OF, stdout=open(os.devnull, "w"))
    seed_s = time.perf_counter() - started
    started = time.perf_counter()
    n = generate_readings()
    readings_s = time.perf_counter() - started
    # planner statistics, as autovacuum (PostgreSQL) would gather after a bulk load; without them PostgreSQL
    # guesses a few rows per table and picks hash joins over whole tables (6x slower reads at 100k accounts)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"seed_s": round(seed_s, 1), "readings": n, "readings_s": round(readings_s, 1), "routes": seeded["routes"]}


def generate_readings() -> int:
    """Two fixed-day readings (previous and current) per register of every installed meter, columnar."""
    import random

    import polars as pl
    from django.db import connection, transaction

    from gridcounter.application.billrun_fast import query_frame
    from gridcounter.application.demo.bulk import allocate_ids, insert_rows
    from gridcounter.data.readings.models import Reading
    from gridcounter.domain.billing.periods import billing_period

    inst = query_frame(
        "SELECT i.account_id, i.meter_id, m.registers, r.reading_day FROM registry_installation i "
        "JOIN registry_meter m ON m.id = i.meter_id JOIN registry_account a ON a.id = i.account_id "
        "JOIN registry_route r ON r.id = a.route_id WHERE i.removed_date IS NULL",
        [], {"account_id": pl.Int64(), "meter_id": pl.Int64(), "registers": pl.String(), "reading_day": pl.Int64()})
    regs = inst.with_columns(pl.col("registers").fill_null('["TOTAL"]').str.json_decode(pl.List(pl.String))) \
        .explode("registers").rename({"registers": "register"}).drop_nulls("register")
    rng = random.Random(7)
    n = regs.height
    start = [rng.randrange(5_000_000) for _ in range(n)]  # hundredths of kWh
    use = [rng.randrange(60_000) for _ in range(n)]
    days = {d: billing_period(period=PERIOD, reading_day=d) for d in range(1, 29)}
    now = connection.ops.adapt_datetimefield_value(CREATED) if connection.vendor == "sqlite" else CREATED
    rows = []
    for (account_id, meter_id, register, day), s, u in zip(
            regs.select("account_id", "meter_id", "register", "reading_day").iter_rows(), start, use, strict=True):
        period = days[day]
        for fixed, value in ((period.start_date, int(s)), (period.end_date, int(s + u))):
            at = datetime(fixed.year, fixed.month, fixed.day, 2, tzinfo=UTC)
            rows.append({
                "meter_id": meter_id, "account_id": account_id, "register": register,
                "read_at": at if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(at),
                "read_date": fixed if connection.vendor == "postgresql" else fixed.isoformat(),
                "value": f"{value // 100}.{value % 100:02d}", "source": "AMI", "is_estimate": False,
                "status": "ACCEPTED", "codes": "[]", "findings": "[]", "note": "", "supersedes_id": None,
                "import_batch_id": None, "client_key": None, "created_at": now,
            })
    with transaction.atomic():
        for row, rid in zip(rows, allocate_ids(Reading, len(rows)), strict=True):
            row["id"] = rid
        insert_rows(Reading, rows)
    return len(rows)


def _routes(sample_accounts: int):
    from gridcounter.data.registry.models import Route

    routes = list(Route.objects.order_by("code"))
    sample, total = [], 0
    for route in routes:
        if total >= sample_accounts:
            break
        sample.append(route)
        total += route.accounts.count()
    return routes, sample


def orm_sample(args) -> int:
    """Accounts the ORM baseline bills: --orm-sample, but at most a fifth of the city (the kernel bills the rest)."""
    return min(args.orm_sample, max(1, args.accounts // 5))


def phase_orm(args) -> dict:
    """The row-by-row ORM path: per account the per-account rules draft the bill, then the Bill, each BillLine and
    the journal entry (`ledger.post_bill`) are saved one by one as Django objects; one transaction per route."""
    setup_django(args.db)
    from django.db import transaction

    from gridcounter.application import billing, ledger
    from gridcounter.application.tariffs import get_catalogue
    from gridcounter.data.audit.context import Actor, acting_as
    from gridcounter.data.billing.models import BillLine, BillRun
    from gridcounter.domain.billing.draft import draft_bill
    from gridcounter.domain.billing.periods import billing_period

    _routes_all, sample = _routes(orm_sample(args))
    catalogue = get_catalogue()
    started = time.perf_counter()
    billed = 0
    with acting_as(Actor(reason="bench orm", channel="SYSTEM")):
        for route in sample:
            period = billing_period(period=PERIOD, reading_day=route.reading_day)
            with transaction.atomic():
                accounts = list(route.accounts.exclude(status="PENDING").order_by("walk_order", "id"))
                inputs = billing.gather_inputs(accounts=accounts, billing=period, tariffs=catalogue.tariffs)
                run = BillRun.objects.create(period=PERIOD, route=route, started_at=CREATED, summary={})
                for account in accounts:
                    usage, segments, facts = inputs[account.id]
                    draft = draft_bill(billing=period, usage=usage, segments=segments, tariffs=catalogue.tariffs,
                                       facts=facts)
                    bill = billing._bill_from_draft(draft, account=account, run=run, as_of=AS_OF, created_at=CREATED,
                                                    due_days=15)
                    bill.save()
                    for line in draft.lines:
                        BillLine(bill=bill, position=line.position, code=line.code, description=line.description,
                                 description_en=line.description_en, quantity=line.quantity, unit=line.unit,
                                 unit_price=line.unit_price, amount_fen=line.amount_fen, tier=line.tier,
                                 tou_period=line.tou_period, segment_start_date=line.segment_start_date,
                                 segment_end_date=line.segment_end_date).save()
                    if bill.status == "ISSUED":
                        ledger.post_bill(bill=bill, created_at=CREATED)
                    billed += 1
    seconds = time.perf_counter() - started
    return {"accounts": billed, "seconds": round(seconds, 2), "per_s": round(billed / seconds, 1),
            "peak_mib": round(peak_mib())}


def phase_kernel(args) -> dict:
    setup_django(args.db)
    from gridcounter.application import billrun_fast
    from gridcounter.data.audit.context import Actor, acting_as

    started = time.perf_counter()
    with acting_as(Actor(reason="bench kernel", channel="SYSTEM")):
        summary = billrun_fast.run_bills_fast(period=PERIOD, as_of=AS_OF, created_at=CREATED)
    seconds = time.perf_counter() - started
    billed = summary.issued + summary.held
    return {"accounts": billed, "kernel_rated": summary.kernel, "per_account_path": summary.per_account,
            "reasons": dict(summary.per_account_reasons), "skipped": summary.skipped, "seconds": round(seconds, 2),
            "per_s": round(billed / seconds, 1), "peak_mib": round(peak_mib())}


def phase_raw_db(args) -> dict:
    """The raw database limit: one bill row, one journal entry and two postings per account, computed in advance as
    columns, written with the kernel's own writer (COPY on PostgreSQL, one executemany on SQLite) into the same
    tables with the same indexes; rolled back."""
    setup_django(args.db)
    import polars as pl
    from django.db import connection, transaction

    from gridcounter.application.billrun_fast import copy_frame
    from gridcounter.application.bulk import allocate_ids
    from gridcounter.data.billing.models import Bill
    from gridcounter.data.ledger.models import JournalEntry, Posting
    from gridcounter.data.registry.models import Account

    ids = pl.Series("account_id", list(Account.objects.values_list("id", flat=True)), dtype=pl.Int64)
    sqlite = connection.vendor == "sqlite"
    when = str(connection.ops.adapt_datetimefield_value(CREATED)) if sqlite else CREATED.isoformat()
    d = pl.lit(AS_OF.isoformat()) if sqlite else pl.lit(AS_OF)
    n = ids.len()
    bills = pl.DataFrame([ids]).select(
        pl.lit(None, dtype=pl.Int64).alias("id"), "account_id", pl.lit("9999-01").alias("period"),
        d.alias("start_date"), d.alias("end_date"), pl.lit("ISSUED").alias("status"),
        pl.lit("BJ-RES-LT1KV").alias("tariff_id"), pl.lit("123.45").alias("kwh"), pl.lit(6028).alias("amount_fen"),
        pl.lit(False).alias("is_estimate"), pl.lit("[]").alias("hold_codes"), pl.lit("{}").alias("readings"),
        pl.lit("[]").alias("explanation"), pl.lit("{}").alias("facts"), d.alias("issued_date"), d.alias("due_date"),
        pl.lit(None, dtype=pl.Int64).alias("replaces_id"), pl.lit(None, dtype=pl.Int64).alias("run_id"),
        pl.lit(when).alias("created_at"))
    started = time.perf_counter()
    with transaction.atomic():
        bills = bills.with_columns(pl.Series("id", allocate_ids(Bill, n), dtype=pl.Int64))
        copy_frame(Bill, bills.select([f.column for f in Bill._meta.concrete_fields]))
        entries = bills.select(
            pl.Series("id", allocate_ids(JournalEntry, n), dtype=pl.Int64), pl.lit("BILL").alias("kind"), "account_id",
            d.alias("effective_date"), pl.lit(when).alias("created_at"), pl.lit("Bill 9999-01").alias("description"),
            pl.lit("billing.Bill").alias("source_type"), pl.col("id").cast(pl.String).alias("source_id"),
            pl.lit(None, dtype=pl.Int64).alias("reverses_id"),
            pl.concat_str([pl.lit("raw:"), pl.col("id").cast(pl.String)]).alias("idempotency_key"),
            pl.lit(None, dtype=pl.Int64).alias("created_by_id"), pl.lit(None, dtype=pl.Int64).alias("hall_id"),
            pl.lit("").alias("reason"))
        copy_frame(JournalEntry, entries.select([f.column for f in JournalEntry._meta.concrete_fields]))
        postings = pl.concat([
            entries.select(pl.col("id").alias("entry_id"), pl.lit("RECEIVABLE").alias("ledger_account"),
                           "account_id", pl.lit(6028).alias("amount_fen")),
            entries.select(pl.col("id").alias("entry_id"), pl.lit("ENERGY_REVENUE").alias("ledger_account"),
                           pl.lit(None, dtype=pl.Int64).alias("account_id"), pl.lit(-6028).alias("amount_fen"))])
        postings = postings.with_columns(pl.Series("id", allocate_ids(Posting, 2 * n), dtype=pl.Int64))
        copy_frame(Posting, postings.select([f.column for f in Posting._meta.concrete_fields]))
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return {"accounts": n, "seconds": round(seconds, 2), "per_s": round(n / seconds, 1), "peak_mib": round(peak_mib())}


def phase_compute(args) -> dict:
    """Polars rating of N synthetic usages (the city's tariff mix) plus a Parquet write of lines and totals."""
    sys.path.insert(0, str(ROOT / "src"))
    import polars as pl

    from gridcounter.application.tariffs import read_catalogue
    from gridcounter.domain.kernel.rating import rate_frame

    catalogue = read_catalogue([ROOT / "tariffs"])
    n = args.accounts
    ids = pl.int_range(n, eager=True).alias("account_id")
    frame = pl.DataFrame([ids]).with_columns(
        period=pl.lit(PERIOD), tariff_id=pl.lit("BJ-RES-LT1KV"), start_date=pl.lit(date(2025, 6, 15)),
        end_date=pl.lit(date(2025, 7, 15)), kwh_c=(pl.col("account_id").hash(1) % 60_000).cast(pl.Int64),
        ytd_c=(pl.col("account_id").hash(2) % 600_000).cast(pl.Int64),
        household_size=(pl.col("account_id").hash(3) % 7 + 1).cast(pl.Int64))
    started = time.perf_counter()
    lines, totals = rate_frame(frame, catalogue=catalogue)
    rated = time.perf_counter() - started
    lines.write_parquet("/tmp/gc-bench-lines.parquet")
    totals.write_parquet("/tmp/gc-bench-totals.parquet")
    seconds = time.perf_counter() - started
    return {"accounts": n, "rating_s": round(rated, 3), "seconds": round(seconds, 3), "per_s": round(n / seconds, 1),
            "peak_mib": round(peak_mib())}


PHASES = {"prepare": phase_prepare, "orm": phase_orm, "kernel": phase_kernel, "raw_db": phase_raw_db,
          "compute": phase_compute}


def child(phase: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--accounts", str(args.accounts), "--db", args.db,
           "--orm-sample", str(args.orm_sample)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--db", choices=sorted(URLS), default="sqlite")
    parser.add_argument("--orm-sample", type=int, default=20_000, help="accounts billed by the ORM baseline")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return
    results = {"command": " ".join([".venv/bin/python", "bench/billrun.py", *sys.argv[1:]]),
               "machine": {"nproc": os.cpu_count(), "ram_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                                       * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                           "python": platform.python_version()}}
    for phase in ("prepare", "orm", "kernel", "raw_db", "compute"):
        results[phase] = child(phase, args)
        print(phase, results[phase], file=sys.stderr, flush=True)
    kernel, orm, raw, compute = results["kernel"], results["orm"], results["raw_db"], results["compute"]
    results["orm"]["sample_note"] = (f"ORM baseline on {orm['accounts']} accounts (the first routes; --orm-sample "
                                     f"{args.orm_sample}, capped at a fifth of the city)")
    results["peak_mib_max"] = max(results[p]["peak_mib"] for p in ("orm", "kernel", "raw_db", "compute"))
    results["ratios"] = {
        "kernel_vs_orm_per_account": round(kernel["per_s"] / orm["per_s"], 1) if orm["per_s"] else None,
        "kernel_time_vs_raw_db_time": round((kernel["accounts"] / kernel["per_s"]) / (kernel["accounts"] / raw["per_s"]), 2),
        "kernel_time_vs_raw_compute_time": round(compute["per_s"] / kernel["per_s"], 1),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
