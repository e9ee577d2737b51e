"""Interval files in, a route's period usage out: import by meter, partitions by period and route, holds and codes."""
import subprocess
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import translation

from gridcounter.application.readings import (
    UnknownRoute,
    import_intervals,
    interval_usage,
    partition_dir,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from tests.factories import readings
from tests.factories.cities import TOWN_NOW as NOW
from tests.factories.readings import TZ as SHANGHAI

START, END = date(2026, 10, 15), date(2026, 11, 15)  # the route's period 2026-11 (fixed day 15)


def interval_lines(meter: str, *, start: date = START, end: date = END, kwh: str = "0.25", skip=()):
    """One CSV line per 15-minute interval of [start, end), naive local time as head-ends write it."""
    moment = datetime(start.year, start.month, start.day, tzinfo=SHANGHAI)
    stop = datetime(end.year, end.month, end.day, tzinfo=SHANGHAI)
    i = 0
    while moment < stop:
        if i not in skip:
            yield f"{meter},{moment.strftime('%Y-%m-%dT%H:%M')},{kwh}"
        moment += timedelta(minutes=15)
        i += 1


def imported(**kwargs):
    """`import_intervals` and what it does once its transaction commits (the test's transaction never does)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return import_intervals(**kwargs)


def write_csv(path, lines) -> str:
    path.write_text("meter,start_at,kwh\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def register(account, day: date, value: str):
    readings.read(account.meter, account, day, Decimal(value), source="AMI", created_at=NOW)


@pytest.fixture
def town(town):
    """The town's two SC-GC-TOU accounts: `complete` with its register read at both ends of the period, `gappy`."""
    town.complete = town.account(tariff="SC-GC-TOU", category="GENERAL_COMMERCIAL")
    town.gappy = town.account(tariff="SC-GC-TOU", category="GENERAL_COMMERCIAL")
    register(town.complete, START, "1000.00")
    register(town.complete, END, "1744.00")  # 31 days × 96 × 0.25 kWh = 744 kWh
    return town


def test_an_imported_file_gives_each_account_its_peak_flat_valley_and_holds_the_gappy_one(town, tmp_path):
    lines = [*interval_lines(town.complete.meter.asset_number),
             *interval_lines(town.gappy.meter.asset_number, skip=range(100, 106))]  # 6 in a row missing
    done = imported(path=write_csv(tmp_path / "ami.csv", lines), root=tmp_path / "data", as_of=NOW)
    assert done.rejected_rows == [] and done.written == {("2026-11", town.route.code): 2 * 2976 - 6}
    assert partition_dir(root=tmp_path / "data", period="2026-11", route_code=town.route.code).is_dir()

    usage = interval_usage(route_code=town.route.code, period="2026-11", root=tmp_path / "data")
    rows = {r["account_id"]: r for r in usage.usage.iter_rows(named=True)}
    ok = rows[town.complete.pk]
    assert (ok["peak_c"], ok["flat_c"], ok["valley_c"], ok["critical_peak_c"]) == (24800, 24800, 24800, 0)
    assert ok["register_kwh_e4"] == 744 * 10**4 and ok["codes"] == [] and not ok["held"]
    assert usage.held_account_ids == [town.gappy.pk]
    assert set(rows[town.gappy.pk]["codes"]) == {"GAP", "REGISTER_MISSING"}
    gap = {f.code: f for f in usage.findings_for(town.gappy.pk)}["GAP"]
    assert gap.numbers["longest"] == 6 and "暂缓出账" in gap.reason_zh
    assert usage.to_rate()["account_id"].to_list() == [town.complete.pk]
    assert AuditEvent.objects.filter(action="INTERVALS_IMPORTED", detail__file="ami.csv").count() == 1  # this file's


def test_importing_the_same_file_again_changes_nothing(town, tmp_path):
    path = write_csv(tmp_path / "ami.csv", interval_lines(town.complete.meter.asset_number))
    imported(path=path, root=tmp_path / "data", as_of=NOW)
    imported(path=path, root=tmp_path / "data", as_of=NOW)
    usage = interval_usage(route_code=town.route.code, period="2026-11", root=tmp_path / "data")
    row = usage.usage.row(0, named=True)
    assert row["actual_intervals"] == 2976 and row["peak_c"] == 24800 and not row["held"]


def test_the_first_import_marks_the_meter_as_sending_intervals_once_and_audited(town, tmp_path):
    meter = town.complete.meter
    assert not meter.sends_intervals
    path = write_csv(tmp_path / "ami.csv", interval_lines(meter.asset_number))
    with acting_as(Actor(reason="head-end file", channel="CLI")):
        first = imported(path=path, root=tmp_path / "data", as_of=NOW)
        again = imported(path=path, root=tmp_path / "data", as_of=NOW)
    meter.refresh_from_db()
    assert meter.sends_intervals and (first.meters_marked, again.meters_marked) == (1, 0)
    version = meter.history.latest()
    assert version.sends_intervals and version.history_change_reason == "head-end file"
    assert version.history_channel == "CLI" and meter.history.count() == 2
    assert not town.gappy.meter.__class__.objects.get(pk=town.gappy.meter.pk).sends_intervals
    event = AuditEvent.objects.filter(action="INTERVALS_IMPORTED").order_by("id").first()
    assert event.detail["meters_marked"] == 1 and event.reason == "head-end file"


def test_intervals_after_the_fixed_day_go_to_the_next_period(town, tmp_path):
    meter = town.complete.meter.asset_number
    path = write_csv(tmp_path / "ami.csv", interval_lines(meter, start=date(2026, 11, 14), end=date(2026, 11, 16)))
    done = imported(path=path, root=tmp_path / "data", as_of=NOW)
    assert done.written == {("2026-11", town.route.code): 96, ("2026-12", town.route.code): 96}


def test_bad_rows_are_named_by_line_and_column_and_nothing_is_written(town, tmp_path):
    meter = town.complete.meter.asset_number
    lines = [f"{meter},2026-10-20T10:00,0.25", f"{meter},2026-10-20T10:07,0.25", f"{meter},yesterday,0.25",
             f"{meter},2026-10-20T10:15,0.12345", "M-NOBODY,2026-10-20T10:30,0.25",
             f"{meter},2026-10-20T02:45Z,0.5"]
    path = write_csv(tmp_path / "bad.csv", lines)
    err = StringIO()
    with translation.override("en"), pytest.raises(CommandError, match="nothing imported"):
        call_command("import_intervals", path, "--dir", str(tmp_path / "data"), stderr=err, stdout=StringIO())
    assert err.getvalue().splitlines() == [
        "line 3, column start_at: start_at “2026-10-20T10:07” is not the start of a 15-minute interval",
        "line 4, column start_at: start_at “yesterday” is not an ISO 8601 date and time "
        "(e.g. 2026-11-15T09:30 or 2026-11-15T01:30Z)",
        "line 5, column kwh: kwh “0.12345” is not a number with at most 4 decimals",
        "line 6, column meter: meter M-NOBODY is not installed on any account on 2026-10-20",
    ]
    assert not (tmp_path / "data").exists()


def test_the_command_prints_what_it_wrote(town, tmp_path):
    path = write_csv(tmp_path / "ami.csv", interval_lines(town.complete.meter.asset_number,
                                                          start=date(2026, 10, 20), end=date(2026, 10, 21)))
    out = StringIO()
    with translation.override("en"):
        call_command("import_intervals", path, "--dir", str(tmp_path / "data"), stdout=out)
    assert f"2026-11 {town.route.code}: 96" in out.getvalue() and "96 rows, 0 rejected" in out.getvalue()


def test_an_unknown_route_is_refused_by_name(db, tmp_path):
    with pytest.raises(UnknownRoute, match="NOPE"):
        interval_usage(route_code="NOPE", period="2026-11", root=tmp_path)


def test_hostile_cells_and_impossible_values_are_named_and_nothing_is_written(town, tmp_path):
    meter = town.complete.meter.asset_number  # no contracted capacity, multiplier 1: at most 25 kWh a quarter hour
    lines = [f"{meter},2026-10-20T10:00,0.25",
             f"{meter},2099-01-01T10:00,0.25",              # line 3: far in the future
             f"{meter},2026-11-22T00:00,0.25",              # line 4: more than a day after the business date
             f"{meter},0001-01-01T10:00,0.25",              # line 5: before the horizon
             f"{meter},2026-10-20T10:15,100000000000",      # line 6: 100 billion kWh
             f"{meter},2026-10-20T10:30,25.0001",           # line 7: just above the physical maximum
             f"{meter}\x00,2026-10-20T10:45,0.25",          # line 8: NUL byte
             f"{meter},2026-10-20T11:00,1e300",             # line 9
             f"{meter},2026-11-21T00:00,0.25"]              # line 10: within a day ahead: accepted
    path = write_csv(tmp_path / "hostile.csv", lines)
    with translation.override("en"):
        done = imported(path=path, root=tmp_path / "data", as_of=NOW)
    got = {r["line"]: (r["column"], r["reason"]) for r in done.rejected_rows}
    assert {line: column for line, (column, _r) in got.items()} == {
        3: "start_at", 4: "start_at", 5: "start_at", 6: "kwh", 7: "kwh", 8: "meter", 9: "kwh"}
    assert "2099-01-01 is in the future (the latest accepted is 2026-11-21)" in got[3][1]
    assert "before 1950-01-01" in got[5][1]
    assert "at most 25 kWh" in got[6][1] and "at most 25 kWh" in got[7][1] and "NUL" in got[8][1]
    assert not (tmp_path / "data").exists()


def test_the_physical_maximum_follows_the_contracted_capacity(town, tmp_path):
    big = town.account(tariff="SC-GC-TOU", category="GENERAL_COMMERCIAL")
    big.capacity_kva = Decimal(100)  # 100 kVA × 2 for a quarter hour: 50 kWh
    big.save(update_fields=["capacity_kva"])
    meter = big.meter.asset_number
    path = write_csv(tmp_path / "big.csv", [f"{meter},2026-10-20T10:00,50", f"{meter},2026-10-20T10:15,50.0001"])
    done = imported(path=path, root=tmp_path / "data", as_of=NOW)
    assert [(r["line"], r["column"]) for r in done.rejected_rows] == [(3, "kwh")]


@pytest.mark.parametrize("name,content", [
    ("empty.csv", b""),
    ("gbk.csv", "meter,start_at,kwh\n城区光华里3号楼,2026-10-20T10:00,1\n".encode("gbk")),
    ("header.csv", b"meter,kwh\nM1,1\n"),
    ("missing.csv", None),
    ("broken.parquet", b"PAR1 not really"),
])
def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(db, tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError) as failure:
        call_command("import_intervals", str(path), "--dir", str(tmp_path / "data"), stdout=StringIO(),
                     stderr=StringIO())
    assert failure.value.returncode == 2 and name in str(failure.value) and "\n" not in str(failure.value)


def parts(root) -> tuple[list[str], list[str]]:
    """(part files in place, temporary files) under the dataset folder."""
    return (sorted(p.name for p in root.glob("period=*/route=*/part-*.parquet")),
            sorted(p.name for p in root.glob("period=*/route=*/.part-*.tmp")))


def test_the_parts_wait_beside_their_place_until_the_import_commits_and_a_sweep_finishes_a_committed_one(
        town, tmp_path):
    root = tmp_path / "data"
    path = write_csv(tmp_path / "ami.csv", interval_lines(town.complete.meter.asset_number,
                                                          start=date(2026, 10, 20), end=date(2026, 10, 21)))
    # the import's transaction is the test's, which never commits: the part stays under its temporary name, as it
    # would if the process died between the commit and the move
    import_intervals(path=path, root=root, as_of=NOW)
    placed, waiting = parts(root)
    assert placed == [] and len(waiting) == 1
    event = AuditEvent.objects.get(action="INTERVALS_IMPORTED", detail__file="ami.csv")
    assert event.detail["staged"][0].endswith(waiting[0])

    out = StringIO()
    with translation.override("en"):
        call_command("import_intervals", "--sweep", "--dir", str(root), stdout=out)
    assert "1 temporary parts moved into place, 0 removed" in out.getvalue()
    assert parts(root) == ([waiting[0].split(".parquet.")[0].removeprefix(".") + ".parquet"], [])


def test_a_sweep_removes_the_parts_of_an_import_that_never_committed(town, tmp_path):
    root = tmp_path / "data"
    folder = partition_dir(root=root, period="2026-11", route_code=town.route.code)
    folder.mkdir(parents=True)
    gone = _dead_pid()
    (folder / f".part-0123456789abcdef.parquet.{gone}.feedbeef.tmp").write_bytes(b"half a part")
    path = write_csv(tmp_path / "ami.csv", interval_lines(town.complete.meter.asset_number,
                                                          start=date(2026, 10, 20), end=date(2026, 10, 21)))
    done = imported(path=path, root=root, as_of=NOW)
    assert done.swept == {"published": 0, "removed": 1}
    placed, waiting = parts(root)
    assert len(placed) == 1 and waiting == []


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
