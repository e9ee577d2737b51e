"""Counter speed bench: search-as-you-type and the customer screen, p50 / p95 over real requests.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h11bench \\
        .venv/bin/python bench/counter.py --accounts 100000 --prepare --requests 300

``--prepare`` brings the database up to N accounts (``seed_city``, the ``gridcounter seed`` generator, city SYN),
adds ``--months`` monthly readings per register of every installed meter (COPY) and bills the last month with
the kernel (``run_bills_fast``: bills, journal entries, postings), each step only if not done yet. Then it signs
in a clerk of the city and sends requests through Django's test client (the whole middleware stack: session,
auth, CSRF, locale, axes), first a warm-up, then the measured ones:

* search: ``/search/?q=`` with the htmx header, prefixes of account numbers, customer names, phones and
  addresses of random accounts (typing: each prefix length the clerk passes through);
* customer screen: ``/accounts/<number>/`` of random accounts.

It prints JSON: p50 / p95 / max per kind, the median number of SQL queries per request, and EXPLAIN ANALYZE
of the slowest statements of the slowest request of each kind (to name a missing index or an N+1).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITY = "SYN"
AS_OF = date(2026, 11, 28)
BILL_PERIOD = "2026-10"
CREATED = datetime(2026, 11, 28, 2, tzinfo=UTC)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


# --- prepare -------------------------------------------------------------------------------------------------

def prepare(*, accounts: int, months: int) -> dict:
    from django.core.management import call_command

    from gridcounter.application.seed import seed_city
    from gridcounter.data.billing.models import Bill
    from gridcounter.data.readings.models import Reading
    from gridcounter.data.registry.models import Account

    call_command("migrate", verbosity=0)
    out = {}
    have = Account.objects.filter(city__code=CITY).count()
    if have < accounts:
        started = time.perf_counter()
        seed_city(accounts=accounts - have, city_code=CITY, as_of=AS_OF, stdout=open(os.devnull, "w"))
        out["seed_s"] = round(time.perf_counter() - started, 1)
    if not Reading.objects.exists():
        started = time.perf_counter()
        out["readings"] = generate_readings(months=months)
        out["readings_s"] = round(time.perf_counter() - started, 1)
    if not Bill.objects.exists():
        from gridcounter.application import billrun_fast
        from gridcounter.data.audit.context import Actor, acting_as

        started = time.perf_counter()
        with acting_as(Actor(reason="bench counter", channel="SYSTEM")):
            summary = billrun_fast.run_bills_fast(period=BILL_PERIOD, as_of=AS_OF, created_at=CREATED)
        out["bills"] = summary.issued + summary.held
        out["bills_s"] = round(time.perf_counter() - started, 1)
    return out


def _fixed_dates(reading_day: int, months: int) -> list[date]:
    dates = []
    year, month = AS_OF.year, AS_OF.month
    while len(dates) < months:
        day = date(year, month, reading_day)
        if day <= AS_OF:
            dates.append(day)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(dates)


def generate_readings(*, months: int, chunk: int = 4000) -> int:
    """``months`` monthly fixed-day readings per register of every installed meter, in chunks (COPY)."""
    from django.db import connection, transaction

    from gridcounter.application.demo.bulk import allocate_ids, insert_rows
    from gridcounter.data.readings.models import Reading

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.account_id, i.meter_id, m.registers, r.reading_day FROM registry_installation i "
            "JOIN registry_meter m ON m.id = i.meter_id JOIN registry_account a ON a.id = i.account_id "
            "JOIN registry_route r ON r.id = a.route_id WHERE i.removed_date IS NULL ORDER BY i.account_id")
        installs = cursor.fetchall()
    rng = random.Random(11)
    total = 0
    postgres = connection.vendor == "postgresql"
    for start in range(0, len(installs), chunk):
        rows = []
        for account_id, meter_id, registers, reading_day in installs[start:start + chunk]:
            registers = registers if isinstance(registers, list) else json.loads(registers or '["TOTAL"]')
            days = _fixed_dates(reading_day, months)
            for register in registers or ["TOTAL"]:
                value = rng.randrange(2_000_000)  # hundredths of kWh
                for fixed in days:
                    value += rng.randrange(8_000, 60_000)
                    at = datetime(fixed.year, fixed.month, fixed.day, 2, tzinfo=UTC)
                    rows.append({
                        "meter_id": meter_id, "account_id": account_id, "register": register,
                        "read_at": at if postgres else connection.ops.adapt_datetimefield_value(at),
                        "read_date": fixed if postgres else fixed.isoformat(),
                        "value": f"{value // 100}.{value % 100:02d}", "source": "AMI", "is_estimate": False,
                        "status": "ACCEPTED", "codes": "[]", "findings": "[]", "note": "", "supersedes_id": None,
                        "import_batch_id": None, "client_key": None, "created_at": CREATED,
                    })
        with transaction.atomic():
            for row, rid in zip(rows, allocate_ids(Reading, len(rows)), strict=True):
                row["id"] = rid
            insert_rows(Reading, rows)
        total += len(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return total


# --- measure -------------------------------------------------------------------------------------------------

def bench_clerk():
    from gridcounter.data.org.models import Hall, Role, StaffUser

    hall = Hall.objects.filter(city__code=CITY).order_by("code").first()
    user, _created = StaffUser.objects.get_or_create(username="bench.clerk", defaults={
        "hall": hall, "display_name": "压测柜员"})
    user.roles.add(Role.objects.get_or_create(code=Role.Code.CLERK)[0])
    return user


def queries_for_search(accounts, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, q): what a clerk types, one prefix per keystroke-length, for numbers, names, phones, addresses."""
    out = []
    for account in accounts:
        number = account.number
        out.append(("number", number[: rng.randint(4, len(number))]))
        name = account.customer.name
        out.append(("name", name[: rng.randint(1, max(1, min(3, len(name))))]))
        phone = account.customer.phone or number
        out.append(("phone", phone[: rng.randint(3, len(phone))]))
        address = account.premise.address
        out.append(("address", address[: rng.randint(3, min(12, len(address)))]))
    return out


