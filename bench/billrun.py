"""Bill-run benchmark: kernel end to end vs the per-account ORM run, the raw COPY limit and the raw compute limit.

    .venv/bin/python bench/billrun.py --accounts 100000 --db sqlite
    .venv/bin/python bench/billrun.py --accounts 100000 --db postgres   # DATABASE_URL …/gcbench

Each phase runs in a child process (this script with --phase), so its peak RSS (ru_maxrss) is its own.
The database is created afresh (SQLite file /tmp/gcbench.sqlite3, PostgreSQL database gcbench; --db-name to change).
`--phase prepare` alone builds the city and keeps its figures; a later run with `--prepared` bills that city.
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
from datetime import UTC, date, datetime
from pathlib import Path

import common
from common import ROOT, peak_mib

PERIOD = "2025-07"
AS_OF = date(2025, 7, 31)
CREATED = datetime(2025, 7, 31, 2, tzinfo=UTC)
DBS = ("sqlite", "postgres")
NAME = "gcbench"  # --db-name: the database (PostgreSQL) or /tmp/NAME.sqlite3 (SQLite)


def database_url(db: str, name: str) -> str:
    return f"sqlite:////tmp/{name}.sqlite3" if db == "sqlite" else f"postgres://postgres@127.0.0.1:5432/{name}"


def setup_django(db: str, name: str = NAME) -> None:
    common.setup_django(database_url(db, name))


# --- phases (each in its own process) ---------------------------------------------------------------------

def phase_prepare(args) -> dict:
    if args.db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"/tmp/{args.db_name}.sqlite3{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}"')
            conn.execute(f'CREATE DATABASE "{args.db_name}"')
    setup_django(args.db, args.db_name)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from gridcounter.application.demo import seed_city

    started = time.perf_counter()
    # a city per 5 M accounts (BEN, BEO, BEP…: a province), each with its own account number prefix
    from gridcounter.application.demo import account_prefix

    seeded = {"routes": 0, "cities": []}
    left, city = args.accounts, 0
    while left:
        part = min(left, 5_000_000)
        code = "BE" + chr(ord("N") + city)
        out = seed_city(accounts=part, city_code=code, as_of=AS_OF, stdout=open(os.devnull, "w"),
                        prefix=account_prefix(code))
        seeded["routes"] += out["routes"]
        seeded["cities"].append(code)
        left -= part
        city += 1
    if args.intervals:
        time_of_use_city()
    seed_s = time.perf_counter() - started
    started = time.perf_counter()
    n = generate_readings()
    readings_s = time.perf_counter() - started
    # planner statistics, as autovacuum (PostgreSQL) would gather after a bulk load; without them PostgreSQL
    # guesses a few rows per table and picks hash joins over whole tables (6x slower reads at 100k accounts)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    out = {"seed_s": round(seed_s, 1), "readings": n, "readings_s": round(readings_s, 1), "routes": seeded["routes"]}
    if args.intervals:
        started = time.perf_counter()
        out |= generate_intervals(Path(interval_dir(args)))
        out["intervals_s"] = round(time.perf_counter() - started, 1)
    return out


TOU_TARIFF = "SC-GC-TOU"  # peak / flat / valley, critical peak in July and August


def interval_dir(args) -> str:
    return f"/tmp/{args.db_name}.intervals"


def time_of_use_city() -> None:
    """--intervals: every account on a time-of-use tariff, every meter a TOTAL register sending 15-minute intervals."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE registry_meter SET registers = %s, sends_intervals = TRUE", ['["TOTAL"]'])
        cursor.execute("UPDATE registry_historicalmeter SET registers = %s, sends_intervals = TRUE", ['["TOTAL"]'])
        for table in ("registry_account", "registry_historicalaccount"):
            cursor.execute(f"UPDATE {table} SET tariff_id = %s, usage_category = 'GENERAL_COMMERCIAL', "
                           "household_size = NULL", [TOU_TARIFF])


