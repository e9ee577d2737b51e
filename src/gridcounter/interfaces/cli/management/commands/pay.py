"""`gridcounter pay`: take a payment at a hall from the command line and print the receipt."""
import json
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.access import PAYMENT_ROLES
from gridcounter.application.ledger import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    PaymentOutsideCity,
    UnknownChannel,
    take_payment,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Hall, StaffUser
from gridcounter.data.registry.models import Account
from gridcounter.domain.ledger import InvalidAmount, format_fen, parse_yuan_amount


class Command(BaseCommand):
    help = "Take a payment: --account N --amount 123.45 --hall CODE --clerk USERNAME (a clerk or supervisor of the account's city) [--channel CASH] [--key K]. Exit 2 on refusal."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account number (户号)")
        parser.add_argument("--amount", required=True, help='amount in yuan, e.g. "123.45"')
        parser.add_argument("--channel", default="CASH", choices=Payment.Channel.values)
        parser.add_argument("--hall", required=True, help="code of the hall taking the payment")
        parser.add_argument("--clerk", required=True, help="username of the clerk")
        parser.add_argument("--key", default="", help="idempotency key; repeat it to retry safely (default: new)")
        parser.add_argument("--json", action="store_true", help="print the receipt as JSON")

    def handle(self, *args, **options):
        account = Account.objects.select_related("city").filter(number=options["account"]).first()
        if account is None:
            raise CommandError(_("no account {number}").format(number=options["account"]), returncode=2)
        hall = Hall.objects.select_related("city").filter(code=options["hall"]).first()
        if hall is None:
            raise CommandError(_("no hall {code}").format(code=options["hall"]), returncode=2)
        clerk = StaffUser.objects.select_related("hall").filter(username=options["clerk"], is_active=True).first()
        if clerk is None:
            raise CommandError(_("no active user {username}").format(username=options["clerk"]), returncode=2)
        if not clerk.has_role(*PAYMENT_ROLES):
            raise CommandError(_("{username} is not a clerk: only a clerk or a supervisor takes payments").format(
                username=clerk.username), returncode=2)
        if clerk.city_id != account.city_id:
            raise CommandError(_("{username} is not a clerk of city {city}, the city of account {number}").format(
                username=clerk.username, city=account.city.name, number=account.number), returncode=2)
        key = options["key"] or f"cli-{uuid.uuid4()}"
        try:
            amount_fen = parse_yuan_amount(options["amount"].strip(), field="--amount")
            with acting_as(Actor(user=clerk, hall=hall, reason="payment at the counter (CLI)", channel="CLI")):
                result = take_payment(account=account, amount_fen=amount_fen, channel=options["channel"], hall=hall,
                                      clerk=clerk, idempotency_key=key, taken_at=timezone.now())
        except InvalidAmount as error:
            raise CommandError(f"{error.field}: {error.message}", returncode=2)
        except (PaymentOutsideCity, IdempotencyKeyReused, InvalidIdempotencyKey, UnknownChannel) as error:
            raise CommandError(str(error), returncode=2)
        payment = result.payment
        data = {
            "receipt_number": payment.receipt_number, "account": account.number, "amount": format_fen(payment.amount_fen),
            "channel": payment.channel, "hall": hall.code, "clerk": clerk.username, "idempotency_key": key,
            "taken_at": timezone.localtime(payment.taken_at).isoformat(), "replayed": result.replayed,
            "allocations": [{"period": a.period, "kind": a.kind, "amount": format_fen(a.amount_fen)}
                            for a in result.allocations],
            "balance": format_fen(result.balance_fen),
        }
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        self.stdout.write(_("Receipt {receipt}: {amount} yuan ({channel}) for account {account}{replayed}").format(
            receipt=data["receipt_number"], amount=data["amount"], channel=payment.get_channel_display(),
            account=account.number, replayed=_(" (already booked, not charged again)") if result.replayed else ""))
        for allocation in data["allocations"]:
            if allocation["kind"] == "PENALTY":
                self.stdout.write(_("  settles the late-payment penalty on bill {period}: {amount} yuan").format(
                    **allocation))
            else:
                self.stdout.write(_("  settles bill {period}: {amount} yuan").format(**allocation))
        self.stdout.write(_("Balance now {balance} yuan (negative is credit). Idempotency key: {key}").format(
            balance=data["balance"], key=key))
