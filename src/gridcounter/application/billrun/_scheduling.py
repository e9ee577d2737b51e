"""A whole run: batches of whole routes, one after another, on threads, or with the next read ahead on SQLite."""
from __future__ import annotations

import contextvars
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Count

from gridcounter.application import billing as per_account
from gridcounter.application.billrun import _reader
from gridcounter.application.billrun._batch import run_batch
from gridcounter.application.billrun._drafting import PreparedBatch
from gridcounter.application.billrun._rows import STAGE, RowActor
from gridcounter.application.billrun._summary import KERNEL, RunSummary
from gridcounter.application.tariffs import get_catalogue
from gridcounter.data.registry.models import Account, Route
from gridcounter.domain.billing.periods import (
    billing_period,
    is_due,
    parse_period,
)
from gridcounter.domain.tariffs import Catalogue

logger = logging.getLogger(__name__)


BATCH_ACCOUNTS = 20_000  # accounts per transaction (whole routes of one fixed reading day)


def plan_batches(*, period: str, as_of: date, route_codes: list[str] | None = None,
                 batch_accounts: int = BATCH_ACCOUNTS) -> tuple[list[list[Route]], int]:
    """Due routes in batches (whole routes with the same fixed reading day, about `batch_accounts` accounts each),
    and the number of accounts on routes not yet due. Raises: billing.UnknownRoute."""
    routes = Route.objects.order_by("code")
    if route_codes is not None:
        routes = routes.filter(code__in=route_codes)
        missing = set(route_codes) - set(routes.values_list("code", flat=True))
        if missing:
            raise per_account.UnknownRoute(f"no reading route {sorted(missing)[0]!r}")
    sizes = dict(Account.objects.exclude(status=Account.Status.PENDING).filter(route__in=routes)
                 .values("route_id").annotate(n=Count("id")).values_list("route_id", "n"))
    by_day: dict[int, list[Route]] = defaultdict(list)
    not_due = 0
    for route in routes:
        if not is_due(billing=billing_period(period=period, reading_day=route.reading_day), as_of=as_of):
            not_due += sizes.get(route.pk, 0)
        else:
            by_day[route.reading_day].append(route)
    batches: list[list[Route]] = []
    for day in sorted(by_day):
        batch, size = [], 0
        for route in by_day[day]:
            if batch and size + sizes.get(route.pk, 0) > batch_accounts:
                batches.append(batch)
                batch, size = [], 0
            batch.append(route)
            size += sizes.get(route.pk, 0)
        if batch:
            batches.append(batch)
    return batches, not_due


