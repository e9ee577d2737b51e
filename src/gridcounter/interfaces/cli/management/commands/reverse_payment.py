"""`gridcounter reverse_payment`: reverse a payment from the command line, under the same rules as the counter."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.ledger import ReasonRequired, ReversalNotAllowed, reverse_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import StaffUser
from gridcounter.domain.ledger import format_fen


class Command(BaseCommand):
    help = ("Reverse a payment: --receipt R --by USERNAME --reason TEXT. The clerk who took it may, the same open "
            "day; anyone else must be a supervisor of the account's city (docs/till.md). Exit 2 on refusal.")

    def add_arguments(self, parser):
        parser.add_argument("--receipt", required=True, help="receipt number of the payment")
        parser.add_argument("--by", required=True, help="username of the clerk or supervisor reversing it")
        parser.add_argument("--reason", required=True, help="why the payment is taken back")
        parser.add_argument("--json", action="store_true", help="print the reversal as JSON")

    def handle(self, *args, **options):
        payment = Payment.objects.select_related("account__city", "hall", "clerk").filter(
            receipt_number=options["receipt"]).first()
        if payment is None:
            raise CommandError(_("no payment with receipt {receipt}").format(receipt=options["receipt"]), returncode=2)
        user = StaffUser.objects.select_related("hall").filter(username=options["by"], is_active=True).first()
        if user is None:
            raise CommandError(_("no active user {username}").format(username=options["by"]), returncode=2)
        try:
            with acting_as(Actor(user=user, hall=user.hall, reason=options["reason"], channel="CLI")):
                result = reverse_payment(payment=payment, by=user, reason=options["reason"],
                                         reversed_at=timezone.now())
        except ReversalNotAllowed as refusal:
            raise CommandError(f"{refusal.code}: {refusal}", returncode=2)
        except ReasonRequired as error:
            raise CommandError(str(error), returncode=2)
        reversal = result.reversal
        data = {"receipt_number": payment.receipt_number, "amount": format_fen(payment.amount_fen),
                "reversed_by": reversal.reversed_by.username, "kind": reversal.kind, "reason": reversal.reason,
                "after_close": reversal.after_close, "replayed": result.replayed,
                "balance": format_fen(result.balance_fen)}
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        self.stdout.write(_("Payment {receipt} ({amount} yuan) reversed by {who}{replayed}. Balance now {balance} "
                            "yuan.").format(receipt=data["receipt_number"], amount=data["amount"],
                                            who=data["reversed_by"], balance=data["balance"],
                                            replayed=_(" (already reversed, nothing changed)")
                                            if result.replayed else ""))