def timed(client, url: str, *, headers: dict | None = None) -> tuple[float, int, list[dict]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url, headers=headers or {})
        elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed, len(captured.captured_queries), list(captured.captured_queries)


def explain(sql: str) -> list[str]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql)
        return [row[0] for row in cursor.fetchall()]


def measure(*, requests: int, seed: int) -> dict:
    from urllib.parse import urlencode

    from django.db import connection
    from django.test import Client

    from gridcounter.data.registry.models import Account

    rng = random.Random(seed)
    clerk = bench_clerk()
    client = Client()
    client.force_login(clerk)
    ids = list(Account.objects.filter(city__code=CITY).values_list("id", flat=True))
    sample_ids = rng.sample(ids, min(len(ids), max(requests, 50)))
    sample = list(Account.objects.filter(id__in=sample_ids).select_related("customer", "premise"))
    rng.shuffle(sample)
    searches = queries_for_search(sample, rng)
    rng.shuffle(searches)
    searches = searches[:max(requests, 200)]
    screens = [a.number for a in sample][:max(requests, 200)]

    for _kind, q in searches[:20]:  # warm-up: connections, template and translation caches
        timed(client, "/search/?" + urlencode({"q": q}), headers={"HX-Request": "true"})
    for number in screens[:10]:
        timed(client, f"/accounts/{number}/")

    results = {}
    slowest = {}
    for label, jobs in (
        ("search", [(kind, "/search/?" + urlencode({"q": q}), {"HX-Request": "true"}) for kind, q in searches]),
        ("customer_screen", [("screen", f"/accounts/{n}/", None) for n in screens]),
    ):
        times, counts, by_kind = [], [], {}
        worst = (0.0, "", [])
        for kind, url, headers in jobs:
            ms, n, captured = timed(client, url, headers=headers)
            times.append(ms)
            counts.append(n)
            by_kind.setdefault(kind, []).append(ms)
            if ms > worst[0]:
                worst = (ms, url, captured)
        results[label] = {
            "requests": len(times), "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1), "max_ms": round(max(times), 1),
            "queries_median": statistics.median(counts), "queries_max": max(counts),
            "by_kind": {k: {"n": len(v), "p50_ms": round(percentile(v, 50), 1), "p95_ms": round(percentile(v, 95), 1)}
                        for k, v in sorted(by_kind.items())} if label == "search" else None,
        }
        top = sorted(worst[2], key=lambda q: float(q["time"]), reverse=True)[:3]
        slowest[label] = {"url": worst[1], "ms": round(worst[0], 1), "statements": [
            {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:600],
             "plan": explain(q["sql"]) if q["sql"].lstrip().upper().startswith("SELECT") else []}
            for q in top]}
    return {"vendor": connection.vendor, "accounts": len(ids), **results, "slowest": slowest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--prepare", action="store_true", help="seed, readings and one bill run if missing")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per screen (at least 200)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        raise SystemExit("set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/h11bench)")
    setup_django()
    out = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
           "load_avg": os.getloadavg()}
    if args.prepare:
        out["prepare"] = prepare(accounts=args.accounts, months=args.months)
    out.update(measure(requests=max(args.requests, 200), seed=args.seed))
    print(json.dumps(out, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
