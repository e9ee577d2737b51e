"""The readings import at scale: rows/s and peak memory of `gridcounter import-readings` on a 1 M-row file, against a
plain COPY of the same rows in the same run.

    .venv/bin/python bench/imports.py --accounts 60000 --months 18          # prepare, generate, import, baseline
    .venv/bin/python bench/imports.py --prepared                              # the same city and file again

`prepare` empties the database (PostgreSQL: its public schema), migrates it and seeds a city with the demo
generator (`seed_city`); `file` writes one reading per register of every installed meter on its route's fixed day
of each of `--months` months, meter by meter as a head-end's per-meter export lists them (a few rows in 300 bad,
some usage spikes and decreases, so the rules have work to do); `import` runs the real command in a subprocess and
reports its wall time and peak RSS; `copy` writes the same rows (the file parsed with the csv module, meters looked
up, nothing validated) into a copy of the readings table with its indexes, by COPY, in a subprocess too.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import zlib
from datetime import UTC, date, datetime
from pathlib import Path

import common

NAME = "gc_imports"
AS_OF = date(2026, 11, 30)
FILE = Path("/tmp/gc-imports-bench/readings.csv")  # --file names another


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def phase_prepare(args) -> dict:
    import psycopg

    with psycopg.connect(database_url(args.db_name), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    common.setup_django(database_url(args.db_name))
    from django.core.management import call_command

    from gridcounter.application.demo import seed_city

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    out = seed_city(accounts=args.accounts, city_code="IMB", as_of=AS_OF, stdout=open(os.devnull, "w"))
    return {"seed_s": round(time.perf_counter() - started, 1), "routes": out["routes"]}


def _month(day: date, back: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 - back
    return index // 12, index % 12 + 1


def phase_file(args) -> dict:
    common.setup_django(database_url(args.db_name))
    from gridcounter.data.registry.models import Installation

    FILE.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    first = date(*_month(AS_OF, args.months), 1)
    with FILE.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["meter", "register", "read_at", "value", "source"])
        for asset, registers, digits, day in (
                Installation.objects.filter(removed_date__isnull=True, installed_date__lt=first)
                .order_by("meter__asset_number").values_list("meter__asset_number", "meter__registers",
                                                            "meter__digits", "account__route__reading_day")
                .iterator(chunk_size=5000)):
            for r, register in enumerate(registers or ["TOTAL"]):
                seed = zlib.crc32(f"{asset}/{register}".encode()) & 0xFFFF
                value = seed % 5000
                for back in range(args.months, 0, -1):
                    year, month = _month(AS_OF, back)
                    use = 80 + (seed + back * 37 + r) % 150
                    if (seed + back) % 97 == 0:
                        use *= 12  # a spike now and then
                    value = (value + use) % (10 ** digits)
                    shown = value - 40 if (seed + back) % 89 == 0 else value  # a decrease now and then
                    bad = (rows + 1) % 300 == 0
                    out.writerow([asset, register, f"{year}-{month:02d}-{day:02d}T10:00",
                                  "-1" if bad else f"{max(shown, 0)}.{seed % 100:02d}", "AMI"])
                    rows += 1
                    if rows >= args.rows:
                        break
                if rows >= args.rows:
                    break
            if rows >= args.rows:
                break
    return {"rows": rows, "mib": round(FILE.stat().st_size / 2**20, 1)}


def phase_copy(args) -> dict:
    """The same rows, parsed and looked up but not validated, COPY'd into a copy of the readings table."""
    common.setup_django(database_url(args.db_name))
    from django.db import connection, transaction

    from gridcounter.data.registry.models import Installation
    from gridcounter.domain.business_time import BUSINESS_TZ

    started = time.perf_counter()
    meters = dict(Installation.objects.filter(removed_date__isnull=True).values_list("meter__asset_number",
                                                                                     "meter_id"))
    now = datetime.now(UTC)
    columns = ("meter_id", "register", "read_at", "read_date", "value", "source", "is_estimate", "status", "codes",
               "findings", "note", "created_at")
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_copy (LIKE readings_reading INCLUDING ALL) ON COMMIT DROP")
        with FILE.open(encoding="utf-8", newline="") as handle, cursor.cursor.copy(
                f"COPY bench_copy ({', '.join(columns)}) FROM STDIN") as copy:
            reader = csv.reader(handle)
            next(reader)
            for asset, register, read_at, value, source in reader:
                moment = datetime.fromisoformat(read_at).replace(tzinfo=BUSINESS_TZ)
                copy.write_row((meters[asset], register, moment, moment.date(), value, source, False, "ACCEPTED",
                                "[]", "[]", "", now))
                written += 1
    return {"rows": written, "s": round(time.perf_counter() - started, 2)}


# runs a command of this checkout and prints its peak RSS (KiB) as the last line of standard error
PEAK = ("import resource, sys\nfrom gridcounter.interfaces.cli.main import main\ntry:\n    main(sys.argv)\n"
        "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")


def run_child(args, *command: str) -> tuple[dict, float, float]:
    """`command` in a subprocess: its JSON answer, wall seconds, its own peak RSS in MiB."""
    env = {**os.environ, "DATABASE_URL": database_url(args.db_name), "PYTHONPATH": common.SRC,
           "DJANGO_SETTINGS_MODULE": "gridcounter.config.settings"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return json.loads(done.stdout), seconds, int(last) / 1024 if last.isdigit() else 0.0


def main() -> None:
    global FILE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=60_000)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--rows", type=int, default=1_050_000)
    parser.add_argument("--db-name", default=NAME)
    parser.add_argument("--prepared", action="store_true", help="the city and the file are there: import only")
    parser.add_argument("--file", type=Path, default=FILE, help="where the generated file goes")
    parser.add_argument("--phase", choices=["prepare", "file", "copy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    FILE = args.file
    if args.phase:
        print(json.dumps({"prepare": phase_prepare, "file": phase_file, "copy": phase_copy}[args.phase](args)))
        return
    me = [str(Path(__file__).resolve()), "--db-name", args.db_name, "--accounts", str(args.accounts),
          "--months", str(args.months), "--rows", str(args.rows), "--file", str(args.file)]
    report: dict = {}
    if not args.prepared:
        report["prepare"], _s, _m = run_child(args, *me, "--phase", "prepare")
        report["file"], _s, _m = run_child(args, *me, "--phase", "file")
        print(json.dumps(report), file=sys.stderr)
    imported, import_s, import_mib = run_child(args, "-c", PEAK, "import-readings", str(FILE), "--json")
    copied, copy_s, _copy_mib = run_child(args, *me, "--phase", "copy")
    rows = imported["rows"]
    report.update({
        "rows": rows, "created": imported["created"], "rejected": imported["rejected"],
        "flagged": imported["flagged"], "held": imported["held"], "codes": imported["codes"],
        "import_s": round(import_s, 1), "import_rows_per_s": round(rows / import_s),
        "import_peak_mib": round(import_mib), "copy_s": round(copy_s, 1), "copy_rows_per_s": round(rows / copy_s),
        "import_vs_copy": round(import_s / copy_s, 2), "copied": copied["rows"]})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
