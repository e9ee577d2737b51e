"""The kernel bill run on a Dask distributed cluster: each worker reads and writes its own routes.

The submitting process plans the batches (whole due routes of one fixed reading day, `plan_batches`)
and sends each worker task only route codes, the period, the dates, the acting user and the settings
(DJANGO_SETTINGS_MODULE and DATABASE_URL, passed explicitly). The task sets Django up in the worker process
(once per process), bills its routes with `run_bills` — reading and writing the database
itself, one transaction per batch — and returns only the summary as a dict.

Workers must have the same package installed and reach the same database. SQLite is refused: its single
writer would serialise the workers (and a file on one machine cannot be shared by a real cluster).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connection

# Nothing here imports a Django model at module level: a worker unpickles `_bill_routes` (and so imports this
# module) before the task has set Django up.
__all__ = ["ClusterNeedsSharedDatabase", "run_bills_cluster"]


class ClusterNeedsSharedDatabase(Exception):
    """The cluster run needs a database every worker can reach and write concurrently (PostgreSQL)."""


@dataclass(frozen=True)
class _Task:
    route_codes: tuple[str, ...]
    period: str
    as_of: date
    created_at: datetime
    settings_module: str
    database_url: str
    username: str | None
    actor_name: str
    hall_id: int | None
    reason: str
    channel: str
    batch_accounts: int
    due_days: int | None = None
    shock_threshold_pct: str | None = None


def _bill_routes(task: _Task) -> dict:
    """Runs in a Dask worker: set Django up (once per process), bill the routes, return the summary."""
    os.environ["DJANGO_SETTINGS_MODULE"] = task.settings_module
    os.environ["DATABASE_URL"] = task.database_url
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from django.db import close_old_connections

    from gridcounter.application.billrun._scheduling import run_bills
    from gridcounter.data.audit.context import Actor, acting_as
    from gridcounter.data.org.models import Hall, StaffUser

    close_old_connections()
    user = StaffUser.objects.filter(username=task.username).first() if task.username else None
    hall = Hall.objects.filter(pk=task.hall_id).first() if task.hall_id else None
    with acting_as(Actor(user=user, hall=hall, reason=task.reason, channel=task.channel, name=task.actor_name)):
        summary = run_bills(period=task.period, as_of=task.as_of, created_at=task.created_at,
                                      route_codes=list(task.route_codes), batch_accounts=task.batch_accounts,
                                      threads=1,  # the cluster's workers are its parallelism
                                      due_days=task.due_days,
                                      shock_threshold_pct=None if task.shock_threshold_pct is None
                                      else Decimal(task.shock_threshold_pct))
    import resource

    out = summary.as_dict()
    out["worker_pid"] = os.getpid()
    out["worker_peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def _database_url() -> str:
    """The URL of the database this process is connected to (under tests: the test database)."""
    if connection.vendor != "postgresql":
        raise ClusterNeedsSharedDatabase(
            "the cluster bill run needs DATABASE_URL naming a PostgreSQL database every worker can reach")
    from urllib.parse import quote

    s = connection.settings_dict
    auth = quote(s.get("USER") or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(s['NAME'])}"


def run_bills_cluster(*, period: str, as_of: date, created_at: datetime, scheduler_address: str | None = None,
                      workers: int | None = None, route_codes: list[str] | None = None,
                      batch_accounts: int | None = None, tasks_per_worker: int = 4,
                      due_days: int | None = None, shock_threshold_pct: Decimal | None = None,
                      progress: Callable[[int], None] | None = None) -> dict:
    """Bill the due routes for `period` on a Dask cluster; returns the combined summary (as_dict) plus `workers`.

    `scheduler_address` (tcp://HOST:PORT) connects a Client to a running cluster; otherwise `workers` (default
    2) starts a LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) for the run. Routes are
    split into about `tasks_per_worker` tasks per worker, each holding whole batches (one reading day).
    `progress(n)` is called with the accounts not due, then with the accounts done as each task finishes.

    Raises: ClusterNeedsSharedDatabase, InvalidPeriod, billing.UnknownRoute.
    """
    from distributed import Client, LocalCluster, as_completed

    from gridcounter.application.billrun._scheduling import BATCH_ACCOUNTS, plan_batches
    from gridcounter.data.audit.context import current_actor

    started = time.perf_counter()
    batch_accounts = batch_accounts or BATCH_ACCOUNTS

    database_url = _database_url()
    batches, not_due = plan_batches(period=period, as_of=as_of, route_codes=route_codes,
                                                 batch_accounts=batch_accounts)
    actor = current_actor()
    cluster = None
    if scheduler_address:
        client = Client(scheduler_address)
    else:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        n_tasks = max(1, min(len(batches), n_workers * tasks_per_worker))
        groups: list[list[str]] = [[] for _ in range(n_tasks)]
        for i, batch in enumerate(batches):  # whole batches to a task, round robin
            groups[i % n_tasks].extend(route.code for route in batch)
        tasks = [_Task(route_codes=tuple(codes), period=period, as_of=as_of, created_at=created_at,
                       settings_module=os.environ.get("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings"),
                       database_url=database_url, username=getattr(actor.user, "username", None),
                       actor_name=actor.name,
                       hall_id=actor.hall_id, reason=actor.reason or "bill run", channel=actor.channel,
                       batch_accounts=batch_accounts, due_days=due_days,
                       shock_threshold_pct=None if shock_threshold_pct is None else str(shock_threshold_pct))
                 for codes in groups if codes]
        if progress and not_due:
            progress(not_due)
        futures = client.map(_bill_routes, tasks, pure=False)
        results = []
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            if progress:
                progress(result["issued"] + result["held"] + result["skipped"])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    total = {"period": period, "engine": "kernel", "routes": 0, "issued": 0, "held": 0, "skipped": 0,
             "not_due": not_due, "kernel": 0, "per_account": 0, "explained_one_by_one": 0, "reference_checked": 0,
             "reference_seconds": 0.0, "per_account_reasons": {},
             "held_by_code": {}, "seconds": 0.0, "workers": n_workers, "tasks": len(tasks),
             "worker_pids": sorted({r["worker_pid"] for r in results}),
             "worker_peak_mib": max((r["worker_peak_mib"] for r in results), default=0)}
    for r in results:
        for key in ("routes", "issued", "held", "skipped", "kernel", "per_account", "explained_one_by_one",
                    "reference_checked", "reference_seconds", "seconds"):
            total[key] += r[key]
        for key in ("per_account_reasons", "held_by_code"):
            for code, n in r[key].items():
                total[key][code] = total[key].get(code, 0) + n
    total["seconds"] = round(time.perf_counter() - started, 3)  # the run's wall time, not the tasks' sum
    return total
