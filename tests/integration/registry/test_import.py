"""`gridcounter import-registry`: good rows in, bad rows reported with line and column and kept, re-import a no-op."""
import csv
import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from openpyxl import Workbook

from gridcounter.application.registry import COLUMNS, import_registry
from gridcounter.data.audit.context import Actor
from gridcounter.data.imports.models import ImportBatch, RejectedRow
from gridcounter.data.registry.models import Account, Installation, Meter, Route

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "registry-sample.csv"
SAMPLE_ACCOUNTS = [f"33000000{n}" for n in (11, 12, 13, 14, 15, 17, 18, 20)]
AT = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
CLI = Actor(channel="CLI")


def run_cli(*args) -> str:
    out = StringIO()
    call_command("import_registry", *args, stdout=out)
    return out.getvalue()


def test_sample_imports_eight_rows_and_reports_the_two_bad_ones(org):
    summary = json.loads(run_cli(str(SAMPLE), "--json"))

    assert (summary["created"], summary["updated"], summary["unchanged"]) == (8, 0, 0)
    assert [(r["line"], r["column"]) for r in summary["rejected"]] == [(7, "reading_day"), (10, "id_number")]
    assert "31" in summary["rejected"][0]["reason"]
    assert sorted(Account.objects.filter(number__startswith="33").values_list("number", flat=True)) == SAMPLE_ACCOUNTS
    kept = RejectedRow.objects.filter(batch_id=summary["batch_id"]).order_by("line")
    assert [(r.line, r.column, r.raw["account"]) for r in kept] == [(7, "reading_day", "3300000016"),
                                                                   (10, "id_number", "3300000019")]
    # what the rows built
    industry = Account.objects.get(number="3300000018")
    assert (industry.voltage, industry.capacity_kva, industry.contract_demand_kw) == ("KV_1_10", 630, 500)
    meter = Installation.objects.get(account=industry).meter
    assert meter.multiplier == 2000
    assert meter.registers == ["PEAK", "FLAT", "VALLEY", "REACTIVE"]
    assert Meter.objects.get(asset_number="SAMPLE-0003").registers == ["PEAK", "VALLEY"]  # Shanghai TOU
    assert Meter.objects.get(asset_number="SAMPLE-0001").registers == ["TOTAL"]
    assert Route.objects.get(code="SFS-S01").reading_day == 8
    assert industry.home_hall.code == "SFS-COUNTY"


def test_importing_the_same_file_again_changes_nothing(org):
    run_cli(str(SAMPLE))
    versions_before = {n: Account.history.filter(number=n).count() for n in SAMPLE_ACCOUNTS}

    summary = json.loads(run_cli(str(SAMPLE), "--json"))

    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 0, 8)
    assert len(summary["rejected"]) == 2
    assert {n: Account.history.filter(number=n).count() for n in SAMPLE_ACCOUNTS} == versions_before


def test_a_changed_row_updates_with_history_and_the_import_as_reason(org, tmp_path):
    run_cli(str(SAMPLE))
    changed = tmp_path / "registry-changed.csv"
    changed.write_text(SAMPLE.read_text(encoding="utf-8").replace("220V,,,3,SAMPLE-0001", "220V,,,4,SAMPLE-0001"),
                       encoding="utf-8")

    summary = json.loads(run_cli(str(changed), "--json"))

    account = Account.objects.get(number="3300000011")
    assert account.household_size == 4
    latest = account.history.first()
    assert latest.history_change_reason == "registry import registry-changed.csv"
    assert latest.prev_record.household_size == 3
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 7)


