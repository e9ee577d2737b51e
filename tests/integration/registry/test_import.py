"""`gridcounter import-registry`: good rows in, bad rows reported with line and column and kept, re-import a no-op."""
import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from gridcounter.application.registry import COLUMNS, import_registry
from gridcounter.data.audit.context import Actor
from gridcounter.data.imports.models import RejectedRow
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
