"""`gridcounter withholding-reconcile --batch N [--json]`: every line of a withholding batch and the totals."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from gridcounter.application.withholding import BatchUnknown, find_batch, reconcile
from gridcounter.data.withholding.models import WithholdingLine
from gridcounter.domain.ledger import format_fen


class Command(BaseCommand):
    help = ("Reconcile a withholding batch: each line collected (with its receipt), failed (with the bank's "
            "reason) or pending, and the totals per state against the batch's total. Exit 2: no such batch; "
            "exit 1: the totals do not add up.")

    def add_arguments(self, parser):
        parser.add_argument("--batch", required=True, help="the batch number (as in the exported file)")
        parser.add_argument("--json", action="store_true", help="print the reconciliation as JSON")

    def handle(self, *args, **options):
        try:
            batch = find_batch(options["batch"])
        except BatchUnknown:
            raise CommandError(_("no withholding batch “%(batch)s”") % {"batch": options["batch"]},
                               returncode=2) from None
        result = reconcile(batch)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(_("batch %(batch)s (%(bank)s, as of %(day)s): %(lines)d lines, %(total)s yuan; %(state)s")
                              % {"batch": batch.number, "bank": batch.bank_code, "day": batch.as_of_date,
                                 "lines": batch.line_count, "total": format_fen(batch.total_fen),
                                 "state": _("closed") if result.closed else _("open")})
            for line in result.lines:
                if line.state == line.State.SUCCEEDED:
                    what = _("collected, receipt %(receipt)s") % {"receipt": line.payment.receipt_number}
                elif line.state == line.State.FAILED:
                    what = _("failed: %(code)s %(message)s") % {"code": line.result_code,
                                                                 "message": line.result_message}
                else:
                    what = _("pending")
                self.stdout.write(f"  {line.line:>5}  {line.account.number}  {format_fen(line.amount_fen):>12}  {what}")
            for state in result.counts:
                self.stdout.write(f"  {WithholdingLine.State(state).label}: {result.counts[state]}, "
                                  f"{format_fen(result.totals_fen[state])}")
        if not result.balanced:
            raise CommandError(_("the lines' totals do not add up to the batch's total"), returncode=1)
