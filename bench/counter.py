"""Counter speed bench: search-as-you-type and the customer screen, p50 / p95 over real requests.

    createdb -h 127.0.0.1 -U postgres gc_cbench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_cbench \\
        .venv/bin/python bench/counter.py --accounts 1000000 --prepare --requests 300

``--prepare`` brings the database up to N accounts (``seed_city``, the ``gridcounter seed`` generator, city SYN)
and gives about ``--history-accounts`` of them (whole reading routes, evenly spaced over the city) a history:
``--months`` + 1 monthly fixed-day readings per register of every installed meter (COPY), ``--months`` bill
runs with the kernel (``run_bills``, period by period: bills, lines, journal entries, postings) and, for
``--payers`` of them, a payment every third issued bill through ``payments.take_payment``. Each step runs only
if it has not been done yet. Then it signs in a clerk of the city and sends requests through Django's test
client (the whole middleware stack: session, auth, CSRF, locale, axes), first a warm-up, then the measured ones:

* search: ``/search/?q=`` with the htmx header; what a clerk types: a prefix of random length of the account
  number, customer name, ID number, phone, meter asset number or address of random accounts of the city;
* customer screen: ``/accounts/<number>/`` of the accounts with payments (so with the whole history).

It prints JSON: p50 / p95 / max per screen and per search kind, the median number of SQL queries per request,
the city's row counts, and EXPLAIN ANALYZE of the slowest statements of the slowest request of each screen.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from common import setup_django

CITY = "SYN"
AS_OF = date(2026, 11, 28)
LAST_PERIOD = "2026-11"  # the last fixed reading day of every route is on or before AS_OF
CREATED = datetime(2026, 11, 28, 2, tzinfo=UTC)
CHANNELS = ("CASH", "CARD")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


# --- prepare -------------------------------------------------------------------------------------------------

def periods_until(last: str, months: int) -> list[str]:
    """The ``months`` billing periods ending with ``last`` (YYYY-MM), oldest first."""
    year, month = int(last[:4]), int(last[5:])
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def history_routes(*, history_accounts: int) -> list[str]:
    """Codes of whole routes, evenly spaced over the city, holding about ``history_accounts`` accounts."""
    from gridcounter.application.demo import ACCOUNTS_PER_ROUTE
    from gridcounter.data.registry.models import Route

    codes = list(Route.objects.filter(city__code=CITY).order_by("code").values_list("code", flat=True))
    wanted = max(1, min(len(codes), round(history_accounts / ACCOUNTS_PER_ROUTE)))
    step = len(codes) / wanted
    return [codes[int(i * step)] for i in range(wanted)]


def prepare(*, accounts: int, months: int, history_accounts: int, payers: int, search_only: bool = False) -> dict:
    """Seed the city, then give the accounts of evenly spaced routes a history: ``months`` + 1 monthly readings,
    ``months`` bill runs (the kernel, period by period) and, for ``payers`` of them, a payment every third bill.
    Each step runs only if it has not been done yet."""
    from django.core.management import call_command
    from django.db import connection

    from gridcounter.application.demo import seed_city
    from gridcounter.data.billing.models import Bill
    from gridcounter.data.ledger.models import Payment
    from gridcounter.data.readings.models import Reading
    from gridcounter.data.registry.models import Account

    call_command("migrate", verbosity=0)
    out = {}
    have = Account.objects.filter(city__code=CITY).count()
    if have < accounts:
        started = time.perf_counter()
        seed_city(accounts=accounts - have, city_code=CITY, as_of=AS_OF, stdout=open(os.devnull, "w"))
        out["seed_s"] = round(time.perf_counter() - started, 1)
    if search_only:  # the search reads the registry alone: no history needed
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        out["city"] = city_counts()
        return out
    routes = history_routes(history_accounts=history_accounts)
    out["history_routes"] = len(routes)
    out["history_accounts"] = Account.objects.filter(route__code__in=routes).count()
    if not Reading.objects.exists():
        started = time.perf_counter()
        out["readings"] = generate_readings(months=months + 1, route_codes=routes)
        out["readings_s"] = round(time.perf_counter() - started, 1)
    from gridcounter.application import billrun
    from gridcounter.data.audit.context import Actor, acting_as

    started = time.perf_counter()
    billed = 0
    for period in periods_until(LAST_PERIOD, months):
        if Bill.objects.filter(period=period).exists():
            continue
        as_of = date(int(period[:4]), int(period[5:]), 28)  # every fixed reading day (1–28) has come
        created = datetime(as_of.year, as_of.month, as_of.day, 2, tzinfo=UTC)
        with acting_as(Actor(reason="bench counter", channel="SYSTEM")):
            summary = billrun.run_bills(period=period, as_of=as_of, created_at=created,
                                                  route_codes=routes)
        billed += summary.issued + summary.held
    if billed:
        out["bills"] = billed
        out["bills_s"] = round(time.perf_counter() - started, 1)
    if not Payment.objects.exists():
        started = time.perf_counter()
        out["payments"] = generate_payments(route_codes=routes, payers=payers)
        out["payments_s"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    out["city"] = city_counts()
    return out


def city_counts() -> dict:
    from gridcounter.data.billing.models import Bill
    from gridcounter.data.ledger.models import JournalEntry, Payment
    from gridcounter.data.readings.models import Reading
    from gridcounter.data.registry.models import Account, Customer, Meter

    return {"accounts": Account.objects.count(), "customers": Customer.objects.count(),
            "meters": Meter.objects.count(), "readings": Reading.objects.count(), "bills": Bill.objects.count(),
            "bills_held": Bill.objects.filter(status=Bill.Status.HELD).count(),
            "journal_entries": JournalEntry.objects.count(), "payments": Payment.objects.count(),
            "accounts_with_payments": Payment.objects.values("account_id").distinct().count()}


def _fixed_dates(reading_day: int, months: int) -> list[date]:
    dates = []
    year, month = AS_OF.year, AS_OF.month
    while len(dates) < months:
        day = date(year, month, reading_day)
        if day <= AS_OF:
            dates.append(day)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(dates)


def generate_readings(*, months: int, route_codes: list[str], chunk: int = 4000) -> int:
    """``months`` monthly fixed-day readings per register of every installed meter on the routes (COPY)."""
    from django.db import connection, transaction

    from gridcounter.application.demo import allocate_ids, insert_rows
    from gridcounter.data.readings.models import Reading

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.account_id, i.meter_id, m.registers, r.reading_day FROM registry_installation i "
            "JOIN registry_meter m ON m.id = i.meter_id JOIN registry_account a ON a.id = i.account_id "
            "JOIN registry_route r ON r.id = a.route_id WHERE i.removed_date IS NULL AND r.code = ANY(%s) "
            "ORDER BY i.account_id", [route_codes]) if connection.vendor == "postgresql" else cursor.execute(
            "SELECT i.account_id, i.meter_id, m.registers, r.reading_day FROM registry_installation i "
            "JOIN registry_meter m ON m.id = i.meter_id JOIN registry_account a ON a.id = i.account_id "
            "JOIN registry_route r ON r.id = a.route_id WHERE i.removed_date IS NULL AND r.code IN "
            f"({', '.join(['%s'] * len(route_codes))}) ORDER BY i.account_id", route_codes)
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


def generate_payments(*, route_codes: list[str], payers: int) -> int:
    """``payers`` accounts of the history routes pay at a hall of the city every third issued bill, a week after
    it is issued, 70–100 % of what the three bills came to (``payments.take_payment``: receipt, entry,
    allocation to the oldest bills, audit event)."""
    from gridcounter.application.ledger import take_payment
    from gridcounter.data.audit.context import Actor, acting_as
    from gridcounter.data.billing.models import Bill
    from gridcounter.data.org.models import Hall
    from gridcounter.data.registry.models import Account

    rng = random.Random(7)
    clerk = bench_clerk()
    halls = list(Hall.objects.filter(city__code=CITY).order_by("code"))
    ids = list(Account.objects.filter(route__code__in=route_codes).order_by("id").values_list("id", flat=True))
    chosen = sorted(rng.sample(ids, min(payers, len(ids))))
    booked = 0
    with acting_as(Actor(reason="bench counter payments", channel="WEB")):
        for account in Account.objects.filter(id__in=chosen).order_by("id"):
            bills = list(Bill.objects.filter(account=account, status=Bill.Status.ISSUED).order_by("period"))
            for i in range(2, len(bills), 3):
                owed = sum(b.amount_fen for b in bills[i - 2:i + 1])
                amount = max(100, owed * rng.randint(70, 100) // 100)
                day = min(bills[i].issued_date or AS_OF, AS_OF)
                taken_at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(days=7)
                take_payment(account=account, amount_fen=amount, channel=rng.choice(CHANNELS),
                             hall=rng.choice(halls), clerk=clerk, idempotency_key=f"bench-{account.pk}-{i}",
                             taken_at=min(taken_at, CREATED))
                booked += 1
    return booked


# --- measure -------------------------------------------------------------------------------------------------

def bench_clerk():
    from gridcounter.data.org.models import Hall, Role, StaffUser

    hall = Hall.objects.filter(city__code=CITY).order_by("code").first()
    user, _created = StaffUser.objects.get_or_create(username="bench.clerk", defaults={
        "hall": hall, "display_name": "压测柜员"})
    user.roles.add(Role.objects.get_or_create(code=Role.Code.CLERK)[0])
    return user


def queries_for_search(accounts, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, q): what a clerk types, a prefix of a random length (as typing passes through each), for account
    numbers, customer names, ID numbers, phones, meter asset numbers and addresses."""
    out = []
    for account in accounts:
        number = account.number
        out.append(("number", number[: rng.randint(4, len(number))]))
        name = account.customer.name
        out.append(("name", name[: rng.randint(1, max(1, min(3, len(name))))]))
        id_number = account.customer.id_number
        if id_number:
            out.append(("id_number", id_number[: rng.randint(6, len(id_number))]))
        phone = account.customer.phone or number
        out.append(("phone", phone[: rng.randint(3, len(phone))]))
        meters = [i.meter.asset_number for i in account.current_installations]
        if meters:
            meter = rng.choice(meters)
            out.append(("meter", meter[: rng.randint(min(4, len(meter)), len(meter))]))
        address = account.premise.address
        out.append(("address", address[: rng.randint(3, min(12, len(address)))]))
        out += beyond_prefixes(name, address, rng)
    return out


