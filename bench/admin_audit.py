"""The admin's audit log: time to its first page with N events, against the plain changelist of the same table.

    .venv/bin/python bench/admin_audit.py --db postgres --events 10000000 --requests 20
    .venv/bin/python bench/admin_audit.py --db sqlite --events 10000000 --requests 20

Prepare (once per database; rerun with the same count reuses it): migrate, one company, city and three halls, a
superuser, then N audit events in ten-minute-wide slices over two years, newest last, with a large city's mix of
actions (mostly ``LEDGER_ENTRY_POSTED`` and ``BILL_ISSUED``, then payments, sign-ins, refusals and a long tail),
written with COPY on PostgreSQL and executemany on SQLite, then ANALYZE.

Measured, each as p50 / p95 / max over ``--requests`` GETs after two warm-ups, with the number of SQL queries:

* ``page``: ``/admin/audit/auditevent/`` signed in as the superuser, through Django's test client (the whole
  middleware stack) — the figure the admin user waits for;
* ``page_filtered``: the same with ``?action=PAYMENT_TAKEN`` (the filter a supervisor uses most);
* ``baseline``: the same changelist view of the same table with Django's defaults for the same columns
  (``date_hierarchy``, value filters that list their choices with ``SELECT DISTINCT``, a full ``COUNT(*)``),
  registered on a second admin site and called as the first is, on the same request.

It prints JSON: the figures, the ratio baseline / page, and the table's row count.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from common import setup_django

START = datetime(2024, 12, 1, tzinfo=UTC)
ACTIONS = ([("LEDGER_ENTRY_POSTED", 40), ("BILL_ISSUED", 30), ("PAYMENT_TAKEN", 12), ("SIGNED_IN", 6),
            ("READING_IMPORTED", 5), ("BILL_HELD", 3), ("ACCESS_REFUSED", 1), ("PAYMENT_REVERSED", 1),
            ("BILL_CANCELLED", 1), ("CUSTOMER_NOTIFIED_BILL_SHOCK", 1)]
           + [(f"RARE_ACTION_{i:02d}", 0) for i in range(20)])  # a long tail: one event each per 10,000
CHANNELS = ("SYSTEM", "WEB", "API", "CLI")
TYPES = ("ledger.JournalEntry", "billing.Bill", "ledger.Payment", "org.StaffUser", "readings.Reading")
COLUMNS = ("occurred_at", "action", "user_id", "username", "hall_id", "channel", "object_type", "object_id",
           "reason", "detail", "ip_address")


def weighted_actions() -> list[str]:
    """10,000 actions in the mix's proportions (the rare ones once each), cycled over the events."""
    common = [name for name, weight in ACTIONS for _ in range(weight * 100)]
    rare = [name for name, weight in ACTIONS if weight == 0]
    out = common[: 10_000 - len(rare)] + rare
    return out + ["LEDGER_ENTRY_POSTED"] * (10_000 - len(out))


def event_rows(n: int, halls: list[int], user_id: int):
    """Rows of the audit table, oldest first, as tuples in COLUMNS order."""
    mix = weighted_actions()
    step = (timedelta(days=730) / n) if n else timedelta(0)
    for i in range(n):
        action = mix[(i * 7919) % len(mix)]
        kind = TYPES[i % len(TYPES)]
        yield (START + step * i, action, user_id if i % 3 else None, "clerk01" if i % 3 else "", halls[i % len(halls)],
               CHANNELS[i % 4], kind, str(i), "bill run" if i % 3 == 0 else "", "{}", None)


def prepare(*, events: int) -> dict:
    from django.core.management import call_command
    from django.db import connection, transaction

    from gridcounter.data.audit.models import AuditEvent
    from gridcounter.data.org.models import City, Company, Hall, StaffUser

    call_command("migrate", verbosity=0)
    company, _ = Company.objects.get_or_create(code="AUD", defaults={"name": "审计测试供电公司"})
    city, _ = City.objects.get_or_create(code="AUD", defaults={"company": company, "name": "审计市", "province": "BJ"})
    halls = [Hall.objects.get_or_create(code=f"AUD-H{i}", defaults={"city": city, "name": f"第{i}营业厅"})[0].pk
             for i in range(1, 4)]
    admin = StaffUser.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = StaffUser.objects.create_superuser("bench-admin", password="bench-admin-password")
    have = AuditEvent.objects.count()
    out = {"events_before": have}
    if have >= events:
        return out
    started = time.perf_counter()
    table = AuditEvent._meta.db_table
    rows = event_rows(events - have, halls, admin.pk)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            raw = connection.connection
            chunk = []
            for row in rows:
                chunk.append((row[0].isoformat(sep=" "),) + row[1:])
                if len(chunk) == 200_000:
                    raw.executemany(sql, chunk)
                    chunk = []
            if chunk:
                raw.executemany(sql, chunk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    out["prepare_s"] = round(time.perf_counter() - started, 1)
    return out


def baseline_admin():
    """The changelist as Django's defaults would give it for the same columns, on a second admin site."""
    from django.contrib import admin

    from gridcounter.data.audit.admin import AuditEventAdmin
    from gridcounter.data.audit.models import AuditEvent

    class PlainAuditEventAdmin(AuditEventAdmin):
        list_filter = ("action", "channel", "object_type", "hall")
        date_hierarchy = "occurred_at"
        paginator = admin.ModelAdmin.paginator

    site = admin.AdminSite(name="baseline")
    site.register(AuditEvent, PlainAuditEventAdmin)
    return site._registry[AuditEvent]


def timed(call, requests: int) -> dict:
    from django.db import connection, reset_queries

    for _ in range(2):
        call()
    times, queries = [], []
    for _ in range(requests):
        reset_queries()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        queries.append(len(connection.queries))
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
            "max_ms": round(ordered[-1], 1), "queries": statistics.median(queries)}


def measure(*, requests: int) -> dict:
    from django.conf import settings
    from django.contrib import admin
    from django.test import Client, RequestFactory

    from gridcounter.data.audit.models import AuditEvent
    from gridcounter.data.org.models import StaffUser

    settings.DEBUG = True  # count the queries (connection.queries)
    settings.ALLOWED_HOSTS = ["*"]
    user = StaffUser.objects.get(username="bench-admin")
    client = Client()
    client.force_login(user)

    def page(query: str = ""):
        response = client.get(f"/admin/audit/auditevent/{query}", HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, response.status_code
        return response

    factory = RequestFactory()

    def view(model_admin):
        def call():
            request = factory.get("/admin/audit/auditevent/")
            request.user = user
            request.session = {}
            request.LANGUAGE_CODE = "zh-hans"
            model_admin.changelist_view(request).render()
        return call

    ours = admin.site._registry[AuditEvent]
    out = {"events": AuditEvent.objects.count()}
    out["page"] = timed(page, requests)
    out["page_filtered"] = timed(lambda: page("?action=PAYMENT_TAKEN"), requests)
    out["view"] = timed(view(ours), requests)
    out["baseline"] = timed(view(baseline_admin()), max(3, requests // 4))
    out["baseline_over_view_p50"] = round(out["baseline"]["p50_ms"] / out["view"]["p50_ms"], 1)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--db-name", default="gcaudit")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    url = (f"sqlite:////tmp/{args.db_name}.sqlite3" if args.db == "sqlite"
           else f"postgres://postgres@127.0.0.1:5432/{args.db_name}")
    if args.db == "postgres":
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.db_name,)).fetchone():
                conn.execute(f"CREATE DATABASE {args.db_name}")
    setup_django(url)
    result = {"db": args.db, "prepare": prepare(events=args.events)}
    result.update(measure(requests=args.requests))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
