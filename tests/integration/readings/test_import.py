"""`gridcounter import-readings`: bad rows reported and kept, good rows in, a re-import changes nothing."""
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import translation
from openpyxl import Workbook

from gridcounter.application.readings import COLUMNS, import_readings, parse_read_at, submit_reading
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.imports.models import ImportBatch, RejectedRow
from gridcounter.data.readings.models import Reading
from tests.factories import readings, registry
from tests.factories.cities import TOWN_NOW as NOW
from tests.factories.readings import TZ as SHANGHAI

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


def test_hostile_cells_are_named_row_errors_and_the_rows_after_them_go_in(town, tmp_path):
    a = town.account()
    town.history(a, start_value=1000, uses=[200, 210, 190, 205])
    meter = a.meter.asset_number
    path = write_csv(tmp_path, [
        f"{meter},TOTAL,0001-01-01T00:00,1998,AMI",                 # line 2: year 1 (before the calendar in UTC)
        f"{meter},TOTAL,9999-12-31T23:59,1998,AMI",                 # line 3: year 9999
        f"{meter},TOTAL,1900-06-01T10:00,1998,AMI",                 # line 4: before the horizon
        f"{meter},TOTAL,2026-11-15T10:00,1e300,AMI",                # line 5
        f"{meter}\x00,TOTAL,2026-11-15T10:00,1998,AMI",             # line 6: NUL byte
        f"{'M' * 5000},TOTAL,2026-11-15T10:00,1998,AMI",            # line 7: 5,000-character meter
        f"{meter},TOTAL,2026-11-15T10:00,1998,AMI",                 # line 8: good
    ])
    with translation.override("en"):
        result = import_readings(path=path, actor=town.actor, as_of=NOW)

    assert (result.created, result.rejected) == (1, 6)
    reasons = {r["line"]: (r["column"], r["reason"]) for r in result.rejected_rows}
    assert {line: column for line, (column, _r) in reasons.items()} == {
        2: "read_at", 3: "read_at", 4: "read_at", 5: "value", 6: "meter", 7: "meter"}
    assert "not a possible date" in reasons[2][1] and "in the future" in reasons[3][1]
    assert "before 1950-01-01" in reasons[4][1] and "NUL" in reasons[6][1]
    assert reasons[5][1] == "value “1e300” is not a number"  # numbers as text: digits and one point, no exponent
    assert len(reasons[7][1]) < 200
    assert Reading.objects.get(meter=a.meter, read_date=date(2026, 11, 15)).value == Decimal(1998)
    kept = RejectedRow.objects.get(batch_id=result.batch_id, line=6)
    assert kept.raw["meter"] == f"{meter}␀"
    batch = ImportBatch.objects.get(pk=result.batch_id)
    assert (batch.rows_total, batch.rows_created, batch.rows_rejected, batch.lines_done) == (7, 1, 6, 8)


@pytest.mark.parametrize("name,content", [
    ("empty.csv", b""),
    ("gbk.csv", "meter,register,read_at,value,source\n城区光华里3号楼,TOTAL,2026-11-15T10:00,1,AMI\n".encode("gbk")),
    ("header.csv", b"meter,value\nM1,1\n"),
    ("missing.csv", None),
])
def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(db, tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError) as failure:
        call_command("import_readings", str(path), stdout=StringIO(), stderr=StringIO())
    assert failure.value.returncode == 2 and name in str(failure.value) and "\n" not in str(failure.value)
    assert not ImportBatch.objects.filter(file_name=name).exists()


def test_a_truncated_excel_file_is_refused_with_exit_2(town, tmp_path):
    a = town.account()
    book = Workbook()
    book.active.append(COLUMNS)
    for day in range(1, 29):
        book.active.append([a.meter.asset_number, "TOTAL", datetime(2026, 10, day, 10, 0), 1000 + day, "AMI"])
    whole = tmp_path / "whole.xlsx"
    book.save(whole)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CommandError) as failure:
        call_command("import_readings", str(cut), stdout=StringIO(), stderr=StringIO())
    assert failure.value.returncode == 2 and "cut.xlsx" in str(failure.value)
    assert not Reading.objects.filter(meter=a.meter).exists()


