"""A kernel bill run killed with SIGKILL inside a batch and run again: one bill per account, ledger balanced.

The run, its preparation and the checks are subprocesses on a scratch database of the backend under test
(a temporary SQLite file, or a scratch PostgreSQL database next to the test database).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.factories.scratch import finish, script

pytestmark = pytest.mark.django_db(transaction=True)


def _committed_runs(connect) -> int:
    conn = connect()
    try:
        return conn.execute("SELECT COUNT(*) FROM billing_billrun").fetchone()[0]
    finally:
        conn.close()


def test_a_killed_run_loses_only_the_batch_in_flight_and_a_rerun_finishes_it(scratch_db):
    url, connect = scratch_db
    finish(script(url, "prepare"))

    run = script(url, "run-slow")
    killed_at = None
    deadline = time.monotonic() + 300
    for line in run.stdout:  # each WRITTEN: a batch's rows are written and its transaction is still open
        if line.startswith("WRITTEN") and _committed_runs(connect) >= 2:
            os.kill(run.pid, signal.SIGKILL)
            killed_at = _committed_runs(connect)
            break
        assert time.monotonic() < deadline
    run.wait(timeout=60)
    assert killed_at is not None and run.returncode == -signal.SIGKILL

    after_kill = json.loads(finish(script(url, "check")).strip().splitlines()[-1])
    assert after_kill["runs"] == killed_at < after_kill["routes"]  # the batch in flight left nothing behind
    assert after_kill["duplicates"] == 0 and after_kill["bad_entries"] == 0 and after_kill["ledger_ok"]
    assert 0 < after_kill["billed"] < after_kill["accounts"]

    if url.startswith("sqlite"):  # the killed run read ahead: its scratch files are still next to the database
        folder = Path(url.removeprefix("sqlite:///")).parent
        assert list(folder.glob(".bill-run-*/batch-*.sqlite3"))
    summary = json.loads(finish(script(url, "run")).strip().splitlines()[-1])
    assert summary["skipped"] == after_kill["billed"]
    if url.startswith("sqlite"):  # the rerun removed them, and its own
        assert not list(folder.glob(".bill-run-*"))

    final = json.loads(finish(script(url, "check")).strip().splitlines()[-1])
    assert final["duplicates"] == 0 and final["bad_entries"] == 0 and final["ledger_ok"]
    assert final["billed"] == final["accounts"]
    # the killed batch's BillRun rolled back with its bills; the rerun records only the routes it billed
    assert final["runs"] == final["routes"]


def test_the_reading_processes_of_a_killed_sqlite_run_end_with_it(scratch_db):
    url, _ = scratch_db
    if not url.startswith("sqlite"):
        pytest.skip("reading processes are SQLite's: PostgreSQL bills two batches at once on two connections")
    finish(script(url, "prepare"))

    database = Path(url.removeprefix("sqlite:///")).resolve()

    def reading(process: psutil.Process) -> bool:  # a reading process with the database open
        try:
            return "spawn_main" in " ".join(process.cmdline()) and any(
                Path(f.path) == database for f in process.open_files())
        except psutil.NoSuchProcess:
            return False

    run = script(url, "run-slow")
    readers = []
    deadline = time.monotonic() + 300
    for line in run.stdout:  # after a batch's write, once both reading processes have read a batch ahead
        if line.startswith("WRITTEN"):
            readers = [child for child in psutil.Process(run.pid).children(recursive=True) if reading(child)]
            if len(readers) == 2:
                break
        assert time.monotonic() < deadline
    assert len(readers) == 2

    os.kill(run.pid, signal.SIGKILL)
    killed = time.monotonic()
    while (alive := [reader for reader in readers if _alive(reader)]) and time.monotonic() < killed + 1.0:
        time.sleep(0.02)
    for reader in alive:  # not to leave them behind when the test fails
        reader.kill()
    assert alive == []  # no reader left holding the database open
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL


# a reading process started by a run that is killed before the reader binds itself to it: the reader is given the
# run's pid, waits until the run is gone, then calls die_with as `_reader.start` does first thing
_LATE_READER = """
import os, sys, time
run = os.getppid()
print(os.getpid(), flush=True)
while os.getppid() == run:
    time.sleep(0.01)
from gridcounter.application.billrun._reader import die_with
die_with(run)
print("SURVIVED", flush=True)
time.sleep(60)
"""


@pytest.mark.nodb
def test_a_reading_process_whose_run_died_while_it_started_ends_at_once():
    run = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time\n"
                            f"subprocess.Popen([sys.executable, '-c', {_LATE_READER!r}])\ntime.sleep(60)"],
                           stdout=subprocess.PIPE, text=True)
    reader = psutil.Process(int(run.stdout.readline()))
    try:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        killed = time.monotonic()
        while _alive(reader) and time.monotonic() < killed + 2.0:
            time.sleep(0.02)
        assert not _alive(reader)
        assert run.stdout.read() == ""  # it never went on to wait for work
    finally:
        if _alive(reader):
            reader.kill()


def _alive(process: psutil.Process) -> bool:
    """Still running: not gone, and not a zombie (dead, its files closed, waiting for its new parent to reap it)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
