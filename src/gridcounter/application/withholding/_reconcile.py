"""Reconciling a withholding batch: every line is exactly one of collected (with its receipt), failed (with the
bank's reason) or pending (no result yet), and the totals of the three add up to the batch's total."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Sum

from gridcounter.data.withholding.models import WithholdingBatch, WithholdingLine
from gridcounter.domain.ledger import format_fen

STATES = (WithholdingLine.State.SUCCEEDED, WithholdingLine.State.FAILED, WithholdingLine.State.PENDING)


class BatchUnknown(LookupError):
    """No withholding batch of that number (or not one the user may see)."""


@dataclass(frozen=True)
class Reconciliation:
    batch: WithholdingBatch
    lines: list[WithholdingLine]
    counts: dict[str, int]  # state -> lines
    totals_fen: dict[str, int]  # state -> fen

    @property
    def closed(self) -> bool:
        return self.counts[WithholdingLine.State.PENDING] == 0

    @property
    def balanced(self) -> bool:
        """Every line in one state, and the states' totals add up to the batch's."""
        return (sum(self.counts.values()) == self.batch.line_count
                and sum(self.totals_fen.values()) == self.batch.total_fen)

    def as_dict(self) -> dict:
        b = self.batch
        return {
            "batch": b.number, "bank": b.bank_code, "city": b.city.code, "as_of": b.as_of_date.isoformat(),
            "lines": b.line_count, "total": format_fen(b.total_fen), "closed": self.closed,
            "balanced": self.balanced,
            "states": {state.value: {"lines": self.counts[state], "total": format_fen(self.totals_fen[state])}
                       for state in STATES},
            "items": [{"line": line.line, "account": line.account.number, "amount": format_fen(line.amount_fen),
                       "state": line.state, "result": line.result_code, "message": line.result_message,
                       "transaction": line.bank_transaction,
                       "receipt": line.payment.receipt_number if line.payment_id else None}
                      for line in self.lines],
        }


def batches_of(*, city_ids=None):
    """The batches, newest first (of ``city_ids`` when given)."""
    batches = WithholdingBatch.objects.select_related("city")
    return batches if city_ids is None else batches.filter(city_id__in=city_ids)


def reconcile(batch: WithholdingBatch) -> Reconciliation:
    lines = list(batch.lines.select_related("account", "payment").order_by("line"))
    rows = {row["state"]: row for row in batch.lines.values("state").annotate(n=Count("id"), fen=Sum("amount_fen"))
            .order_by()}
    return Reconciliation(batch=batch, lines=lines,
                          counts={s: int(rows.get(s, {}).get("n") or 0) for s in STATES},
                          totals_fen={s: int(rows.get(s, {}).get("fen") or 0) for s in STATES})


def find_batch(number: str, *, city_ids=None) -> WithholdingBatch:
    """Raises BatchUnknown."""
    batch = batches_of(city_ids=city_ids).filter(number=(number or "").strip()).first()
    if batch is None:
        raise BatchUnknown(number)
    return batch