def default_threads() -> int:
    """Batches one process bills at once: two on PostgreSQL with two cores or more, so that one batch's Python
    work (reading frames, rating, explaining, writing CSV) runs while the database works on another's rows; one on
    SQLite (a single writer) and inside an open transaction (another connection would not see its rows)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return min(2, os.cpu_count() or 1)


def run_bills(*, period: str, as_of: date, created_at: datetime, route_code: str | None = None,
                   route_codes: list[str] | None = None, catalogue: Catalogue | None = None,
                   due_days: int | None = None, shock_threshold_pct: Decimal | None = None,
                   batch_accounts: int = BATCH_ACCOUNTS, threads: int | None = None,
                   read_ahead: bool | None = None, progress: Callable[[int], None] | None = None,
                   engine: str = KERNEL) -> RunSummary:
    """Bill every due route (or those named) for `period` with `engine`: KERNEL (the vectorised engine) or
    REFERENCE (every account drafted by the reference rules), which make the same bills.

    Routes go in batches of whole routes with the same fixed reading day (about `batch_accounts` accounts),
    each batch in one transaction: a crash loses at most the batches in flight, and a rerun bills exactly the
    accounts that have no live bill yet (the unique constraint `bill_one_live_per_period` is the last guard).
    `threads` batches run at once, each on its own connection (default: `default_threads()`); batches hold
    different routes, so their transactions touch different rows. On one thread, `read_ahead` (default:
    `can_read_ahead()`, a SQLite file) reads, rates and stages the next batches in reading processes while this
    one writes (`_run_reading_ahead`). `progress(n)` is called with the accounts not due, then with the accounts done
    (billed or skipped) per batch.

    Raises: InvalidPeriod, billing.UnknownRoute, CatalogueError.
    """
    started = time.perf_counter()
    parse_period(period)
    if route_code:
        route_codes = [route_code]
    catalogue = catalogue or get_catalogue()
    batches, not_due = plan_batches(period=period, as_of=as_of, route_codes=route_codes,
                                    batch_accounts=batch_accounts)
    summary = RunSummary(period=period, engine=engine, not_due=not_due)
    if progress and not_due:
        progress(not_due)
    threads = default_threads() if threads is None else threads
    if threads > 1 and connection.in_atomic_block:
        raise ValueError("a bill run on several threads commits batch by batch: call it outside a transaction")

    def bill(batch: list[Route]) -> RunSummary:
        return run_batch(routes=batch, period=period, as_of=as_of, created_at=created_at, catalogue=catalogue,
                         due_days=due_days, shock_threshold_pct=shock_threshold_pct, engine=engine)

    def done(result: RunSummary) -> None:
        summary.add(result)
        if progress:
            progress(result.issued + result.held + result.skipped)

    if threads <= 1 and len(batches) > 1 and (can_read_ahead() if read_ahead is None else read_ahead):
        _run_reading_ahead(batches, period=period, as_of=as_of, created_at=created_at, catalogue=catalogue,
                           due_days=due_days, shock_threshold_pct=shock_threshold_pct, done=done, engine=engine)
        summary.seconds = time.perf_counter() - started
        return summary
    if threads <= 1 or len(batches) <= 1:
        for batch in batches:
            done(bill(batch))
        summary.seconds = time.perf_counter() - started  # the run's wall time, planning included
        return summary

    def in_thread(batch: list[Route]) -> RunSummary:
        try:
            return bill(batch)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bill-run") as pool:
        # each batch runs in a copy of the caller's context: the acting user, hall and reason of the run
        futures = [pool.submit(contextvars.copy_context().run, in_thread, batch) for batch in batches]
        try:
            for future in as_completed(futures):
                done(future.result())
        except BaseException:
            for future in futures:
                future.cancel()  # batches not started yet; those running finish (or roll back) on their own
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def can_read_ahead() -> bool:
    """Whether a one-thread run can read the next batch while writing one: SQLite in a file in WAL mode (readers
    see the last commit while a writer works), outside a transaction (another connection would not see its rows).
    PostgreSQL overlaps batches with threads instead (`default_threads`)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block or connection.is_in_memory_db():
        return False
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        return str(cursor.fetchone()[0]).lower() == "wal"


