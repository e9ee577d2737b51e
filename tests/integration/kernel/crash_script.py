"""Helper run as a subprocess by test_crash.py: prepare a city, run the kernel bill run, check the result.

    DATABASE_URL=... python tests/integration/kernel/crash_script.py prepare|run|run-slow|check
"""
import json
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PERIOD = "2025-07"
AS_OF = date(2025, 7, 31)
CREATED = datetime(2025, 7, 31, 2, tzinfo=UTC)


def main(command: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from gridcounter.application import billrun_fast
    from gridcounter.data.audit.context import Actor, acting_as

    if command == "prepare":
        call_command("migrate", verbosity=0)
        from billrun import generate_readings

        from gridcounter.application.seed import seed_city

        seed_city(accounts=int(os.environ.get("CRASH_ACCOUNTS", "1200")), city_code="KIL", as_of=AS_OF,
                  stdout=open(os.devnull, "w"))
        generate_readings()
        return
    if command in ("run", "run-slow"):
        if command == "run-slow":
            # the kill must land inside an open batch transaction: pause after each batch's bulk write
            write = billrun_fast.write_frames

            def slow_write(**kwargs):
                out = write(**kwargs)
                print("WRITTEN", flush=True)
                time.sleep(0.5)
                return out

            billrun_fast.write_frames = slow_write
        with acting_as(Actor(reason="crash test", channel="SYSTEM")):
            summary = billrun_fast.run_bills_fast(period=PERIOD, as_of=AS_OF, created_at=CREATED, batch_accounts=1)
        print(json.dumps(summary.as_dict()))
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


if __name__ == "__main__":
    main(sys.argv[1])
