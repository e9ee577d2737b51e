"""A bank's result file: each line's success posted once through the one payment use case, each failure recorded
and told to the customer, each line we cannot match named (line, column, reason) and kept, never posted.

The file is an import like the others (application.batches): committed in chunks with its counts, a stopped import
continued by importing the same file again, a finished one imported again changing nothing. Posting is idempotent
on its own as well: the payment's key is the batch and line (domain.withholding.line_key)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext as _

from gridcounter.application.batches import ChunkCounts, Progress, finish_batch, open_batch, run_chunks
from gridcounter.application.cells import printable, shown
from gridcounter.application.ledger import take_payment
from gridcounter.application.notices import NoticeText, queue_notices
from gridcounter.application.tabular import Row, open_tabular
from gridcounter.application.withholding._banks import bank_rules
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.imports.models import ImportBatch
from gridcounter.data.ledger.models import Payment
from gridcounter.data.withholding.models import WithholdingBatch, WithholdingLine
from gridcounter.domain.ledger import InvalidAmount, format_fen, parse_yuan_amount
from gridcounter.domain.notices import notice_text
from gridcounter.domain.withholding import (
    MESSAGE_MAX_LENGTH,
    RESULT_COLUMNS,
    TRANSACTION_MAX_LENGTH,
    BankRules,
    line_key,
)

OPTIONAL_COLUMNS = ("message",)
CHUNK_ROWS = 200
TRANSACTION_TEXT = re.compile(rf"[A-Za-z0-9_.:/-]{{1,{TRANSACTION_MAX_LENGTH}}}")


@dataclass
class ResultsReport:
    file_name: str
    rows: int
    succeeded: int
    failed: int
    unchanged: int
    rejected: int
    posted_fen: int
    rejected_rows: list[dict] = field(default_factory=list)
    batches_closed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"file": self.file_name, "rows": self.rows, "succeeded": self.succeeded, "failed": self.failed,
                "unchanged": self.unchanged, "rejected": self.rejected, "posted": format_fen(self.posted_fen),
                "rejected_rows": self.rejected_rows, "batches_closed": self.batches_closed}


class _Unmatched(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(reason)
        self.column = column
        self.reason = reason


def import_results(*, path: str, now: datetime, user=None, chunk_rows: int = CHUNK_ROWS,
                   progress: Progress | None = None) -> ResultsReport:
    """Import the bank's result file at ``path`` (docs/collections.md); results are recorded as of ``now``.
    Raises TabularFileError (unreadable: missing, empty, not UTF-8, a required column missing)."""
    table = open_tabular(path, required=[c for c in RESULT_COLUMNS if c not in OPTIONAL_COLUMNS])
    rules = bank_rules()
    batch, _continued = open_batch(kind=ImportBatch.Kind.WITHHOLDING_RESULTS, table=table, imported_at=now,
                                   user=user)
    touched: set[int] = set()

    def do_chunk(rows: list[Row], counts: ChunkCounts) -> None:
        for row in rows:
            try:
                outcome, amount_fen = _record(row, rules=rules, file=batch, now=now, user=user, touched=touched)
            except _Unmatched as unmatched:
                counts.reject(row, unmatched.column, unmatched.reason)
                continue
            counts.count("CREATED" if outcome != "UNCHANGED" else "UNCHANGED")
            if outcome == "SUCCEEDED":
                counts.tally("succeeded")
                counts.tally("posted_fen", amount_fen)
            elif outcome == "FAILED":
                counts.tally("failed")
        closed = _close_finished(touched, now=now)
        if closed:
            counts.tally("batches_closed", len(closed))

    run_chunks(batch=batch, table=table, size=chunk_rows, progress=progress, do_chunk=do_chunk)
    done = finish_batch(batch)
    tallies = done.tallies or {}
    closed = list(WithholdingBatch.objects.filter(pk__in=touched, closed_at__isnull=False)
                  .values_list("number", flat=True))
    return ResultsReport(
        file_name=done.file_name, rows=done.rows_total, succeeded=tallies.get("succeeded", 0),
        failed=tallies.get("failed", 0), unchanged=done.rows_unchanged, rejected=done.rows_rejected,
        posted_fen=tallies.get("posted_fen", 0), batches_closed=sorted(closed),
        rejected_rows=[{"line": r.line, "column": r.column, "reason": r.reason}
                       for r in done.rejected_rows.order_by("line")[:1000]])


def _match(row: Row) -> tuple[WithholdingLine, int, str, str, str]:
    """The batch line a result row answers, with its amount (fen), code, message and transaction, or _Unmatched."""
    values = row.values
    number = values.get("batch", "")
    batch = WithholdingBatch.objects.filter(number=number).first() if number else None
    if batch is None:
        raise _Unmatched("batch", _("no withholding batch “%(value)s”") % {"value": shown(number)})
    text = values.get("line", "")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise _Unmatched("line", _("must be a line number of the batch, got “%(value)s”") % {"value": shown(text)})
    line = (WithholdingLine.objects.select_related("account", "account__home_hall", "mandate", "batch")
            .filter(batch=batch, line=int(text)).first())
    if line is None:
        raise _Unmatched("line", _("batch %(batch)s has no line %(line)s (it has %(lines)s)") % {
            "batch": batch.number, "line": int(text), "lines": batch.line_count})
    where = {"line": line.line, "batch": batch.number}
    if values.get("account", "") != line.account.number:
        raise _Unmatched("account", _("line %(line)s of batch %(batch)s is account %(account)s, not “%(value)s”") % {
            **where, "account": line.account.number, "value": shown(values.get("account", ""))})
    try:
        amount_fen = parse_yuan_amount(values.get("amount", ""), field="amount")
    except InvalidAmount:
        raise _Unmatched("amount", _("must be yuan with at most two decimals, got “%(value)s”") % {
            "value": shown(values.get("amount", ""))}) from None
    if amount_fen != line.amount_fen:
        raise _Unmatched("amount", _("line %(line)s of batch %(batch)s asked %(asked)s yuan, the result says "
                                     "%(amount)s") % {**where, "asked": format_fen(line.amount_fen),
                                                      "amount": format_fen(amount_fen)})
    code = values.get("result", "")
    if re.fullmatch(r"[0-9A-Z]{4}", code) is None:
        raise _Unmatched("result", _("must be the bank's 4-character result code, got “%(value)s”") % {
            "value": shown(code)})
    transaction_id = values.get("transaction", "")
    if transaction_id and TRANSACTION_TEXT.fullmatch(transaction_id) is None:
        raise _Unmatched("transaction", _("must be 1 to %(limit)s of A-Z a-z 0-9 _ . : / -") % {
            "limit": TRANSACTION_MAX_LENGTH})
    return line, amount_fen, code, printable(values.get("message", ""))[:MESSAGE_MAX_LENGTH], transaction_id


def _record(row: Row, *, rules: BankRules, file: ImportBatch, now: datetime, user,
            touched: set[int]) -> tuple[str, int]:
    """Record one result row: SUCCEEDED (posted now), FAILED (recorded, customer told), UNCHANGED (this result
    was recorded before). Raises _Unmatched."""
    line, amount_fen, code, message, transaction_id = _match(row)
    success = rules.is_success(code)
    if success and not transaction_id:
        raise _Unmatched("transaction", _("a successful line needs the bank's transaction id"))
    locked = WithholdingLine.objects.select_for_update().get(pk=line.pk)
    if locked.state != WithholdingLine.State.PENDING:
        if locked.result_code == code and locked.bank_transaction == transaction_id:
            return "UNCHANGED", amount_fen
        raise _Unmatched("result", _("line %(line)s of batch %(batch)s already has the result %(recorded)s "
                                     "(%(state)s); this file says %(code)s") % {
            "line": line.line, "batch": line.batch.number, "recorded": locked.result_code,
            "state": locked.get_state_display(), "code": code})
    hall = line.account.home_hall
    actor = Actor(user=user, hall=hall, channel="BANK", name=f"bank:{line.batch.bank_code}",
                  reason=f"withholding result file {file.file_name}"[:200])
    with acting_as(actor):
        locked.result_code, locked.result_message, locked.bank_transaction = code, message, transaction_id
        locked.result_at, locked.result_file = now, file
        if success:
            result = take_payment(account=line.account, amount_fen=amount_fen,
                                  channel=Payment.Channel.BANK_WITHHOLDING, hall=hall, clerk=None,
                                  idempotency_key=line_key(batch=line.batch.number, line=line.line), taken_at=now)
            locked.state, locked.payment = WithholdingLine.State.SUCCEEDED, result.payment
            locked.save()
            record_event(action="WITHHOLDING_COLLECTED", obj=locked, occurred_at=now,
                         detail={"batch": line.batch.number, "line": line.line, "account": line.account.number,
                                 "amount_fen": amount_fen, "transaction": transaction_id,
                                 "receipt": result.payment.receipt_number, "replayed": result.replayed})
        else:
            locked.state = WithholdingLine.State.FAILED
            locked.save()
            record_event(action="WITHHOLDING_FAILED", obj=locked, occurred_at=now,
                         detail={"batch": line.batch.number, "line": line.line, "account": line.account.number,
                                 "amount_fen": amount_fen, "code": code, "message": message})
            _tell_customer(line, code=code, rules=rules, now=now)
    touched.add(line.batch_id)
    return ("SUCCEEDED" if success else "FAILED"), amount_fen


def _tell_customer(line: WithholdingLine, *, code: str, rules: BankRules, now: datetime) -> None:
    bank = rules.banks.get(line.batch.bank_code)
    subject, body = notice_text(
        "WITHHOLDING_FAILED", "zh-hans", account=line.account.number, amount=format_fen(line.amount_fen),
        bank=bank.name_zh if bank else line.batch.bank_code, tail=line.mandate.bank_account[-4:],
        reason=rules.failure_words(code))
    queue_notices([NoticeText(account=line.account, kind="WITHHOLDING_FAILED", subject=subject, body=body,
                              source_type="withholding.WithholdingLine", source_id=str(line.pk))], created_at=now)


def _close_finished(batch_ids: set[int], *, now: datetime) -> list[int]:
    """Close the batches among ``batch_ids`` that have no pending line left."""
    open_ = WithholdingBatch.objects.filter(pk__in=batch_ids, closed_at__isnull=True)
    finished = list(open_.exclude(Q(lines__state=WithholdingLine.State.PENDING)).values_list("pk", flat=True))
    if finished:
        WithholdingBatch.objects.filter(pk__in=finished).update(closed_at=now)
        for batch in WithholdingBatch.objects.filter(pk__in=finished):
            record_event(action="WITHHOLDING_BATCH_CLOSED", obj=batch, occurred_at=now,
                         detail={"batch": batch.number, "lines": batch.line_count})
    return finished


__all__ = ["ResultsReport", "import_results"]
