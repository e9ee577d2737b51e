"""`gridcounter gateway-callback`: a local payment gateway simulator that signs a callback and posts it.

It signs with the one rule the endpoint verifies with (gridcounter.domain.gateway_signature), using the gateway's
secret from GRIDCOUNTER_PAYMENT_GATEWAYS (or --secret), and prints the server's answer. Exit 2 unless 2xx.
"""
import json
import time
import urllib.error
import urllib.request
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.ledger import find_gateway
from gridcounter.domain.gateway_signature import callback_body, signed_headers


class Command(BaseCommand):
    help = ("Simulate a payment gateway: sign a callback and post it to the server. --gateway G --account A "
            "--amount 12.34 [--transaction T] [--paid-at ISO] [--url URL] [--secret S] [--timestamp UNIX]. "
            "Exit 2 unless the server answers 2xx.")

    def add_arguments(self, parser):
        parser.add_argument("--gateway", required=True, help="the gateway's code")
        parser.add_argument("--account", required=True, help="account number (户号)")
        parser.add_argument("--amount", required=True, help='amount in yuan, e.g. "12.34"')
        parser.add_argument("--transaction", default="", help="the gateway's transaction id (default: a new one)")
        parser.add_argument("--paid-at", default="", help="ISO date and time with offset (default: now)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default %(default)s)")
        parser.add_argument("--secret", default="", help="the shared secret (default: the configured gateway's)")
        parser.add_argument("--timestamp", type=int, default=None, help="sign as of these unix seconds (default: now)")

    def handle(self, *args, **options):
        secret = options["secret"]
        if not secret:
            gateway = find_gateway(options["gateway"])
            if gateway is None:
                raise CommandError(_("no gateway {code} in GRIDCOUNTER_PAYMENT_GATEWAYS; give --secret").format(
                    code=options["gateway"]), returncode=2)
            secret = gateway.secret
        transaction_id = options["transaction"] or f"sim-{uuid.uuid4().hex[:16]}"
        paid_at = options["paid_at"] or timezone.localtime().isoformat(timespec="seconds")
        body = callback_body(transaction_id=transaction_id, account=options["account"], amount=options["amount"],
                             paid_at=paid_at)
        stamp = options["timestamp"] if options["timestamp"] is not None else int(time.time())
        headers = {"Content-Type": "application/json", **signed_headers(secret=secret, body=body, timestamp=stamp)}
        url = f"{options['url'].rstrip('/')}/api/gateways/{options['gateway']}/callbacks"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 — the URL is the user's
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as refused:
            status, answer = refused.code, refused.read()
        except urllib.error.URLError as unreachable:
            raise CommandError(_("cannot reach {url}: {reason}").format(url=url, reason=unreachable.reason),
                               returncode=2) from None
        try:
            shown = json.dumps(json.loads(answer), ensure_ascii=False, indent=2)
        except ValueError:
            shown = answer.decode("utf-8", "replace")
        self.stdout.write(f"{status} {transaction_id}\n{shown}")
        if not 200 <= status < 300:
            raise CommandError(_("the server refused the callback ({status})").format(status=status), returncode=2)
