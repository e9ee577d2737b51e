"""`gridcounter deliver-notices [--limit N] [--every SECONDS] [--json]`: send the SMS and e-mails that are due."""
import json
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from gridcounter.application.notices import deliver_notices


class Command(BaseCommand):
    help = ("Send the notices to customers that are due: SMS through the provider named by GRIDCOUNTER_SMS_PROVIDER "
            "(by default only logged), e-mail through the SMTP relay (GRIDCOUNTER_SMTP_HOST). A failed delivery is "
            "tried again later, up to 6 times; letters wait for staff to print and deliver them (docs/notices.md).")

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=1000, help="at most this many notices per round")
        parser.add_argument("--every", type=float, metavar="SECONDS",
                            help="keep running: a round every SECONDS (as a service); without it, one round")
        parser.add_argument("--now", metavar="TIMESTAMP",
                            help="deliver as at this moment (ISO 8601 with its offset); default: the clock")
        parser.add_argument("--json", action="store_true", help="print each round's report as JSON")

    def handle(self, *args, **options):
        fixed = None
        if options["now"]:
            fixed = parse_datetime(options["now"])
            if fixed is None or fixed.tzinfo is None:
                raise CommandError(_("--now: a timestamp with its offset, e.g. 2026-12-06T09:00:00+08:00"))
        if options["limit"] < 1:
            raise CommandError(_("--limit: a positive number"))
        while True:
            report = deliver_notices(now=fixed or datetime.now(UTC), limit=options["limit"])
            if options["json"]:
                self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
            else:
                self.stdout.write(_("Sent {sent}; to try again later {retrying}; given up {failed}; letters waiting "
                                    "to be delivered {letters}.").format(
                    sent=report.sent, retrying=report.retrying, failed=report.failed,
                    letters=report.letters_waiting))
                for error in report.errors:
                    self.stdout.write(f"  {error}")
            if not options["every"]:
                return
            self.stdout.flush()
            time.sleep(options["every"])
