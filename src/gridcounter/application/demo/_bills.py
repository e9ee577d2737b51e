"""Demo step: bill the demo's reading history month by month, up to last month, so bills and usage history exist.

This month, whose readings carry the planted cases, is left for the user's own bill run
(`gridcounter bill-run --period YYYY-MM`, which `scripts/demo` runs): it shows each case caught or explained.
"""
from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from decimal import Decimal

from gridcounter.application.billrun import REFERENCE, RunSummary, run_bills
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import BillRun
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Route
from gridcounter.domain.billing.periods import parse_period, period_of, shift_period

# Bills of the first year of history have no same period last year to compare with, and the summer
# air-conditioning peak would look like bill shock against the spring; the demo bills that year without
# the shock rule (a real start-up would review them instead).
NO_SHOCK_PCT = Decimal(1_000_000)
# Months billed: 13 gives every current bill a same period last year. The per-bill ledger posting makes a
# month of 5,500 accounts take minutes on SQLite until the ledger can post bills in bulk.
MONTHS = int(os.environ.get("GRIDCOUNTER_DEMO_BILL_MONTHS", "13"))


def build(*, as_of: date, stdout) -> None:
    first = Reading.objects.order_by("read_date").values_list("read_date", flat=True).first()
    if first is None:
        stdout.write("bills: no readings yet, nothing to bill")
        return
    current = period_of(as_of)
    last = shift_period(current, months=-1)
    period = max(shift_period(period_of(first), months=1), shift_period(last, months=-(MONTHS - 1)))
    first_period = period
    total = RunSummary(period=f"{first_period}..{last}")
    started = time.monotonic()
    routes = set(Route.objects.filter(accounts__isnull=False).values_list("id", flat=True).distinct())
    with acting_as(Actor(reason="demo bill history", channel="SYSTEM")):
        while period <= last:
            # a period whose every route has a finished run is done (a route's run commits all or nothing):
            # a second `gridcounter demo` leaves it, and its audit log, alone
            finished = set(BillRun.objects.filter(period=period, finished_at__isnull=False)
                           .values_list("route_id", flat=True))
            if routes <= finished:
                period = shift_period(period, months=1)
                continue
            year, month = parse_period(period)
            run_date = date(year, month, 28)
            created_at = datetime(run_date.year, run_date.month, run_date.day, 1, 0, tzinfo=UTC)
            no_last_year = shift_period(period, months=-12) < first_period
            # the reference engine, as the demo has always billed its history (the kernel makes the same bills;
            # its `facts` say which engine drafted them)
            total.add(run_bills(period=period, as_of=run_date, created_at=created_at, engine=REFERENCE,
                                shock_threshold_pct=NO_SHOCK_PCT if no_last_year else None))
            period = shift_period(period, months=1)
    data = total.as_dict()
    hint = f"this month's readings await a bill run: gridcounter bill-run --period {current}"
    if not data["issued"] and not data["held"]:
        stdout.write(f"bills: {data['period']} already billed, nothing to do; {hint}")
        return
    held = ", ".join(f"{code} {n}" for code, n in data["held_by_code"].items()) or "none"
    stdout.write(f"bills: {data['period']}: {data['issued']} issued, {data['held']} held ({held}), "
                 f"{data['not_due']} not due yet, in {time.monotonic() - started:.0f} s; {hint}")
