"""Helper run as a subprocess by test_crash.py and test_reader.py: prepare a city, run the kernel bill run,
check the result, list the bills.

    DATABASE_URL=... python tests/integration/billrun/crash_script.py \
        prepare|run|run-slow|check|run-one-by-one|run-ahead|run-ahead-changed|change-reading|bills|ledger
"""
import json
import os
import signal
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PERIOD = "2025-07"
AS_OF = date(2025, 7, 31)
CREATED = datetime(2025, 7, 31, 2, tzinfo=UTC)


def main(command: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench"), str(ROOT)]
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from gridcounter.application import billrun
    from gridcounter.application.billrun import _batch, _scheduling
    from gridcounter.data.audit.context import Actor, acting_as

    if command == "prepare":
        call_command("migrate", verbosity=0)
        from billrun import generate_readings

        from gridcounter.application.demo import seed_city

        seed_city(accounts=int(os.environ.get("CRASH_ACCOUNTS", "1200")), city_code="KIL", as_of=AS_OF,
                  stdout=open(os.devnull, "w"))
        generate_readings()
        return
    if command in ("run", "run-slow"):
        if command == "run-slow":
            # the kill must land inside an open batch transaction: pause after each batch's bulk write
            write = _batch.write_frames

            def slow_write(**kwargs):
                out = write(**kwargs)
                print("WRITTEN", flush=True)
                time.sleep(0.5)
                return out

            _batch.write_frames = slow_write  # where a batch calls it
        with acting_as(Actor(reason="crash test", channel="SYSTEM")):
            summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED, batch_accounts=1)
        print(json.dumps(summary.as_dict()))
        return
    if command in ("run-one-by-one", "run-ahead", "run-ahead-changed", "run-ahead-reader-killed"):
        # batches one after another on one connection, or with the next batch read ahead by a second process;
        # "-changed": another connection changes a reading of the second batch after the first batch's commit;
        # "-reader-killed": the reading processes are killed with SIGKILL after the first batch
        prepared_here = []
        prepare = _batch.prepare_batch

        def counted(**kwargs):
            prepared_here.append([r.code for r in kwargs["routes"]])
            return prepare(**kwargs)

        _batch.prepare_batch = counted  # where a batch not read ahead is prepared
        read_ahead = []  # the reading process's batches, as the run hands them over

        pools = []

        class Pool(_scheduling.ProcessPoolExecutor):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                pools.append(self)

            def submit(self, *args, **kwargs):
                read_ahead.append(super().submit(*args, **kwargs))
                return read_ahead[-1]

        _scheduling.ProcessPoolExecutor = Pool
        done = []

        def progress(n: int) -> None:
            done.append(n)
            if command == "run-ahead-changed" and len(done) == 1:
                for future in read_ahead:  # the next batches have been read ahead: now change a reading of the second
                    future.result()
                change_reading()
            if command == "run-ahead-reader-killed" and len(done) == 1:
                for future in read_ahead:  # the next batches have been read ahead: now kill the reading processes
                    future.result()
                for pid in list(pools[0]._processes):
                    os.kill(pid, signal.SIGKILL)

        with acting_as(Actor(reason="read-ahead test", channel="SYSTEM")):
            summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=CREATED, batch_accounts=1,
                                                  read_ahead=command != "run-one-by-one", progress=progress)
        print(json.dumps({**summary.as_dict(), "prepared_here": prepared_here}))
        return
    if command == "change-reading":
        change_reading()
        return
    if command == "bills":
        from gridcounter.data.billing.models import Bill

        bills = []
        for bill in Bill.objects.filter(period=PERIOD).select_related("account").prefetch_related("lines").order_by(
                "account__number"):
            readings = {k: v for k, v in bill.readings.items() if k != "_reading_ids"}
            bills.append([bill.account.number, bill.status, bill.amount_fen, str(bill.kwh), bill.hold_codes,
                          bill.explanation, readings, [[line.code, str(line.quantity), str(line.unit_price),
                                                        line.amount_fen] for line in bill.lines.all()]])
        print(json.dumps(bills, default=str))
        return
    if command == "ledger":
        from tests.factories.billing import written_rows

        print(json.dumps(written_rows(PERIOD), default=str))
        return
    if command == "check":
        from gridcounter.application.ledger import check_ledger

        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM (SELECT account_id FROM billing_bill WHERE period = %s AND "
                           "status <> 'CANCELLED' GROUP BY account_id HAVING COUNT(*) > 1) d", [PERIOD])
            duplicates = cursor.fetchone()[0]
            cursor.execute("SELECT COUNT(*) FROM registry_account WHERE status <> 'PENDING'")
            accounts = cursor.fetchone()[0]
            cursor.execute("SELECT COUNT(DISTINCT account_id) FROM billing_bill WHERE period = %s", [PERIOD])
            billed = cursor.fetchone()[0]
            cursor.execute("SELECT COUNT(*) FROM billing_bill b WHERE b.status = 'ISSUED' AND b.period = %s AND "
                           "(SELECT COUNT(*) FROM ledger_journalentry e WHERE e.idempotency_key = "
                           "'bill:' || CAST(b.id AS VARCHAR(20))) <> 1", [PERIOD])
            bad_entries = cursor.fetchone()[0]
            cursor.execute("SELECT COUNT(*) FROM billing_billrun WHERE period = %s", [PERIOD])
            runs = cursor.fetchone()[0]
            cursor.execute("SELECT COUNT(*) FROM registry_route")
            routes = cursor.fetchone()[0]
        print(json.dumps({"duplicates": duplicates, "accounts": accounts, "billed": billed,
                          "bad_entries": bad_entries, "ledger_ok": check_ledger().ok, "runs": runs,
                          "routes": routes}))
        return
    raise SystemExit(f"unknown command {command}")


def change_reading() -> None:
    """From a connection of its own, add 50 to the readings near the end of the period of the first account of the
    second batch (whole routes one by one, as the runs above make them)."""
    import sqlite3

    from django.conf import settings

    from gridcounter.application.billrun import plan_batches
    from gridcounter.data.registry.models import Account
    from gridcounter.domain.billing.periods import billing_period

    route = plan_batches(period=PERIOD, as_of=AS_OF, batch_accounts=1)[0][1][0]
    account = Account.objects.filter(route=route).order_by("walk_order", "id").first()
    end = billing_period(period=PERIOD, reading_day=route.reading_day).end_date
    own = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=30)
    with own:
        changed = own.execute("UPDATE readings_reading SET value = value + 50 WHERE account_id = ? AND read_date >= ?",
                              [account.id, (end - timedelta(days=7)).isoformat()]).rowcount
    own.close()
    assert changed, "no reading to change"
    print("CHANGED", account.number, changed, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