def test_excel_file_is_imported_like_csv(org, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(COLUMNS)
    sheet.append(["3300000201", "周杰", "RESIDENT_ID", "11010519491231002X", "13901012345", "SFS", "城区营业厅",
                  "城区光华里9号楼1单元101室", "城区光华里9号楼", "RESIDENTIAL", "BJ-RES-LT1KV", "LV_220V", None, None,
                  2, "XLSX-1", 6, 1, datetime(2021, 5, 6), "SFS-X1", 12])
    sheet.append(["3300000202", "吴敏", "RESIDENT_ID", "11010519491231002X", "13901012345", "SFS", "城区营业厅",
                  "城区光华里9号楼1单元102室", "城区光华里9号楼", "RESIDENTIAL", "NO-SUCH-TARIFF", "LV_220V", None,
                  None, 2, "XLSX-2", 6, 1, datetime(2021, 5, 6), "SFS-X1", 12])
    path = tmp_path / "registry.xlsx"
    workbook.save(path)

    result = import_registry(path=path, actor=CLI, imported_at=AT)

    assert result.created == 1
    assert [(r.line, r.column) for r in result.rejected] == [(3, "tariff")]
    assert "NO-SUCH-TARIFF" in result.rejected[0].reason
    account = Account.objects.get(number="3300000201")
    assert account.installations.get().installed_date.isoformat() == "2021-05-06"
    assert account.route.reading_day == 12


def test_a_row_for_a_hall_of_another_city_is_rejected_and_nothing_of_it_is_written(org, tmp_path):
    path = tmp_path / "other-hall.csv"
    path.write_text(",".join(COLUMNS) + "\n" + ",".join([
        "3300000301", "郑洁", "RESIDENT_ID", "11010519491231002X", "", "SFS", "LS-CITY", "城区某路1号", "", "RESIDENTIAL",
        "BJ-RES-LT1KV", "LV_220V", "", "", "2", "CSV-1", "6", "1", "2021-05-06", "SFS-Y1", "3"]) + "\n",
        encoding="utf-8")

    result = import_registry(path=path, actor=CLI, imported_at=AT)

    assert [(r.line, r.column) for r in result.rejected] == [(2, "hall")]
    assert not Account.objects.filter(number="3300000301").exists()
    assert not Meter.objects.filter(asset_number="CSV-1").exists()


def test_an_unreadable_file_exits_with_code_2(org, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(",".join(COLUMNS).encode() + b"\n" + "Müller".encode("latin-1"))
    with pytest.raises(CommandError) as failure:
        run_cli(str(path))
    assert failure.value.returncode == 2
    assert "UTF-8" in str(failure.value)
    with pytest.raises(CommandError) as failure:
        run_cli(str(tmp_path / "missing.csv"))
    assert failure.value.returncode == 2


GOOD = dict(zip(COLUMNS, [
    "3300000401", "钱伟", "RESIDENT_ID", "11010519491231002X", "13901012345", "SFS", "SFS-CITY", "城区敌对路1号",
    "城区敌对路", "RESIDENTIAL", "BJ-RES-LT1KV", "LV_220V", "", "", "2", "HOSTILE-1", "6", "1", "2021-05-06",
    "SFS-H1", "3"], strict=True))


def registry_file(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "walk_order"], restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(n: int, **changes) -> dict:
    """GOOD with its own account, address and meter (number n), then `changes`."""
    return {**GOOD, "account": f"33000004{n:02d}", "address": f"城区敌对路{n}号", "meter": f"HOSTILE-{n}", **changes}


def test_hostile_cells_are_named_row_errors_and_the_rows_after_them_go_in(org, tmp_path):
    path = registry_file(tmp_path / "hostile.csv", [
        row(1),
        row(2, capacity_kva="1e300"),                          # line 3
        row(3, customer_name="名" * 5000),                      # line 4
        row(4, address="城区\x00敌对路4号"),                     # line 5
        row(5, installed_on="2099-01-01"),                     # line 6: after the import's business date
        row(6, installed_on="0001-01-01"),                     # line 7
        row(7, walk_order="99999999999999"),                   # line 8
        row(8, multiplier="0.001"),                            # line 9
        row(9),                                                # line 10
    ])
    with translation.override("en"):
        result = import_registry(path=path, actor=CLI, imported_at=AT)

    assert result.created == 2
    rejected = {r.line: (r.column, r.reason) for r in result.rejected}
    assert {line: column for line, (column, _reason) in rejected.items()} == {
        3: "capacity_kva", 4: "customer_name", 5: "address", 6: "installed_on", 7: "installed_on", 8: "walk_order",
        9: "multiplier"}
    assert "too large" in rejected[3][1]
    assert "5000 characters long; at most 200" in rejected[4][1]
    assert "NUL" in rejected[5][1]
    assert "2099-01-01 is in the future (the latest accepted is 2025-01-06)" in rejected[6][1]
    assert "before 1950-01-01" in rejected[7][1]
    assert "out of range" in rejected[8][1] and "decimal places" in rejected[9][1]
    assert sorted(Account.objects.filter(number__startswith="330000040").values_list("number", flat=True)) == [
        "3300000401", "3300000409"]
    kept = RejectedRow.objects.get(batch_id=result.batch_id, line=5)
    assert kept.raw["address"] == "城区␀敌对路4号"
    batch = ImportBatch.objects.get(pk=result.batch_id)
    assert (batch.rows_total, batch.rows_created, batch.rows_rejected) == (9, 2, 7)
    assert batch.completed_at is not None and batch.lines_done == 10


def test_the_reasons_are_in_chinese_for_a_chinese_user(org, tmp_path):
    path = registry_file(tmp_path / "hostile.csv", [row(1, installed_on="2099-01-01"), row(2, address="\x00")])
    with translation.override("zh-hans"):
        result = import_registry(path=path, actor=CLI, imported_at=AT)
    assert "2099-01-01 晚于" in result.rejected[0].reason and "NUL" in result.rejected[1].reason


@pytest.mark.parametrize("content", [
    b"",                                                                        # empty
    ",".join(COLUMNS).encode() + b"\n" + "3300000401,城区光华里3号楼1单元101室".encode("gbk"),       # GBK, not UTF-8
    b"account,name\n3300000401,x\n",                                            # wrong header
])
def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(org, tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError) as failure:
        run_cli(str(path))
    assert failure.value.returncode == 2 and "\n" not in str(failure.value) and "bad.csv" in str(failure.value)
    assert not ImportBatch.objects.filter(file_name="bad.csv").exists()


def test_a_truncated_excel_file_is_refused_with_exit_2(org, tmp_path):
    workbook = Workbook()
    workbook.active.append(COLUMNS)
    for n in range(1, 200):
        workbook.active.append(list(row(n).values()))
    whole = tmp_path / "whole.xlsx"
    workbook.save(whole)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(CommandError) as failure:
        run_cli(str(cut))
    assert failure.value.returncode == 2 and "cut.xlsx" in str(failure.value) and "\n" not in str(failure.value)
    assert not Account.objects.filter(number__startswith="33000004").exists()
