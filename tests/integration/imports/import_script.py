"""Helper run as a subprocess by test_killed.py: prepare a city and its import files, or report what is stored.

    DATABASE_URL=... IMPORT_DIR=... python tests/integration/imports/import_script.py prepare|check|intervals-slow

`intervals-slow` runs `import-intervals` on the prepared intervals.csv, pausing a second after each part it stages
(printing STAGED), so that a test can kill it while its parts are written and its transaction is open.
"""
import json
import os
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
AS_OF = date(2025, 7, 31)
CITY = "IMK"
BAD_EVERY = 25  # every 25th row of each file is bad, to be kept as a rejected row


def prepare(folder: Path, *, accounts: int, registry_rows: int) -> None:
    from django.core.management import call_command

    from gridcounter.application.demo import seed_city
    from gridcounter.application.registry import COLUMNS
    from gridcounter.data.org.models import Hall
    from gridcounter.data.registry.models import Installation
    from gridcounter.domain.registry import resident_id_check_digit

    call_command("migrate", verbosity=0)
    seed_city(accounts=accounts, city_code=CITY, as_of=AS_OF, stdout=open(os.devnull, "w"))
    lines = ["meter,register,read_at,value,source"]
    for n, (asset, registers) in enumerate(Installation.objects.filter(removed_date__isnull=True).order_by("meter_id")
                                           .values_list("meter__asset_number", "meter__registers")):
        for register in registers or ["TOTAL"]:
            bad = len(lines) % BAD_EVERY == 0
            lines.append(f"{asset},{register},2025-07-31T10:00,{'-1' if bad else 100 + n},HANDHELD")
    (folder / "readings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    hall = Hall.objects.filter(city__code=CITY).order_by("code").first()
    rows = [",".join(COLUMNS)]
    for n in range(1, registry_rows + 1):
        first17 = f"11010519800101{n % 1000:03d}"
        id_number = first17 + resident_id_check_digit(first17)
        day = "31" if len(rows) % BAD_EVERY == 0 else "5"
        rows.append(",".join([
            f"90{n:08d}", f"导入客户{n}", "RESIDENT_ID", id_number if n < 1000 else f"P{n}", "", CITY, hall.code,
            f"导入路{n}号", f"导入楼{n // 20}", "RESIDENTIAL", "BJ-RES-LT1KV", "LV_220V", "", "", "3", f"IMK-M{n:06d}",
            "6", "1", "2024-05-06", f"IMK-R{n // 200}", day]))
    (folder / "registry.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    intervals = ["meter,start_at,kwh"]
    for asset in (Installation.objects.filter(removed_date__isnull=True).order_by("meter_id")
                  .values_list("meter__asset_number", flat=True)[:40]):
        intervals += [f"{asset},2025-07-20T{slot // 4:02d}:{slot % 4 * 15:02d},0.25" for slot in range(96)]
    (folder / "intervals.csv").write_text("\n".join(intervals) + "\n", encoding="utf-8")


def check() -> dict:
    from gridcounter.data.imports.models import ImportBatch, RejectedRow
    from gridcounter.data.readings.models import Reading
    from gridcounter.data.registry.models import Account

    batches = [{"kind": b.kind, "total": b.rows_total, "created": b.rows_created, "updated": b.rows_updated,
                "unchanged": b.rows_unchanged, "rejected": b.rows_rejected, "lines_done": b.lines_done,
                "completed": b.completed_at is not None,
                "rejected_rows": RejectedRow.objects.filter(batch=b).count(),
                "readings": Reading.objects.filter(import_batch=b).count()}
               for b in ImportBatch.objects.order_by("id")]
    from gridcounter.data.audit.models import AuditEvent
    from gridcounter.data.registry.models import Meter

    return {"batches": batches, "accounts": Account.objects.filter(number__startswith="90").count(),
            "meters_sending": Meter.objects.filter(sends_intervals=True).count(),
            "interval_events": AuditEvent.objects.filter(action="INTERVALS_IMPORTED").count()}


def main(command: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    import django

    django.setup()
    folder = Path(os.environ["IMPORT_DIR"])
    if command == "prepare":
        prepare(folder, accounts=int(os.environ.get("IMPORT_ACCOUNTS", "300")),
                registry_rows=int(os.environ.get("IMPORT_REGISTRY_ROWS", "600")))
    elif command == "check":
        print(json.dumps(check()))
    elif command == "intervals-slow":
        import time

        from django.core.management import call_command

        from gridcounter.application.readings import _intervals

        stage = _intervals.stage_part

        def slow_stage(*args, **kwargs):
            staged = stage(*args, **kwargs)
            print("STAGED", flush=True)
            time.sleep(1)
            return staged

        _intervals.stage_part = slow_stage  # where import_intervals calls it
        call_command("import_intervals", str(folder / "intervals.csv"), "--dir", str(folder / "dataset"))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1])
