"""A kernel bill run killed with SIGKILL inside a batch and run again: one bill per account, ledger balanced.

The run, its preparation and the checks are subprocesses on a scratch database of the backend under test
(a temporary SQLite file, or a scratch PostgreSQL database next to the test database).
"""
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories.scratch import finish, script

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scratch(tmp_path):
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        path = tmp_path / "crash.sqlite3"
        yield f"sqlite:///{path}", lambda: sqlite3.connect(path, timeout=30)
        return
    import psycopg

    name = f"h9crash_{os.getpid()}"
    base = f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{base}/{name}", lambda: psycopg.connect(f"{base}/{name}", autocommit=True)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _committed_runs(connect) -> int:
    conn = connect()
    try:
        return conn.execute("SELECT COUNT(*) FROM billing_billrun").fetchone()[0]
    finally:
        conn.close()


def test_a_killed_run_loses_only_the_batch_in_flight_and_a_rerun_finishes_it(scratch):
    url, connect = scratch
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
    # the killed batch's BillRun rolled back with its bills; the rerun records one per route (billed or skipped)
    assert final["runs"] == killed_at + final["routes"]