def _data_version() -> int:
    """SQLite's count of commits made by other connections, as this connection last saw it."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA data_version")
        return cursor.fetchone()[0]


READERS = 2  # reading processes of a SQLite run: batches read ahead at once


def _run_reading_ahead(batches: list[list[Route]], *, period: str, as_of: date, created_at: datetime,
                       catalogue: Catalogue, due_days: int | None, shock_threshold_pct: Decimal | None,
                       done: Callable[[RunSummary], None], readers: int = READERS, engine: str = KERNEL) -> None:
    """Bill batches one after another on this connection while reading processes read, rate and stage the next.

    SQLite has one writer, but in WAL mode a reader sees the last commit while the writer works, so the next
    batches' reading, rating and explaining overlap this batch's writes and commit. A reading process reads
    through ADBC (Arrow columns, no Python object per value), makes the batch's rows (`run_rows`) and writes them
    into a scratch SQLite file next to the database (its disk holds those rows anyway), again through ADBC
    (`stage_rows`); this connection attaches that file before the batch's transaction and copies the rows with
    one INSERT … SELECT per table, adding the ids it allocates (`insert_staged`): no Python call per row on the
    writing side. Each batch is still billed by `run_batch`, in one transaction with its routes locked;
    `_ReadAhead.take` gives it the batch as read ahead. `readers` processes are started once per run, each
    reading every other batch: reading a batch costs about as much as writing one, and the writer's waits leave
    a core free.
    """
    due_days, threshold = per_account.run_limits(due_days, shock_threshold_pct)
    work = {"period": period, "catalogue": catalogue, "threshold": threshold, "engine": engine}
    rows = {"as_of": as_of, "created_at": created_at, "due_days": due_days, "actor": RowActor.current()}
    database = str(Path(connection.settings_dict["NAME"]).resolve())
    _remove_stale_scratch(Path(database).parent)
    # the readers are started (on the first hand-over) by this thread, which outlives them: they die with it
    started_by = (settings.SETTINGS_MODULE, database, os.getpid())
    with ProcessPoolExecutor(max_workers=readers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_reader.start, initargs=started_by) as pool, \
            tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=Path(database).parent) as scratch:
        reader = _ReadAhead(pool=pool, batches=batches, depth=readers, work=work, rows=rows, scratch=scratch)
        try:
            for i, batch in enumerate(batches):
                reader.attach(i)
                try:
                    done(run_batch(routes=batch, period=period, as_of=as_of, created_at=created_at,
                                   catalogue=catalogue, due_days=due_days, shock_threshold_pct=threshold,
                                   engine=engine, read_ahead=lambda i=i: reader.take(i)))
                finally:
                    reader.detach()
        finally:
            reader.cancel()


SCRATCH_PREFIX = ".bill-run-"  # next to the database: <prefix><pid of the run>-<random>/batch-<n>.sqlite3


def _remove_stale_scratch(folder: Path) -> None:
    """Delete the scratch folders of runs that ended without cleaning up (a run killed with SIGKILL)."""
    for path in folder.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = path.name.removeprefix(SCRATCH_PREFIX).split("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


class _ReadAhead:
    """The batches handed to the reading processes, and the one read ahead for the next transaction.

    Batches are handed over inside a batch's transaction: while this connection holds the write lock nobody else
    commits, so the reads see the database as this batch found it, or later. When a batch's own transaction
    begins, `PRAGMA data_version` tells whether another connection has committed since it was handed over (a
    clerk's reading or payment, another run); if so, what was read ahead (and staged) is thrown away and the batch
    is read again under its own lock and written from here. This connection's own commits (batches, held bills
    re-validated) touch other routes. If a reading process dies, the run goes on without reading ahead, each batch
    read under its own lock.

    A staged batch's file is attached before its transaction begins (SQLite attaches outside transactions) and
    detached and deleted after it ends; each batch has its own file.
    """

    def __init__(self, *, pool: ProcessPoolExecutor, batches: list[list[Route]], depth: int, work: dict, rows: dict,
                 scratch: str) -> None:
        self.pool: ProcessPoolExecutor | None = pool
        self.batches = batches
        self.depth = depth
        self.work = work
        self.rows = rows
        self.scratch = scratch
        self.handed = 1  # the next batch to hand over (the first is read by the run itself)
        self.ahead: dict[int, tuple] = {}  # batch index: (future, data_version when handed over)
        self.ready: PreparedBatch | None = None  # the batch read ahead, for the next transaction
        self.version: int | None = None  # data_version when it was handed over
        self.attached: str | None = None

    def _stopped(self) -> None:
        # a reading process died (killed, out of memory): the run goes on reading each batch itself
        logger.warning("bill run %s: a reading process stopped; the run goes on without reading ahead",
                       self.work["period"])
        self.pool = None
        # batches already read ahead are still billed from what was read; the others are read here
        self.ahead = {i: (future, version) for i, (future, version) in self.ahead.items()
                      if future.done() and not future.cancelled() and future.exception() is None}

    def attach(self, index: int) -> None:
        """Before batch `index`'s transaction: wait for it to be read ahead, and attach the file it was staged in."""
        if index not in self.ahead:
            return
        future, self.version = self.ahead.pop(index)
        try:
            self.ready = future.result()
        except BrokenProcessPool:
            self.ready = None
            self._stopped()
            return
        except Exception:  # the reading process failed on this batch (a full disk, …): it is read here
            logger.exception("bill run %s: reading batch %s ahead failed; it is read by the run itself",
                             self.work["period"], index)
            self.ready = None
            return
        if self.ready.stage_path:
            with connection.cursor() as cursor:
                cursor.execute(f"ATTACH DATABASE %s AS {STAGE}", [self.ready.stage_path])
            self.attached = self.ready.stage_path

    def detach(self) -> None:
        """After the batch's transaction: detach its stage and delete it."""
        self.ready = None
        if self.attached:
            with connection.cursor() as cursor:
                cursor.execute(f"DETACH DATABASE {STAGE}")
            Path(self.attached).unlink(missing_ok=True)
            self.attached = None

    def take(self, index: int) -> PreparedBatch | None:
        """Inside batch `index`'s transaction, its routes locked: the batch as read ahead (None: read it here),
        after handing the batches up to `depth` ahead to the reading processes."""
        version = _data_version()
        prepared = self.ready
        fresh = prepared is not None and version == self.version  # nobody else committed after the handover
        while self.pool is not None and self.handed <= min(index + self.depth, len(self.batches) - 1):
            stage = str(Path(self.scratch) / f"batch-{self.handed}.sqlite3")
            try:
                future = self.pool.submit(_reader.prepare, routes=self.batches[self.handed], stage=stage,
                                          rows=self.rows, **self.work)
            except BrokenProcessPool:
                self._stopped()
                break
            self.ahead[self.handed] = (future, version)
            self.handed += 1
        return prepared if fresh else None

    def cancel(self) -> None:
        for future, _ in self.ahead.values():
            future.cancel()
