"""The processes that read, rate and stage the next batches of a SQLite bill run while the run writes the
current one.

Imported by a reading process before Django is set up, so this module imports nothing of Django or of the
project at its top: `start` sets Django up on the run's database file, then `prepare` reads a batch with
`prepare_batch` (its queries through an ADBC connection of this process), stages the batch's rows
in a scratch file (`stage_rows`) and sends back what it made (Polars frames and a few Python
objects, pickled). A process, not a thread: the writer's inserts and the reader's Python work would otherwise
take turns on one interpreter lock (measured on 100k accounts: 15.2 s one after the other, 14.1 s with a reading
thread).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time


def start(settings_module: str, database_name: str, run: int) -> None:
    """Set Django up in this process on the SQLite file `database_name` (an absolute path), bound to end with the
    run's process `run` (its pid): a run killed with SIGKILL cannot stop its readers itself, and a reader left
    behind would hold the database file open."""
    die_with(run)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ["DATABASE_URL"] = f"sqlite:///{database_name}"
    import django

    django.setup()


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with(parent: int) -> None:
    """End this process when its parent process `parent` (its pid, as the parent knows it) ends.

    On Linux the kernel sends SIGKILL the moment the parent dies (prctl PR_SET_PDEATHSIG; the reader holds nothing
    to clean up: a read transaction, and a scratch file the next run deletes). The signal is tied to the parent's
    thread that started this process: a run's readers are started by the thread that bills, which outlives them.
    If the parent died before the signal was asked for, this process has already been handed to another parent:
    `getppid` tells, and it ends at once. Elsewhere a thread watches `getppid` every second."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(0)

        threading.Thread(target=watch, name="bill-run-reader-watch", daemon=True).start()
    if os.getppid() != parent:
        os._exit(0)


def prepare(*, stage: str | None = None, rows: dict | None = None, **kwargs):
    """`prepare_batch(**kwargs)`: its frames read through this process's ADBC connection, the few
    per-account look-ups through Django's, each connection in one read transaction. The two may see different
    commits; the run throws the batch away if anyone but itself committed after handing it over
    (`_ReadAhead`). With `stage` (a file path) and `rows` (what `run_rows` takes besides the batch),
    the batch's rows are made and written into that file (`stage_rows`)."""
    from django.db import connection

    from gridcounter.application.billrun._drafting import prepare_batch
    from gridcounter.application.billrun._frames import reading_through
    from gridcounter.application.billrun._rows import row_counts, run_rows, stage_rows

    arrow = _arrow_connection()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
    try:
        with reading_through(arrow):
            prepared = prepare_batch(**kwargs)
    finally:
        arrow.rollback()
        with connection.cursor() as cursor:
            cursor.execute("ROLLBACK")
    if stage is not None and rows is not None:
        made = run_rows(bills=prepared.bills, lines=prepared.lines, route_of=prepared.route_of,
                        billing=prepared.billing, **rows)
        stage_rows(stage, made)
        prepared.stage, prepared.stage_path = row_counts(made), stage
    return prepared


_arrow = None


def _arrow_connection():
    """This process's ADBC connection to the run's database (reads only; a transaction from its first read)."""
    global _arrow
    if _arrow is None:
        import adbc_driver_sqlite.dbapi as adbc

        _arrow = adbc.connect(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
        with _arrow.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 30000")  # as Django's connection waits (a WAL being reset)
            cursor.fetchall()
        _arrow.rollback()
    return _arrow
