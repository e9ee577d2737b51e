"""One batch of routes in one transaction: locked, prepared (or taken as read ahead), written, posted, audited."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import polars as pl
from django.db import transaction

from gridcounter.application import billing as per_account
from gridcounter.application import ledger
from gridcounter.application.billrun._drafting import PreparedBatch, draft_frames, prepare_batch
from gridcounter.application.billrun._rows import stamp_text, write_frames, write_redrafts
from gridcounter.application.billrun._summary import KERNEL, RunSummary
from gridcounter.data.audit.events import record_event
from gridcounter.data.billing.models import Bill, BillRun
from gridcounter.data.ledger.models import Payment
from gridcounter.data.registry.models import Account, Route
from gridcounter.domain.billing.periods import (
    billing_period,
    is_due,
)
from gridcounter.domain.tariffs import Catalogue


def run_route(*, route: Route, period: str, as_of: date, created_at: datetime, catalogue: Catalogue,
              due_days: int | None = None, shock_threshold_pct: Decimal | None = None,
              engine: str = KERNEL) -> RunSummary:
    """Bill one route in one transaction (see `run_batch`). Raises: InvalidPeriod."""
    billing = billing_period(period=period, reading_day=route.reading_day)
    if not is_due(billing=billing, as_of=as_of):
        return RunSummary(period=period, engine=engine, routes=1, not_due=Account.objects.filter(
            route=route).exclude(status=Account.Status.PENDING).count())
    return run_batch(routes=[route], period=period, as_of=as_of, created_at=created_at, catalogue=catalogue,
                     due_days=due_days, shock_threshold_pct=shock_threshold_pct, engine=engine)


@ledger.retrying
def run_batch(*, routes: list[Route], period: str, as_of: date, created_at: datetime, catalogue: Catalogue,
              due_days: int | None = None, shock_threshold_pct: Decimal | None = None, engine: str = KERNEL,
              read_ahead: Callable[[], PreparedBatch | None] | None = None) -> RunSummary:
    """Bill a batch of due routes with the same fixed reading day in one transaction.

    The batch is read with one query per table, rated by one `rate_frame`, explained by one `explain_frame`
    (`prepare_batch`; with the REFERENCE engine every account is drafted by the reference rules instead) and
    written with one COPY / executemany per table (`write_batch`), whichever the engine; each route that issues or
    holds a bill (new or re-drafted) gets its BillRun and BILL_RUN event, the others none. `read_ahead()`, called
    once the routes are locked, may give the batch as another process prepared it (`_ReadAhead.take`); None: it is
    prepared here. A batch the database refuses (deadlock, serialization failure) is run again from the start
    (`ledger.retrying`).
    Raises: InvalidPeriod, ledger.Contention.
    """
    started = time.perf_counter()
    due_days, threshold = per_account.run_limits(due_days, shock_threshold_pct)
    with transaction.atomic():
        _lock_routes(routes)
        prepared = read_ahead() if read_ahead is not None else None
        if prepared is None:
            prepared = prepare_batch(routes=routes, period=period, catalogue=catalogue, threshold=threshold,
                                     engine=engine)
        summary = write_batch(prepared, as_of=as_of, created_at=created_at, due_days=due_days, started=started)
    summary.seconds = time.perf_counter() - started
    return summary


def _lock_routes(routes: list[Route]) -> None:
    """One run of a route at a time (and SQLite's write lock): as the per-account run does."""
    list(Route.objects.select_for_update().filter(pk__in=sorted(r.pk for r in routes)).order_by("pk")
         .values_list("pk"))


def write_batch(prepared: PreparedBatch, *, as_of: date, created_at: datetime, due_days: int,
                started: float) -> RunSummary:
    """Write a prepared batch: BillRuns, bills and their rows (`write_frames`), the held bills re-drafted
    (`_redraft_held`, by the same writer), credit applied, shock notices,
    BILL_RUN events (routes that billed nothing keep neither, `_drop_idle_runs`). Inside the caller's transaction,
    with the batch's routes locked; locks their accounts."""
    c = pl.col
    billing, per_route = prepared.billing, prepared.per_route
    period = billing.period
    by_id = {r.pk: r for r in prepared.routes}
    # the routes' accounts before their bills (the ledger's lock order): a payment committed before this sees no
    # bill and is seen below (credit applied); one that comes after waits for the commit and settles the bill
    ledger.lock_route_accounts(sorted(by_id))
    route_of = prepared.route_of
    user = per_account.actor_user()
    runs = BillRun.objects.bulk_create([BillRun(period=period, route=by_id[r], started_at=created_at,
                                                started_by=user, summary={}) for r in sorted(by_id)])
    run_ids = {run.route_id: run.pk for run in runs}
    written = write_frames(bills=prepared.bills, lines=prepared.lines, runs=run_ids, route_of=route_of,
                           billing=billing, as_of=as_of, created_at=created_at, due_days=due_days,
                           staged=prepared.stage)
    route_reason = dict(route_of.select("account_id", "route_id").iter_rows())
    for account_id in prepared.rest:
        s = per_route[route_reason[account_id]]
        s.per_account += 1
        s.per_account_reasons[prepared.reasons[account_id]] += 1
    redrafted = _redraft_held(prepared, runs=run_ids, as_of=as_of, due_days=due_days, created_at=created_at)
    written = pl.concat([written, redrafted.select(written.columns)])
    kernel_ids = list(prepared.kernel_ids)
    counted = written.group_by("route_id").agg(
        issued=(c("status") == "ISSUED").sum(), held=(c("status") != "ISSUED").sum(),
        kernel=c("account_id").is_in(kernel_ids).sum())
    for route_id, issued, held, kernel in counted.iter_rows():
        s = per_route[route_id]
        s.issued, s.held, s.kernel = s.issued + issued, s.held + held, s.kernel + kernel
    for route_id, hold_codes in written.filter(c("status") != "ISSUED").select("route_id", "hold_codes").iter_rows():
        per_route[route_id].held_by_code.update(json.loads(hold_codes))
    _after_posting(route_ids=sorted(by_id), issued=written.filter(c("status") == "ISSUED")["account_id"].to_list(),
                   shocked=written.filter(c("is_shock"))["account_id"].to_list(),
                   streaks=written.filter(c("hold_codes").str.contains('"ESTIMATE_STREAK"', literal=True))
                   ["account_id"].to_list(),
                   period=period, as_of=as_of, created_at=created_at)
    seconds = time.perf_counter() - started
    runs = _drop_idle_runs(runs, per_route=per_route)
    for run in runs:
        s = per_route[run.route_id]
        s.seconds = seconds * (s.issued + s.held) / max(1, written.height)
        run.finished_at = created_at
        run.summary = s.as_dict()
    BillRun.objects.bulk_update(runs, ["finished_at", "summary"])
    for run in runs:
        record_event(action="BILL_RUN", obj=run, occurred_at=created_at,
                     detail={"route": by_id[run.route_id].code, **per_route[run.route_id].as_dict(),
                             "start_date": billing.start_date.isoformat(), "end_date": billing.end_date.isoformat()})
    summary = RunSummary(period=period, engine=prepared.engine)
    for s in per_route.values():
        summary.add(s)
    summary.explained_one_by_one = prepared.explained_one_by_one
    summary.reference_checked = prepared.check.accounts
    summary.reference_seconds = prepared.check.seconds
    return summary


def _drop_idle_runs(runs: list[BillRun], *, per_route: dict[int, RunSummary]) -> list[BillRun]:
    """The runs of the routes that billed something; the others are deleted (in the batch's transaction, before
    anyone sees them): a rerun that finds every account billed and its held bills unchanged leaves no BillRun and
    no BILL_RUN event behind, only its summary's count of accounts skipped. The records are made before the
    bills because the bills refer to them."""
    idle = {run.pk for run in runs if per_route[run.route_id].issued + per_route[run.route_id].held == 0}
    if idle:
        BillRun.objects.filter(pk__in=idle).delete()
    return [run for run in runs if run.pk not in idle]


def _redraft_held(prepared: PreparedBatch, *, runs: dict[int, int], as_of: date, due_days: int,
                  created_at: datetime) -> pl.DataFrame:
    """The batch's bills held before the run, re-validated against their drafts: a bill whose draft has the same
    outcome (`billing.same_outcome`) stays as it is and counts as skipped; the others are written again in place,
    on their route's run (`runs`: route id to BillRun id), by the batch writer (`write_redrafts`), those now issued
    posted. Returns the bills written (as `write_frames` does)."""
    held = list(Bill.objects.filter(account_id__in=list(prepared.held), period=prepared.billing.period,
                                    status=Bill.Status.HELD).select_related("account")) if prepared.held else []
    changed = []
    for bill in held:
        if per_account.same_outcome(bill, prepared.held[bill.account_id]):
            prepared.per_route[bill.account.route_id].skipped += 1
        else:
            changed.append(bill)
    bills, lines = draft_frames([prepared.held[b.account_id] for b in changed])
    kept = pl.DataFrame([(b.account_id, b.pk, stamp_text(b.created_at), b.replaces_id) for b in changed],
                        schema={"account_id": pl.Int64, "id": pl.Int64, "created_at": pl.String,
                                "replaces_id": pl.Int64}, orient="row")
    return write_redrafts(bills=bills, lines=lines, kept=kept, runs=runs, route_of=prepared.route_of,
                          billing=prepared.billing, as_of=as_of, created_at=created_at, due_days=due_days)


def _after_posting(*, route_ids: list[int], issued: list[int], shocked: list[int], streaks: list[int], period: str,
                   as_of: date, created_at: datetime) -> None:
    """What the per-account run does per written bill besides the entry: credit applied, shock notified, an
    on-site reading ordered for a bill held on ESTIMATE_STREAK."""
    # one look-up for the batch's payers first (most accounts hold no posted payment), then the exact test
    payers = set(Payment.objects.filter(account__route_id__in=route_ids, status=Payment.Status.POSTED)
                 .values_list("account_id", flat=True).distinct()) if issued else set()
    candidates = [a for a in issued if a in payers]
    with_credit = ledger.accounts_with_credit(candidates) if candidates else set()
    for account in Account.objects.filter(id__in=sorted(with_credit)):
        ledger.apply_credit(account=account, created_at=created_at)
    bills = []
    for start in range(0, len(shocked), 1000):
        bills += list(Bill.objects.filter(account_id__in=shocked[start:start + 1000], period=period).exclude(
            status=Bill.Status.CANCELLED).select_related("account", "account__customer"))
    per_account.notify_bill_shocks(bills=bills, created_at=created_at)
    if streaks:
        per_account.order_estimate_streak_visits(
            bills=Bill.objects.filter(account_id__in=streaks, period=period).exclude(
                status=Bill.Status.CANCELLED).select_related("account"), as_of=as_of, created_at=created_at)