def _outcomes(meters) -> list[tuple]:
    return sorted(Reading.objects.filter(meter__in=meters, created_at=NOW).values_list(
        "meter__asset_number", "register", "read_at", "value", "status", "codes", "account_id", "supersedes_id"))


def test_a_file_gives_the_codes_and_statuses_the_same_readings_submitted_one_by_one_give(town, tmp_path):
    a, b, c, d = (town.account() for _ in range(4))
    town.history(a, start_value=1000, uses=[200, 210, 190, 205])  # 1805 on 2026-10-15
    town.history(b, start_value=5000, uses=[100, 110, 90, 105])   # 5405
    town.history(c, start_value=3000, uses=[0, 0, 0])             # no use for three cycles
    town.history(d, start_value=100, uses=[50, 55, 60, 52])       # 317
    spare = registry.meter(asset_number="SPARE-9")
    readings.read(d.meter, d, date(2026, 11, 15), 370, source="ESTIMATE", is_estimate=True,
                  read_at=readings.local(date(2026, 11, 15), 0), created_at=NOW - timedelta(days=3))
    rows = [
        (a.meter, "2026-11-15T10:00", "900"),      # DECREASE
        (a.meter, "2026-11-15T10:00", "950"),      # the same moment, another value: DUPLICATE
        (b.meter, "2026-11-15T10:00", "9000"),     # SPIKE
        (b.meter, "2026-11-16T10:00", "5500"),     # after a held reading: the accepted one before it counts
        (c.meter, "2026-11-15T10:00", "3000"),     # ZERO_STREAK (and a site visit)
        (d.meter, "2026-11-15T10:00", "368"),      # replaces the estimate of the day
        (d.meter, "2026-11-17T10:00", "369"),      # sees the reading before it in the file
        (spare, "2026-11-15T10:00", "5"),          # INACTIVE_METER
        (a.meter, "2026-11-15T10:00", "900"),      # the first row again: unchanged
    ]
    path = write_csv(tmp_path, [f"{m.asset_number},TOTAL,{at},{v},AMI" for m, at, v in rows])
    meters = [a.meter, b.meter, c.meter, d.meter, spare]

    class Undo(Exception):
        pass

    try:
        with transaction.atomic():
            result = import_readings(path=path, actor=town.actor, as_of=NOW, chunk_rows=4)
            from_file = _outcomes(meters)
            superseded = Reading.objects.get(meter=d.meter, is_estimate=True).status
            raise Undo
    except Undo:
        pass
    for meter, at, value in rows:
        submit_reading(meter=meter, register="TOTAL", read_at=parse_read_at(at), value=Decimal(value), source="AMI",
                       actor=town.actor, received_at=NOW)
    one_by_one = _outcomes(meters)

    assert (result.created, result.unchanged) == (8, 1)
    assert from_file == one_by_one
    assert superseded == Reading.Status.SUPERSEDED == Reading.objects.get(meter=d.meter, is_estimate=True).status
    codes = {(m, at[:10], v): set(c) for m, _r, at_dt, v, _s, c, _a, _p in from_file
             for at in [at_dt.astimezone(SHANGHAI).isoformat()]}
    assert {"DECREASE"} <= codes[(a.meter.asset_number, "2026-11-15", Decimal(900))]
    assert "DUPLICATE" in codes[(a.meter.asset_number, "2026-11-15", Decimal(950))]
    assert "SPIKE" in codes[(b.meter.asset_number, "2026-11-15", Decimal(9000))]
    assert "ZERO_STREAK" in codes[(c.meter.asset_number, "2026-11-15", Decimal(3000))]
    assert "INACTIVE_METER" in codes[("SPARE-9", "2026-11-15", Decimal(5))]
