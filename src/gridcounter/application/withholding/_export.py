"""A withholding batch for one bank and city: each active mandate's open bills, one line per account, stored so
that the bank's results can be reconciled, and written as the documented CSV (docs/collections.md)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from gridcounter.application.withholding._banks import bank_rules
from gridcounter.data.audit.events import record_event
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import PaymentAllocation
from gridcounter.data.org.models import City
from gridcounter.data.withholding.models import Mandate, WithholdingBatch, WithholdingLine
from gridcounter.domain.ledger import format_fen
from gridcounter.domain.withholding import EXPORT_COLUMNS, line_reference


class ExportRefused(ValueError):
    """No batch was made: an unknown bank, or another export of the same bank and day at the same moment."""


@dataclass(frozen=True)
class ExportResult:
    batch: WithholdingBatch | None  # None: no account had anything to collect
    skipped_pending: int  # accounts left out because a batch sent earlier still awaits their result


def outstanding_by_account(*, account_ids, as_of: date) -> dict[int, int]:
    """What each account's open bills issued on or before ``as_of`` still ask, in fen (open_bills' rule, for many
    accounts at once: the bill's amount less its live allocations)."""
    bills = dict(Bill.objects.filter(account_id__in=account_ids, status=Bill.Status.ISSUED, issued_date__lte=as_of)
                 .values_list("pk", "amount_fen"))
    paid = dict(PaymentAllocation.objects.filter(bill_id__in=bills, released_at__isnull=True)
                .values_list("bill_id").annotate(total=Sum("amount_fen")).values_list("bill_id", "total"))
    owners = dict(Bill.objects.filter(pk__in=bills).values_list("pk", "account_id"))
    totals: dict[int, int] = {}
    for bill_id, amount in bills.items():
        left = amount - int(paid.get(bill_id, 0))
        if left > 0:
            totals[owners[bill_id]] = totals.get(owners[bill_id], 0) + left
    return totals


def _next_number(*, bank_code: str, as_of: date) -> str:
    made = WithholdingBatch.objects.filter(bank_code=bank_code, as_of_date=as_of).count()
    return f"{bank_code}{as_of:%Y%m%d}{made + 1:03d}"


def export_batch(*, bank_code: str, city: City, as_of: date, created_at: datetime, user=None) -> ExportResult:
    """Make the batch of ``bank_code`` for ``city``: for each active mandate of that bank whose account is not in a
    batch still awaiting results, the account's open bills issued by ``as_of``. Accounts owing nothing are left
    out. Audited (WITHHOLDING_BATCH_EXPORTED). Raises ExportRefused."""
    if bank_code not in bank_rules().banks:
        raise ExportRefused(_("No bank %(code)s in the bank rules (rules/banks.toml).") % {"code": bank_code})
    try:
        with transaction.atomic():
            mandates = list(Mandate.objects.select_related("account").filter(
                bank_code=bank_code, status=Mandate.Status.ACTIVE, account__city=city).order_by("account__number"))
            pending = set(WithholdingLine.objects.filter(account_id__in=[m.account_id for m in mandates],
                                                         state=WithholdingLine.State.PENDING)
                          .values_list("account_id", flat=True))
            owed = outstanding_by_account(account_ids=[m.account_id for m in mandates if m.account_id not in pending],
                                          as_of=as_of)
            chosen = [m for m in mandates if owed.get(m.account_id, 0) > 0]
            if not chosen:
                return ExportResult(batch=None, skipped_pending=len(pending))
            batch = WithholdingBatch.objects.create(
                number=_next_number(bank_code=bank_code, as_of=as_of), bank_code=bank_code, city=city,
                as_of_date=as_of, created_at=created_at, created_by=user, line_count=len(chosen),
                total_fen=sum(owed[m.account_id] for m in chosen))
            WithholdingLine.objects.bulk_create([
                WithholdingLine(batch=batch, line=index, account_id=m.account_id, mandate=m,
                                amount_fen=owed[m.account_id])
                for index, m in enumerate(chosen, start=1)])
            record_event(action="WITHHOLDING_BATCH_EXPORTED", obj=batch, occurred_at=created_at, user=user,
                         detail={"bank": bank_code, "city": city.code, "as_of": as_of.isoformat(),
                                 "lines": batch.line_count, "total_fen": batch.total_fen,
                                 "skipped_pending": len(pending)})
    except IntegrityError:
        raise ExportRefused(_("Another export of %(code)s ran at the same moment; run this one again.") % {
            "code": bank_code}) from None
    return ExportResult(batch=batch, skipped_pending=len(pending))


def batch_csv(batch: WithholdingBatch) -> str:
    """The batch as the bank reads it: UTF-8 CSV, header EXPORT_COLUMNS, amounts in yuan with 2 decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for line in batch.lines.select_related("account", "mandate").order_by("line"):
        writer.writerow([batch.number, line.line, line.account.number, line.mandate.holder_name,
                         line.mandate.bank_account, format_fen(line.amount_fen),
                         line_reference(batch=batch.number, line=line.line)])
    return out.getvalue()
