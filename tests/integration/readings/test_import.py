"""`gridcounter import-readings`: bad rows reported and kept, good rows in, a re-import changes nothing."""
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation
from openpyxl import Workbook

from gridcounter.application.readings import import_readings
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.imports.models import ImportBatch, RejectedRow
from gridcounter.data.readings.models import Reading
from tests.factories import registry
from tests.factories.cities import TOWN_NOW as NOW

pytestmark = pytest.mark.django_db


def write_csv(tmp_path, rows, name="readings.csv"):
    path = tmp_path / name
    path.write_text("meter,register,read_at,value,source\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_bad_rows_are_reported_with_line_and_column_and_good_rows_go_in(town, tmp_path):
    a, b = town.account(), town.account()
    town.history(a, start_value=1000, uses=[200, 210, 190, 205])
    town.history(b, start_value=5000, uses=[100, 110, 90, 105])
    path = write_csv(tmp_path, [
        f"{a.meter.asset_number},TOTAL,2026-11-15T10:00,1998,AMI",                # line 2: good
        f"{b.meter.asset_number},NIGHT,2026-11-15T10:00,5500,AMI",                # line 3: bad register
        f"{b.meter.asset_number},TOTAL,15/11/2026 10:00,5500,AMI",                # line 4: bad read_at
        f"{b.meter.asset_number},TOTAL,2026-11-15T10:00,-5,HANDHELD",             # line 5: negative value
        "NO-SUCH-METER,TOTAL,2026-11-15T10:00,100,AMI",                           # line 6: unknown meter
        f"{b.meter.asset_number},TOTAL,2026-11-15 10:05:00+08:00,5505,HANDHELD",  # line 7: good
    ])
    with translation.override("en"):
        result = import_readings(path=path, actor=town.actor, as_of=NOW)

    assert (result.created, result.unchanged, result.rejected) == (2, 0, 4)
    assert [(r["line"], r["column"]) for r in result.rejected_rows] == [
        (3, "register"), (4, "read_at"), (5, "value"), (6, "meter")]
    assert "NIGHT" in result.rejected_rows[0]["reason"]
    assert "negative" in result.rejected_rows[2]["reason"]
    kept = RejectedRow.objects.filter(batch_id=result.batch_id).order_by("line")
    assert [(r.line, r.column) for r in kept] == [(3, "register"), (4, "read_at"), (5, "value"), (6, "meter")]
    assert kept[3].raw["meter"] == "NO-SUCH-METER"
    stored = Reading.objects.get(meter=a.meter, read_date=date(2026, 11, 15))
    assert stored.value == Decimal(1998) and stored.account == a and stored.status == Reading.Status.ACCEPTED
    assert not Reading.objects.filter(meter=b.meter, value=Decimal(5500)).exists()

    again = import_readings(path=path, actor=town.actor, as_of=NOW)
    assert (again.created, again.unchanged, again.rejected) == (0, 2, 4)
    batch = ImportBatch.objects.get(pk=again.batch_id)
    assert (batch.rows_created, batch.rows_unchanged, batch.rows_rejected) == (0, 2, 4)
    assert Reading.objects.filter(meter__in=[a.meter, b.meter], read_date=date(2026, 11, 15)).count() == 2


def test_local_time_is_stored_in_utc_with_the_shanghai_date(town, tmp_path):
    a = town.account()
    town.history(a, start_value=1000, uses=[200, 210, 190])
    path = write_csv(tmp_path, [f"{a.meter.asset_number},TOTAL,2026-11-15T00:30,1800,AMI"])
    import_readings(path=path, actor=town.actor, as_of=NOW)
    reading = Reading.objects.get(meter=a.meter, value=Decimal(1800))
    assert reading.read_at == datetime(2026, 11, 14, 16, 30, tzinfo=UTC)
    assert reading.read_date == date(2026, 11, 15)


def test_a_meter_not_installed_at_read_time_is_stored_without_account(town, tmp_path):
    spare = registry.meter(asset_number="SPARE-1")
    path = write_csv(tmp_path, ["SPARE-1,TOTAL,2026-11-15T10:00,123,HANDHELD"])
    result = import_readings(path=path, actor=town.actor, as_of=NOW)
    reading = Reading.objects.get(meter=spare)
    assert reading.account is None
    assert reading.codes == ["INACTIVE_METER"] and reading.status == Reading.Status.HELD
    assert result.codes == {"INACTIVE_METER": 1}


def test_json_output_and_audit(town, tmp_path):
    a = town.account()
    town.history(a, start_value=1000, uses=[200, 210, 190, 205])
    path = write_csv(tmp_path, [
        f"{a.meter.asset_number},TOTAL,2026-11-15T10:00,900,AMI",   # lower than 1805: DECREASE
        f"{a.meter.asset_number},TOTAL,2026-11-15T10:00,,AMI",
    ])
    out = StringIO()
    call_command("import_readings", str(path), "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert (data["created"], data["unchanged"], data["rejected"], data["flagged"]) == (1, 0, 1, 1)
    assert data["codes"] == {"DECREASE": 1}
    assert data["rejected_rows"][0]["line"] == 3 and data["rejected_rows"][0]["column"] == "value"
    reading = Reading.objects.get(meter=a.meter, value=Decimal(900))
    assert reading.status == Reading.Status.HELD
    event = AuditEvent.objects.get(action="READING_RECEIVED", object_id=str(reading.pk))
    assert event.channel == "CLI" and event.detail["codes"] == ["DECREASE"]


def test_excel_file(town, tmp_path):
    a = town.account()
    town.history(a, start_value=1000, uses=[200, 210, 190])
    book = Workbook()
    sheet = book.active
    sheet.append(["meter", "register", "read_at", "value", "source"])
    sheet.append([a.meter.asset_number, "TOTAL", datetime(2026, 11, 15, 10, 0), 1801, "HANDHELD"])
    path = tmp_path / "readings.xlsx"
    book.save(path)
    result = import_readings(path=path, actor=town.actor, as_of=NOW)
    assert (result.created, result.rejected) == (1, 0)
    assert Reading.objects.get(meter=a.meter, read_date=date(2026, 11, 15)).value == Decimal(1801)
