"""Bills: one as issued (for the ledger and the counter), and what a bill run made, to compare two runs.

The bill run (`billrun.run_bills`) is the use case that makes bills from readings; tests of the bill run and of
billing use it. Tests of the ledger and of the counter screens need a bill of a given amount, status and
explanation instead, so `bill` writes the row directly (posting it stays the ledger's `post_bill`).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection, transaction

from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry
from gridcounter.data.org.models import City
from gridcounter.data.registry.models import Account

AT = datetime(2026, 3, 31, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai, 2026-03-31


def bill(*, account: Account, period: str, amount_fen: int, status: str = Bill.Status.ISSUED,
         kwh=Decimal("100.00"), start: date | None = None, end: date | None = None, issued: date | None = None,
         due: date | None = None, explanation=(), is_estimate: bool = False, tariff: str | None = None,
         created_at: datetime = AT) -> Bill:
    """A bill of `amount_fen` as the bill run would have issued it (direct: see the module's doc). By default it
    covers the calendar month of `period`, is issued on the first day after it and due on the 20th of that month."""
    year, month = (int(p) for p in period.split("-"))
    start = start or date(year, month, 1)
    end = end or date(year + (month == 12), month % 12 + 1, 1)
    issued = issued or end
    return Bill.objects.create(
        account=account, period=period, start_date=start, end_date=end, status=status,
        tariff_id=tariff or account.tariff_id, kwh=Decimal(kwh), amount_fen=amount_fen, is_estimate=is_estimate,
        explanation=list(explanation), issued_date=issued, due_date=due or date(issued.year, issued.month, 20),
        created_at=created_at,
    )


def snapshot(period: str, *, city: City) -> dict:
    """Every live bill of `period` in `city` by account number: amounts, lines, explanation, readings, ledger entry."""
    out = {}
    bills = Bill.objects.filter(period=period, account__city=city).exclude(status="CANCELLED")
    for made in bills.select_related("account").prefetch_related("lines"):
        entry = JournalEntry.objects.filter(idempotency_key=f"bill:{made.pk}").first()
        out[made.account.number] = {
            "status": made.status, "amount_fen": made.amount_fen, "kwh": str(made.kwh), "tariff": made.tariff_id,
            "hold_codes": made.hold_codes, "is_estimate": made.is_estimate,
            "issued": str(made.issued_date), "due": str(made.due_date),
            "explanation": json.loads(json.dumps(made.explanation)),
            "readings": made.readings,
            "shock": (made.facts or {}).get("shock"),
            "lines": [(ln.position, ln.code, ln.description, ln.description_en, str(Decimal(ln.quantity)),
                       ln.unit, str(Decimal(ln.unit_price).normalize()), ln.amount_fen, ln.tier, ln.tou_period,
                       str(ln.segment_start_date), str(ln.segment_end_date)) for ln in made.lines.all()],
            "ledger": None if entry is None else sorted(
                (p.ledger_account, p.account_id, p.amount_fen) for p in entry.postings.all()),
        }
    return out


def rolled_back(run: Callable, *, period: str, city: City, actor: Actor):
    """Run `run()` (a bill run of `period`) as `actor`, take the period's bills of `city`, then roll it all back.

    Returns (what `run` returned, `snapshot` of the bills): what another run of the same city must make."""
    with transaction.atomic():
        with acting_as(actor):
            result = run()
        expected = snapshot(period, city=city)
        transaction.set_rollback(True)
    assert not Bill.objects.filter(period=period, account__city=city).exists()
    return result, expected


def written_rows(period: str) -> dict[str, list[list]]:
    """What a bill run of `period` wrote besides bills and lines, every column, for comparing two runs row for row:
    the period's bill versions, the bills' journal entries, their postings and their audit events."""
    entries = "SELECT id FROM ledger_journalentry WHERE description = 'Bill ' || %s"
    out = {}
    with connection.cursor() as cursor:
        for table, where in (("billing_historicalbill", "period = %s"),
                             ("ledger_journalentry", f"id IN ({entries})"),
                             ("ledger_posting", f"entry_id IN ({entries})"),
                             ("audit_auditevent", "action = 'LEDGER_ENTRY_POSTED' AND object_id IN "
                                                  f"(SELECT CAST(id AS TEXT) FROM ({entries}) e)")):
            cursor.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", [period])
            out[table] = [list(row) for row in cursor.fetchall()]
    return out