def beyond_prefixes(name: str, address: str, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, q) that no prefix finds: the given name, pinyin (full or of the given name), the initials, a part
    of the address from its middle (an estate without its district), a three-character name with one wrong."""
    from gridcounter.domain.search_keys import customer_search_key

    out = []
    words = customer_search_key(name).split(" ")[1:]
    if len(name) >= 3:
        out.append(("given_name", name[1:]))
    if len(words) >= 3:
        pinyin = rng.choice([w for w in words[1:] if w.isascii() and len(w) > 3] or [words[1]])
        out.append(("pinyin", pinyin[: rng.randint(min(4, len(pinyin)), len(pinyin))]))
        out.append(("initials", words[2]))
    if len(address) > 8:
        start = rng.randint(2, len(address) - 5)
        out.append(("address_part", address[start:start + rng.randint(3, 6)]))
    if len(name) == 3:
        wrong = rng.randrange(3)
        out.append(("typo", name[:wrong] + rng.choice("丽华明国军伟芳敏静") + name[wrong + 1:]))
    return out


def timed(client, url: str, *, headers: dict | None = None) -> tuple[float, int, list[dict]]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()  # the query log is capped: start each request from an empty one
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


def measure(*, requests: int, seed: int, search_only: bool = False) -> dict:
    from urllib.parse import urlencode

    from django.db import connection
    from django.db.models import Prefetch
    from django.test import Client

    from gridcounter.data.ledger.models import Payment
    from gridcounter.data.registry.models import Account, Installation

    rng = random.Random(seed)
    clerk = bench_clerk()
    client = Client()
    client.force_login(clerk)
    ids = list(Account.objects.filter(city__code=CITY).values_list("id", flat=True))
    sample_ids = rng.sample(ids, min(len(ids), max(requests, 50)))
    current = Prefetch("installations", queryset=Installation.objects.filter(removed_date__isnull=True)
                       .select_related("meter"), to_attr="current_installations")
    sample = list(Account.objects.filter(id__in=sample_ids).select_related("customer", "premise")
                  .prefetch_related(current).order_by("id"))
    rng.shuffle(sample)
    searches = queries_for_search(sample, rng)
    rng.shuffle(searches)
    searches = searches[:max(requests, 200)]
    # The customer screen: accounts with the full history (readings, bills and payments) where there are such.
    paying = sorted(set(Payment.objects.values_list("account__number", flat=True)))
    screen_pool = paying or [a.number for a in sample]
    screens = rng.sample(screen_pool, min(len(screen_pool), max(requests, 200)))
    screens += rng.choices(screen_pool, k=max(requests, 200) - len(screens))

    for _kind, q in searches[:20]:  # warm-up: connections, template and translation caches
        timed(client, "/search/?" + urlencode({"q": q}), headers={"HX-Request": "true"})
    for number in [] if search_only else screens[:10]:
        timed(client, f"/accounts/{number}/")

    results = {}
    slowest = {}
    screens_jobs = [] if search_only else [("customer_screen", [("screen", f"/accounts/{n}/", None) for n in screens])]
    for label, jobs in (
        ("search", [(kind, "/search/?" + urlencode({"q": q}), {"HX-Request": "true"}) for kind, q in searches]),
        *screens_jobs,
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
    return {"vendor": connection.vendor, "accounts": len(ids), "screen_accounts": len(set(screens)),
            "screen_accounts_with_payments": len(set(screens) & set(paying)), **results, "slowest": slowest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--prepare", action="store_true", help="seed, readings and one bill run if missing")
    parser.add_argument("--months", type=int, default=24, help="months of readings and bills of the history")
    parser.add_argument("--history-accounts", type=int, default=20000,
                        help="about this many accounts (whole routes, evenly spaced) get the history")
    parser.add_argument("--payers", type=int, default=300, help="history accounts that also get payments")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per screen (at least 200)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--search-only", action="store_true",
                        help="seed the registry only and measure the search alone (no history, no customer screen)")
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        raise SystemExit("set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/gc_cbench)")
    setup_django()
    out = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
           "load_avg": os.getloadavg()}
    if args.prepare:
        out["prepare"] = prepare(accounts=args.accounts, months=args.months,
                                 history_accounts=args.history_accounts, payers=args.payers,
                                 search_only=args.search_only)
    out.update(measure(requests=max(args.requests, 200), seed=args.seed, search_only=args.search_only))
    print(json.dumps(out, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
