"""`gridcounter bill-run`: the kernel engine by default, the same bills as `--engine reference`, and on a Dask cluster."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from gridcounter.application.ledger import check_ledger
from gridcounter.data.billing.models import Bill, BillRun
from tests.factories import billing as bills
from tests.factories.cities import BILL_RUN_PERIOD as PERIOD
from tests.factories.cities import bill_run_history

ROOT = Path(__file__).resolve().parents[3]
GRIDCOUNTER = str(Path(sys.executable).parent / "gridcounter")
RUN = ["bill_run", "--period", PERIOD, "--as-of", "2025-08-20"]


def run_json(capsys, *extra) -> dict:
    call_command(*RUN, "--json", *extra)
    return json.loads(capsys.readouterr().out)


def summary_seen(data: dict) -> dict:
    return {k: data[k] for k in ("issued", "held", "skipped", "not_due", "held_by_code")}


@pytest.mark.django_db
def test_the_default_kernel_engine_bills_like_the_account_by_account_engine(city, capsys):
    bill_run_history(city)
    with transaction.atomic():
        orm = run_json(capsys, "--engine", "reference")
        expected = bills.snapshot(PERIOD, city=city.city)
        transaction.set_rollback(True)
    assert not Bill.objects.filter(period=PERIOD, account__city=city.city).exists()

    kernel = run_json(capsys)

    assert kernel["engine"] == "kernel" and orm["engine"] == "reference"
    assert summary_seen(kernel) == summary_seen(orm)
    assert kernel["issued"] + kernel["held"] == 30 and kernel["held_by_code"]["BILL_SHOCK"] >= 1
    got = bills.snapshot(PERIOD, city=city.city)
    assert set(got) == set(expected)
    for number in expected:
        assert got[number] == expected[number], number
    assert check_ledger().ok

    call_command(*RUN)  # a rerun, in words: nothing billed twice
    out = capsys.readouterr().out
    assert f"电费年月 {PERIOD}：发行 0 张，暂缓 0 张，跳过 30 户，未到期 0 户" in out
    assert Bill.objects.filter(period=PERIOD, account__city=city.city).exclude(status="CANCELLED").count() == 30



@pytest.mark.django_db
@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_reruns_that_bill_nothing_leave_no_run_record_and_say_what_they_skipped(city, capsys, engine):
    from gridcounter.data.audit.models import AuditEvent

    bill_run_history(city)
    first = run_json(capsys, "--engine", engine)
    runs = BillRun.objects.filter(period=PERIOD, route__city=city.city)
    routes = sorted(runs.values_list("route__code", flat=True))
    events = AuditEvent.objects.filter(action="BILL_RUN", detail__period=PERIOD, detail__route__in=routes)
    assert first["issued"] + first["held"] == 30 and len(routes) == first["routes"] == events.count() == 2
    recorded = set(runs.values_list("pk", flat=True))

    for _ in range(3):
        again = run_json(capsys, "--engine", engine)
        assert (again["issued"], again["held"], again["skipped"], again["routes"]) == (0, 0, 30, 2)
    call_command(*RUN, "--engine", engine)
    assert f"电费年月 {PERIOD}：发行 0 张，暂缓 0 张，跳过 30 户，未到期 0 户" in capsys.readouterr().out

    assert set(runs.values_list("pk", flat=True)) == recorded and events.count() == 2

@pytest.mark.django_db
def test_one_route_and_an_unknown_route(city, capsys):
    bill_run_history(city)
    data = run_json(capsys, "--route", "R15B")
    assert data["routes"] == 1 and data["issued"] + data["held"] == 2  # the second route holds two accounts
    with pytest.raises(CommandError, match="NOPE"):
        call_command(*RUN, "--route", "NOPE")


def test_workers_and_threads_on_sqlite_are_refused_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'city.sqlite3'}"
    subprocess.run([GRIDCOUNTER, "migrate", "-v", "0"], capture_output=True, cwd=ROOT, env=env, timeout=300,
                   check=True)  # set up: a database not migrated is refused first, for that reason
    for option in (["--workers", "2"], ["--cluster", "tcp://127.0.0.1:8786"], ["--threads", "2"]):
        done = subprocess.run([GRIDCOUNTER, "bill-run", "--period", PERIOD, *option], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=120)
        assert done.returncode == 2
        message = done.stderr.strip()
        assert message.count("\n") == 0 and "PostgreSQL" in message and "Traceback" not in message


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scale", [["--workers", "2"], ["--threads", "2"]], ids=["workers", "threads"])
def test_two_local_workers_or_threads_from_the_command_line_bill_like_one_batch_at_a_time(city, capsys,
                                                                                            scale):
    if connection.vendor != "postgresql":
        pytest.skip("--workers and --threads need PostgreSQL (refused on SQLite: see the test above)")
    bill_run_history(city)
    with transaction.atomic():
        single = run_json(capsys)
        expected = bills.snapshot(PERIOD, city=city.city)
        transaction.set_rollback(True)
    assert not Bill.objects.filter(period=PERIOD, account__city=city.city).exists()

    s = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([GRIDCOUNTER, *RUN, *scale, "--batch-accounts", "1", "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout.strip().splitlines()[-1])

    assert data["routes"] == 2
    if scale[0] == "--workers":
        assert data["workers"] == 2 and data["tasks"] == 2
    assert summary_seen(data) == summary_seen(single)
    assert bills.snapshot(PERIOD, city=city.city) == expected
    assert BillRun.objects.filter(period=PERIOD, route__city=city.city).count() == 2
    assert check_ledger().ok


@pytest.mark.django_db(transaction=True)
def test_a_running_cluster_named_by_its_scheduler_address_bills_every_account(city, capsys):
    if connection.vendor != "postgresql":
        pytest.skip("--cluster needs PostgreSQL (refused on SQLite: see above)")
    from distributed import LocalCluster

    bill_run_history(city)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        data = run_json(capsys, "--cluster", cluster.scheduler_address)

    assert data["workers"] == 1 and data["issued"] + data["held"] == 30 and data["skipped"] == 0
    assert Bill.objects.filter(period=PERIOD, account__city=city.city).exclude(status="CANCELLED").count() == 30
    assert check_ledger().ok
    assert run_json(capsys, "--engine", "reference")["skipped"] == 30  # the reference engine finds nothing left to bill


@pytest.mark.django_db
def test_a_run_from_the_command_line_records_who_ran_it(city, capsys):
    import getpass

    from gridcounter.data.audit.models import AuditEvent
    from gridcounter.data.org.models import Role

    bill_run_history(city)
    hall = city.hall
    auditor = city.staff("run_auditor", Role.Code.AUDITOR)
    city.staff("run_clerk", Role.Code.CLERK)

    with pytest.raises(CommandError, match="run_clerk") as refused:
        call_command(*RUN, "--user", "run_clerk")
    assert refused.value.returncode == 2 and not Bill.objects.filter(period=PERIOD, account__city=city.city).exists()
    with pytest.raises(CommandError, match="nobody"):
        call_command(*RUN, "--user", "nobody")

    run_json(capsys, "--route", "R15B", "--user", "run_auditor")
    run_json(capsys)  # the rest, by the system account

    by_auditor = BillRun.objects.get(period=PERIOD, route__city=city.city, route__code="R15B", summary__issued__gt=0)
    assert by_auditor.started_by == auditor
    events = {e.object_id: e for e in AuditEvent.objects.filter(action="BILL_RUN", detail__period=PERIOD)}
    assert events[str(by_auditor.pk)].username == "run_auditor" and events[str(by_auditor.pk)].hall == hall
    others = [e for pk, e in events.items() if pk != str(by_auditor.pk)]
    assert others and all(e.username == getpass.getuser() and e.channel == "CLI" for e in others)
    bill = Bill.objects.filter(period=PERIOD, run=by_auditor).first()
    assert bill.history.first().history_user == auditor