def generate_intervals(root: Path) -> dict:
    """Every 15-minute interval of the period for every account, route by route, summing to its register readings.

    A daily shape (evening peak, daytime, night); 1 % of the accounts miss 3 intervals in a row (filled by
    interpolation: an estimate), 0.1 % miss 8 (held GAP). Written as the interval import writes its parts.
    """
    import polars as pl

    from gridcounter.application.billrun import query_frame
    from gridcounter.application.readings import write_part
    from gridcounter.domain.billing.periods import billing_period
    from gridcounter.domain.readings.intervals import period_start_utc, slot_count

    c = pl.col
    shutil.rmtree(root, ignore_errors=True)
    used = query_frame(
        "SELECT a.id, i.meter_id, ro.code, ro.reading_day, CAST(m.multiplier * 100 AS BIGINT), "
        "CAST((MAX(r.value) - MIN(r.value)) * 100 AS BIGINT) FROM registry_account a "
        "JOIN registry_route ro ON ro.id = a.route_id JOIN registry_installation i ON i.account_id = a.id "
        "JOIN registry_meter m ON m.id = i.meter_id JOIN readings_reading r ON r.meter_id = i.meter_id "
        "WHERE i.removed_date IS NULL GROUP BY a.id, i.meter_id, ro.code, ro.reading_day, m.multiplier", [],
        {"account_id": pl.Int64(), "meter_id": pl.Int64(), "code": pl.String(), "reading_day": pl.Int64(),
         "multiplier_c": pl.Int64(), "used_c": pl.Int64()})
    written = 0
    for (code, day), part in used.sort("code").group_by("code", "reading_day", maintain_order=True):
        period = billing_period(period=PERIOD, reading_day=day)
        n = slot_count(start_date=period.start_date, end_date=period.end_date)
        origin_us = int(period_start_utc(period.start_date).timestamp()) * 1_000_000
        frame = part.select("account_id", "meter_id", (c("used_c") * c("multiplier_c")).alias("used_e4")).join(
            pl.DataFrame({"slot": pl.int_range(0, n, eager=True, dtype=pl.Int64)}), how="cross")
        hour = (c("slot") // 4) % 24  # local hour: slot 0 starts at the period's first local midnight
        weight = pl.when(hour.is_between(18, 21)).then(5).when(hour.is_between(8, 17)).then(3).otherwise(1)
        frame = frame.with_columns(_w=weight).with_columns(_total=c("_w").sum().over("account_id"))
        frame = frame.with_columns(kwh_e4=c("used_e4") * c("_w") // c("_total"))
        # what integer division left over goes to the first intervals, so the intervals sum to the register
        frame = frame.with_columns(kwh_e4=c("kwh_e4") + (c("slot") < c("used_e4") - c("kwh_e4").sum().over(
            "account_id")).cast(pl.Int64))
        small = (c("account_id") % 100 == 7) & c("slot").is_between(1000, 1002)
        large = (c("account_id") % 1000 == 11) & c("slot").is_between(2000, 2007)
        frame = frame.filter(~(small | large)).select(
            "account_id", "meter_id", "kwh_e4",
            pl.from_epoch(c("slot") * 900_000_000 + origin_us, time_unit="us").dt.replace_time_zone("UTC")
            .alias("start_at"))
        write_part(frame, root=root, period=PERIOD, route_code=code, name="bench")
        written += frame.height
    return {"intervals": written}


def generate_readings(chunk: int = 2_000_000) -> int:
    """Two fixed-day readings (previous and current) per register of every installed meter, as columns.

    Built and written chunk by chunk (one transaction each, COPY on PostgreSQL), so memory stays bounded at 10 M
    accounts. Values are a hash of (meter, register): the same city gives the same readings on every run.
    """
    import polars as pl
    from django.db import connection, transaction

    from gridcounter.application.billrun import copy_frame, query_frame
    from gridcounter.data.readings.models import Reading
    from gridcounter.domain.billing.periods import billing_period

    c = pl.col
    sqlite = connection.vendor == "sqlite"
    inst = query_frame(
        "SELECT i.account_id, i.meter_id, m.registers, r.reading_day FROM registry_installation i "
        "JOIN registry_meter m ON m.id = i.meter_id JOIN registry_account a ON a.id = i.account_id "
        "JOIN registry_route r ON r.id = a.route_id WHERE i.removed_date IS NULL ORDER BY i.meter_id",
        [], {"account_id": pl.Int64(), "meter_id": pl.Int64(), "registers": pl.String(), "reading_day": pl.Int64()})
    regs = inst.with_columns(c("registers").fill_null('["TOTAL"]').str.json_decode(pl.List(pl.String))) \
        .explode("registers").rename({"registers": "register"}).drop_nulls("register")
    del inst
    periods = [billing_period(period=PERIOD, reading_day=d) for d in range(1, 29)]

    def stamp(at: datetime) -> str:
        return str(connection.ops.adapt_datetimefield_value(at)) if sqlite else at.isoformat()

    def read_at(d: date) -> str:  # readings taken at 10:00 Beijing time
        return stamp(datetime(d.year, d.month, d.day, 2, tzinfo=UTC))

    now = stamp(CREATED)
    written = 0
    for offset in range(0, regs.height, chunk):
        part = regs.slice(offset, chunk).with_columns(
            _start=(pl.struct("meter_id", "register").hash(7) % 5_000_000).cast(pl.Int64),
            _use=(pl.struct("meter_id", "register").hash(11) % 60_000).cast(pl.Int64))
        frames = []
        for which, value in (("start_date", c("_start")), ("end_date", c("_start") + c("_use"))):
            frames.append(part.select(
                "meter_id", "account_id", "register",
                pl.col("reading_day").replace_strict({i + 1: read_at(getattr(p, which)) for i, p in enumerate(periods)},
                                                     return_dtype=pl.String).alias("read_at"),
                pl.col("reading_day").replace_strict({i + 1: getattr(p, which).isoformat() for i, p in
                                                      enumerate(periods)}, return_dtype=pl.String).alias("read_date"),
                pl.concat_str([(value // 100).cast(pl.String), pl.lit("."),
                               (value % 100).cast(pl.String).str.zfill(2)]).alias("value"),
                pl.lit("AMI").alias("source"), pl.lit(False).alias("is_estimate"), pl.lit("ACCEPTED").alias("status"),
                pl.lit("[]").alias("codes"), pl.lit("[]").alias("findings"), pl.lit("").alias("note"),
                pl.lit(None, dtype=pl.Int64).alias("supersedes_id"), pl.lit(None, dtype=pl.Int64).alias("import_batch_id"),
                pl.lit(None, dtype=pl.String).alias("client_key"), pl.lit(now).alias("created_at")))
        rows = pl.concat(frames)
        if not sqlite:
            rows = rows.with_columns(c("read_date").str.to_date("%Y-%m-%d"))
        with transaction.atomic():
            copy_frame(Reading, rows)
        written += rows.height
    return written


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
    setup_django(args.db, args.db_name)
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
    drafting = 0.0  # reading the route and drafting its bills; the rest of the phase is saving rows and committing
    with acting_as(Actor(reason="bench orm", channel="SYSTEM")):
        for route in sample:
            period = billing_period(period=PERIOD, reading_day=route.reading_day)
            with transaction.atomic():
                mark = time.perf_counter()
                accounts = list(route.accounts.exclude(status="PENDING").order_by("walk_order", "id"))
                inputs = billing.gather_inputs(accounts=accounts, billing=period, tariffs=catalogue.tariffs)
                drafting += time.perf_counter() - mark
                run = BillRun.objects.create(period=PERIOD, route=route, started_at=CREATED, summary={})
                for account in accounts:
                    mark = time.perf_counter()
                    usage, segments, facts = inputs[account.id]
                    draft = draft_bill(billing=period, usage=usage, segments=segments, tariffs=catalogue.tariffs,
                                       facts=facts)
                    bill = billing.bill_from_draft(draft, account=account, run=run, as_of=AS_OF, created_at=CREATED,
                                                    due_days=15)
                    drafting += time.perf_counter() - mark
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
            "reading_and_drafting_s": round(drafting, 2), "saving_rows_s": round(seconds - drafting, 2),
            "peak_mib": round(peak_mib())}


def phase_kernel(args) -> dict:
    setup_django(args.db, args.db_name)
    from gridcounter.application import billrun
    from gridcounter.data.audit.context import Actor, acting_as
    from gridcounter.data.billing.models import Bill

    if not args.workers and Bill.objects.filter(period=PERIOD).count() > orm_sample(args) * 2:
        raise SystemExit(f"the city in {args.db_name} was billed for {PERIOD} already: prepare it again")
    started = time.perf_counter()
    with acting_as(Actor(reason="bench kernel", channel="SYSTEM")):
        if args.workers:
            from gridcounter.application.billrun import run_bills_cluster

            summary = run_bills_cluster(period=PERIOD, as_of=AS_OF, created_at=CREATED, workers=args.workers)
        else:
            summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED).as_dict()
    seconds = time.perf_counter() - started
    billed = summary["issued"] + summary["held"]
    return {"accounts": billed, "kernel_rated": summary["kernel"], "per_account_path": summary["per_account"],
            "reasons": summary["per_account_reasons"], "skipped": summary["skipped"], "workers": args.workers,
            "seconds": round(seconds, 2), "per_s": round(billed / seconds, 1),
            # the reference check's sample (billrun._check): accounts re-drafted, and its seconds summed over batches
            # (on SQLite mostly spent in the reading processes, beside the writes)
            "reference_checked": summary["reference_checked"], "reference_seconds": summary["reference_seconds"],
            "reference_share": round(summary["reference_seconds"] / seconds, 4) if seconds else None,
            "peak_mib": max(round(peak_mib(children=billrun.READERS)), summary.get("worker_peak_mib", 0)),
            "check": check_run()}


def check_run() -> dict:
    """After the run (not timed): one live bill per account and period, every account billed, the ledger balanced."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM (SELECT account_id FROM billing_bill WHERE period = %s "
                       "AND status <> 'CANCELLED' GROUP BY account_id HAVING COUNT(*) > 1) d", [PERIOD])
        duplicates = cursor.fetchone()[0]
        cursor.execute("SELECT (SELECT COUNT(*) FROM registry_account WHERE status <> 'PENDING'), "
                       "(SELECT COUNT(DISTINCT account_id) FROM billing_bill WHERE period = %s)", [PERIOD])
        accounts, billed = cursor.fetchone()
        # the bills' entries (key bill:<id>; a raw-DB phase left by an earlier run keys its own raw:<id>)
        cursor.execute("SELECT COALESCE(SUM(p.amount_fen), 0), COUNT(*) FROM ledger_posting p JOIN ledger_journalentry e "
                       "ON e.id = p.entry_id WHERE e.idempotency_key LIKE 'bill:%%'")
        balance, postings = cursor.fetchone()
        cursor.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM billing_bill WHERE period = %s AND status = 'ISSUED'",
                       [PERIOD])
        issued_fen = cursor.fetchone()[0]
        cursor.execute("SELECT COALESCE(SUM(p.amount_fen), 0) FROM ledger_posting p JOIN ledger_journalentry e "
                       "ON e.id = p.entry_id WHERE e.idempotency_key LIKE 'bill:%%' AND p.ledger_account = 'RECEIVABLE'")
        receivable_fen = cursor.fetchone()[0]
    return {"accounts": accounts, "billed": billed, "duplicate_bills": duplicates, "postings": postings,
            "postings_sum_fen": int(balance), "issued_fen": int(issued_fen), "receivable_fen": int(receivable_fen),
            "ok": duplicates == 0 and billed == accounts and balance == 0 and issued_fen == receivable_fen}


def clear_run() -> None:
    """Before the raw-DB phase (not timed): empty the tables the bill run wrote, so the raw rows go into the
    tables as the kernel found them (the prepared city has no bill, entry or posting) and the disk holds one
    run's rows at a time (at 10 M accounts both would not fit on this machine's disk)."""
    from django.db import connection

    tables = ["billing_billline", "billing_historicalbill", "ledger_entryseal", "ledger_posting",
              "ledger_journalentry", "billing_bill", "billing_billrun"]
    from gridcounter.data.ledger.guard import maintenance

    with maintenance(), connection.cursor() as cursor:  # past the ledger's append-only triggers
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
        cursor.execute("DELETE FROM audit_auditevent WHERE action IN ('LEDGER_ENTRY_POSTED', 'BILL_RUN')")


def write_at_once(jobs, *, connections: int) -> None:
    """Run each job (a callable writing rows) in its own committed transaction: on PostgreSQL `connections` at once,
    each thread on its own connection (as the kernel's batches); on SQLite one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, transaction

    def one(job) -> None:
        try:
            with transaction.atomic():
                job()
        finally:
            if connections > 1:
                connection.close()  # the writing thread's own connection

    if connections <= 1:
        for job in jobs:
            one(job)
        return
    with ThreadPoolExecutor(max_workers=connections) as pool:
        for done in [pool.submit(one, job) for job in jobs]:
            done.result()


# the tables a bill run writes, in the order their foreign keys need, and which rows of each belong to the period's
# bills with ids in (after, last]; the period's BillRun rows (the bills refer to them) are written first
RUN_BILLS = "SELECT id FROM billing_bill WHERE period = %(period)s AND id > %(after)s AND id <= %(last)s"
RUN_ENTRIES = ("SELECT id FROM ledger_journalentry WHERE source_type = 'billing.Bill' AND source_id IN "
               f"(SELECT CAST(id AS TEXT) FROM ({RUN_BILLS}) b)")
RUN_TABLES = {
    "billing_bill": "period = %(period)s AND id > %(after)s AND id <= %(last)s",
    "billing_historicalbill": "period = %(period)s AND id > %(after)s AND id <= %(last)s",
    "billing_billline": f"bill_id IN ({RUN_BILLS})",
    "ledger_journalentry": f"id IN ({RUN_ENTRIES})",
    "ledger_posting": f"entry_id IN ({RUN_ENTRIES})",
    "ledger_entryseal": f"entry_id IN ({RUN_ENTRIES})",
    "audit_auditevent": "action = 'LEDGER_ENTRY_POSTED' AND object_type = 'ledger.JournalEntry' AND object_id IN "
                        f"(SELECT CAST(id AS TEXT) FROM ({RUN_ENTRIES}) e)",
}
SAME_ROWS_SAMPLE = 1_000_000  # bills written back by the same-rows raw phase


def phase_raw_same(args) -> dict:
    """The raw database limit on the run's own rows. The rows the bill run wrote for the period's first million
    bills (all of them in a city of up to 1 M accounts): bills, versions, lines, journal entries, postings, seals and
    audit events, and the routes' BillRun rows, are saved aside (not timed: PostgreSQL COPY … TO binary files,
    SQLite a copy in an attached file), every table the run wrote is emptied, and the same rows are written back,
    timed: PostgreSQL COPY FROM binary, SQLite INSERT … SELECT from the attached copy (the database's own bulk
    path, no Python per row), into the same tables with the same indexes and foreign keys, committed. On
    PostgreSQL the bills are split into as many parts as the kernel ran batches at once (`default_threads`), each
    written by its own connection and transaction at the same time, as the kernel's threads write. In a city above
    1 M accounts the sample goes into emptier tables than the kernel's last batches met, which favours this
    baseline. Per account rates are compared."""
    setup_django(args.db, args.db_name)

    from django.db import connection

    from gridcounter.application.billrun import default_threads

    sqlite = connection.vendor == "sqlite"
    # as many writers at once as the kernel had: its threads, or with --workers its worker processes
    connections = 1 if sqlite else args.workers or default_threads()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM billing_bill WHERE period = %s", [PERIOD])
        sample = min(cursor.fetchone()[0], SAME_ROWS_SAMPLE)
        if not sample:
            raise SystemExit("no bill of the period: the kernel phase runs first")
        bounds = [0]
        for k in range(1, connections + 1):  # the last bill id of each part
            cursor.execute("SELECT id FROM billing_bill WHERE period = %s ORDER BY id LIMIT 1 OFFSET %s",
                           [PERIOD, sample * k // connections - 1])
            bounds.append(cursor.fetchone()[0])
    parts = [{"period": PERIOD, "after": bounds[k], "last": bounds[k + 1]} for k in range(connections)]
    spool = Path(f"/tmp/{args.db_name}.raw-same")
    rows = {"billing_billrun": 0} | {t: 0 for t in RUN_TABLES}
    runs = "SELECT * FROM billing_billrun WHERE period = %(period)s ORDER BY id"
    # save the rows aside (not timed), with planner statistics of the tables just written
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table in rows:
            raw.execute(f"ANALYZE {table}")
        if sqlite:  # sqlite3 takes :name parameters
            Path(f"{spool}.sqlite3").unlink(missing_ok=True)
            raw.execute(f"ATTACH DATABASE '{spool}.sqlite3' AS spool")
            raw.execute(f"CREATE TABLE spool.billing_billrun AS {runs.replace('%(period)s', ':period')}",
                        {"period": PERIOD})
            raw.execute("SELECT COUNT(*) FROM spool.billing_billrun")
            rows["billing_billrun"] = raw.fetchone()[0]
        else:
            spool.mkdir(exist_ok=True)
            with open(spool / "billing_billrun.bin", "wb") as out, raw.copy(
                    f"COPY ({runs}) TO STDOUT (FORMAT binary)", {"period": PERIOD}) as copy:
                for block in copy:
                    out.write(block)
            rows["billing_billrun"] = raw.rowcount  # the rows COPY sent
        for k, params in enumerate(parts):
            for table, condition in RUN_TABLES.items():
                if sqlite:
                    condition = condition.replace("%(", ":").replace(")s", "")
                    raw.execute(f"CREATE TABLE spool.{table}_{k} AS SELECT * FROM main.{table} WHERE {condition} "
                                "ORDER BY id", params)
                    raw.execute(f"SELECT COUNT(*) FROM spool.{table}_{k}")
                    rows[table] += raw.fetchone()[0]
                else:
                    with open(spool / f"{table}_{k}.bin", "wb") as out, raw.copy(
                            f"COPY (SELECT * FROM {table} WHERE {condition} ORDER BY id) TO STDOUT (FORMAT binary)",
                            params) as copy:
                        for block in copy:
                            out.write(block)
                    rows[table] += raw.rowcount
    clear_run()

    def write(tables: list[str], k: int | None) -> None:
        with connection.cursor() as cursor:
            raw = cursor.cursor
            for table in tables:
                name = table if k is None else f"{table}_{k}"
                if sqlite:
                    raw.execute(f"INSERT INTO main.{table} SELECT * FROM spool.{name}")
                    continue
                with open(spool / f"{name}.bin", "rb") as src, raw.copy(
                        f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    while block := src.read(1 << 23):
                        copy.write(block)

    # write them back (timed): the BillRun rows, then the parts at once
    started = time.perf_counter()
    write_at_once([lambda: write(["billing_billrun"], None)], connections=1)
    write_at_once([lambda k=k: write(list(RUN_TABLES), k) for k in range(connections)], connections=connections)
    seconds = time.perf_counter() - started
    if sqlite:
        with connection.cursor() as cursor:
            cursor.cursor.execute("DETACH DATABASE spool")
        Path(f"{spool}.sqlite3").unlink(missing_ok=True)
    else:
        shutil.rmtree(spool)
    return {"accounts": sample, "seconds": round(seconds, 2), "per_s": round(sample / seconds, 1), "rows": rows,
            "rows_per_account": round(sum(rows.values()) / sample, 2), "connections": connections,
            "peak_mib": round(peak_mib())}


def write_raw(bills, *, when: str, d) -> None:
    """One chunk of the raw database limit: bills as given, then their journal entries and postings."""
    import polars as pl

    from gridcounter.application.billrun import copy_frame
    from gridcounter.application.bulk import allocate_ids
    from gridcounter.data.billing.models import Bill
    from gridcounter.data.ledger.models import JournalEntry, Posting

    bills = bills.with_columns(pl.Series("id", allocate_ids(Bill, bills.height), dtype=pl.Int64))
    copy_frame(Bill, bills.select([f.column for f in Bill._meta.concrete_fields]))
    entries = bills.select(
        pl.Series("id", allocate_ids(JournalEntry, bills.height), dtype=pl.Int64), pl.lit("BILL").alias("kind"), "account_id",
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
    postings = postings.with_columns(pl.Series("id", allocate_ids(Posting, 2 * bills.height), dtype=pl.Int64))
    copy_frame(Posting, postings.select([f.column for f in Posting._meta.concrete_fields]))


def phase_raw_db(args) -> dict:
    """The raw database limit: one bill row, one journal entry and two postings per account, computed in advance as
    columns, written with the kernel's own writer (COPY on PostgreSQL, one executemany on SQLite) into the same
    tables with the same indexes and foreign keys, and committed (PostgreSQL checks the deferred foreign keys at
    commit: a rolled-back write would skip them, a bill run cannot). Before it the bill run's rows are cleared
    (`clear_run`), so both start from the city as prepared. PostgreSQL: as many connections write at once as the
    kernel had (its threads, or its workers), each its share of the accounts in its own transactions."""
    setup_django(args.db, args.db_name)

    import polars as pl
    from django.db import connection

    from gridcounter.application.billrun import default_threads
    from gridcounter.data.registry.models import Account

    clear_run()

    all_ids = pl.Series("account_id", list(Account.objects.values_list("id", flat=True)), dtype=pl.Int64)
    sqlite = connection.vendor == "sqlite"
    when = str(connection.ops.adapt_datetimefield_value(CREATED)) if sqlite else CREATED.isoformat()
    d = pl.lit(AS_OF.isoformat()) if sqlite else pl.lit(AS_OF)
    n = all_ids.len()
    # as many writers at once as the kernel had (see phase_raw_same), a million accounts per transaction at most
    connections = 1 if sqlite else args.workers or default_threads()
    chunk = min(1_000_000, -(-n // connections))
    frames = [pl.DataFrame([all_ids.slice(start, chunk)]).select(
        pl.lit(None, dtype=pl.Int64).alias("id"), "account_id", pl.lit("9999-01").alias("period"),
        d.alias("start_date"), d.alias("end_date"), pl.lit("ISSUED").alias("status"),
        pl.lit("BJ-RES-LT1KV").alias("tariff_id"), pl.lit("123.45").alias("kwh"), pl.lit(6028).alias("amount_fen"),
        pl.lit(False).alias("is_estimate"), pl.lit("[]").alias("hold_codes"), pl.lit("{}").alias("readings"),
        pl.lit("[]").alias("explanation"), pl.lit("{}").alias("facts"), d.alias("issued_date"), d.alias("due_date"),
        pl.lit(None, dtype=pl.Int64).alias("replaces_id"), pl.lit(None, dtype=pl.Int64).alias("run_id"),
        pl.lit(when).alias("created_at")) for start in range(0, n, chunk)]
    started = time.perf_counter()
    write_at_once([lambda b=bills: write_raw(b, when=when, d=d) for bills in frames], connections=connections)
    seconds = time.perf_counter() - started
    clear_run()  # not timed: the city is left as prepared, for a later run with --prepared
    return {"accounts": n, "seconds": round(seconds, 2), "per_s": round(n / seconds, 1), "connections": connections,
            "peak_mib": round(peak_mib())}


def phase_compute(args) -> dict:
    """Polars rating of N synthetic usages (the city's tariff mix) plus a Parquet write of lines and totals."""
    import polars as pl

    from gridcounter.application.tariffs import read_catalogue
    from gridcounter.domain.tariffs.rating_frame import rate_frame

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


def phase_migrate(args) -> dict:
    """A city prepared by an earlier release gets this release's migrations (the tables a run writes are empty)."""
    setup_django(args.db, args.db_name)
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    return {"seconds": round(time.perf_counter() - started, 1)}


def phase_interval_kernel(args) -> dict:
    """--intervals: the interval kernel alone, as the bill run calls it (`interval_usage` per route: the route's
    registers read, its intervals scanned, validated, filled and binned), with nothing drafted or written."""
    setup_django(args.db, args.db_name)
    from gridcounter.application.readings import interval_usage
    from gridcounter.application.tariffs import get_catalogue
    from gridcounter.data.registry.models import Route

    catalogue = get_catalogue()
    codes = list(Route.objects.order_by("code").values_list("code", flat=True))
    accounts = intervals = held = estimated = 0
    started = time.perf_counter()
    for code in codes:
        result = interval_usage(route_code=code, period=PERIOD, catalogue=catalogue)
        accounts += result.usage.height
        intervals += int(result.usage["actual_intervals"].sum() or 0)
        held += len(result.held_account_ids)
        estimated += int(result.usage["estimated_intervals"].sum() or 0)
    seconds = time.perf_counter() - started
    return {"accounts": accounts, "intervals": intervals, "held": held, "estimated_intervals": estimated,
            "seconds": round(seconds, 2), "per_s": round(accounts / seconds, 1),
            "intervals_per_s": round(intervals / seconds), "peak_mib": round(peak_mib())}


PHASES = {"prepare": phase_prepare, "interval_kernel": phase_interval_kernel, "migrate": phase_migrate, "orm": phase_orm, "kernel": phase_kernel,
          "raw_same": phase_raw_same, "raw_db": phase_raw_db, "compute": phase_compute}


def prepared_file(args) -> Path:
    """Where the prepare phase leaves its figures, for a later run with --prepared."""
    return Path(f"/tmp/{args.db_name}.{args.db}.prepared.json")


def child(phase: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--accounts", str(args.accounts), "--db", args.db,
           "--orm-sample", str(args.orm_sample), "--db-name", args.db_name, "--workers", str(args.workers),
           *(["--intervals"] if args.intervals else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--db", choices=DBS, default="sqlite")
    parser.add_argument("--db-name", default=NAME, help="database name (PostgreSQL) or /tmp/NAME.sqlite3 (SQLite)")
    parser.add_argument("--orm-sample", type=int, default=20_000, help="accounts billed by the ORM baseline")
    parser.add_argument("--workers", type=int, default=0,
                        help="kernel phase on a local Dask cluster of N workers (PostgreSQL; 0: in this process)")
    parser.add_argument("--prepared", action="store_true",
                        help="reuse the city a run with --phase prepare left in --db-name (no bill of the period yet)")
    parser.add_argument("--intervals", action="store_true",
                        help=f"a time-of-use city: every account on {TOU_TARIFF}, billed from 15-minute intervals")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.intervals:  # read by the settings when a phase sets Django up
        os.environ["GRIDCOUNTER_INTERVAL_DIR"] = interval_dir(args)
    if args.phase:
        out = PHASES[args.phase](args)
        if args.phase == "prepare":
            prepared_file(args).write_text(json.dumps(out))
        print(json.dumps(out))
        return
    results = {"command": " ".join([".venv/bin/python", "bench/billrun.py", *sys.argv[1:]]),
               "machine": {"nproc": os.cpu_count(), "ram_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                                       * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                           "python": platform.python_version()}}
    for phase in ("prepare", "orm", "kernel", *(["interval_kernel"] if args.intervals else []), "raw_same", "raw_db",
                  "compute"):
        if phase == "prepare" and args.prepared:
            results[phase] = {**json.loads(prepared_file(args).read_text()), "reused": True,
                              "migrate": child("migrate", args)}
            print(phase, results[phase], file=sys.stderr, flush=True)
            continue
        results[phase] = child(phase, args)
        print(phase, results[phase], file=sys.stderr, flush=True)
    kernel, orm, raw, compute = results["kernel"], results["orm"], results["raw_db"], results["compute"]
    same = results["raw_same"]
    results["orm"]["sample_note"] = (f"ORM baseline on {orm['accounts']} accounts (the first routes; --orm-sample "
                                     f"{args.orm_sample}, capped at a fifth of the city)")
    results["peak_mib_max"] = max(results[p]["peak_mib"] for p in ("orm", "kernel", "raw_same", "raw_db", "compute"))
    results["ratios"] = {
        "kernel_vs_orm_per_account": round(kernel["per_s"] / orm["per_s"], 1) if orm["per_s"] else None,
        "kernel_time_vs_raw_same_rows_time": round(same["per_s"] / kernel["per_s"], 2),
        "kernel_time_vs_raw_db_time": round((kernel["accounts"] / kernel["per_s"]) / (kernel["accounts"] / raw["per_s"]), 2),
        "kernel_time_vs_raw_compute_time": round(compute["per_s"] / kernel["per_s"], 1),
        # Per account against the ORM path: the database alone writing the run's rows (raw_same), which no bill
        # run writing these rows can pass, and that time plus the rating's alone (raw compute), as if nothing overlapped.
        "ceiling_raw_same_rows_vs_orm_per_account": round(same["per_s"] / orm["per_s"], 1) if orm["per_s"] else None,
        "ceiling_raw_same_rows_and_compute_vs_orm_per_account": round(
            1 / (1 / same["per_s"] + 1 / compute["per_s"]) / orm["per_s"], 1) if orm["per_s"] else None,
        # What the ORM path's time is made of, and what one account's rows cost it against the database alone
        # writing the same rows (both write the rows of raw_same: bill, version, lines, entry, audit event, postings)
        "orm_saving_rows_share": round(orm["saving_rows_s"] / orm["seconds"], 3) if orm["seconds"] else None,
        "orm_saving_rows_vs_raw_same_rows_per_account": round(
            orm["saving_rows_s"] / orm["accounts"] * same["per_s"], 1) if orm["accounts"] else None,
    }
    if args.intervals:  # per account: the whole bill run against the interval kernel alone
        results["ratios"]["kernel_time_vs_interval_kernel_time"] = round(
            results["interval_kernel"]["per_s"] / kernel["per_s"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
