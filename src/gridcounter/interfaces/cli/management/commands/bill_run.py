"""`gridcounter bill-run --period YYYY-MM [--route R] [--json]`: bill every account of the period."""
import json
import sys
from datetime import datetime
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from gridcounter.application.billing import InvalidPeriod, UnknownRoute, local_today, run_bills
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.registry.models import Account


class Command(BaseCommand):
    help = "Run the bill run for a period: issue clean bills, hold the rest for review. Rerunning is safe."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM: the month of the closing fixed-day reading")
        parser.add_argument("--route", help="only this reading route (code)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument("--due-days", type=int, default=None, help="days from issue to due date (default 15)")
        parser.add_argument("--shock-pct", default=None, help="bill-shock threshold in percent (default 50)")
        parser.add_argument("--as-of", default=None, help="business date of the run (default: today, Asia/Shanghai)")

    def handle(self, *args, **options):
        now = timezone.now()
        as_of = datetime.strptime(options["as_of"], "%Y-%m-%d").date() if options["as_of"] else local_today(now)
        accounts = Account.objects.filter(route__isnull=False)
        if options["route"]:
            accounts = accounts.filter(route__code=options["route"])
        bar = tqdm(total=accounts.count(), desc=f"bill run {options['period']}", unit="acct", file=sys.stderr,
                   disable=None)
        try:
            with acting_as(Actor(reason=f"bill run {options['period']}", channel="CLI")):
                summary = run_bills(
                    period=options["period"], as_of=as_of, created_at=now, route_code=options["route"],
                    due_days=options["due_days"],
                    shock_threshold_pct=Decimal(options["shock_pct"]) if options["shock_pct"] else None,
                    progress=bar.update,
                )
        except (InvalidPeriod, UnknownRoute) as error:
            raise CommandError(str(error))
        finally:
            bar.close()
        data = summary.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        self.stdout.write(_("Period %(period)s: %(issued)d issued, %(held)d held, %(skipped)d skipped, "
                            "%(not_due)d not due yet") % data)
        for code, count in data["held_by_code"].items():
            self.stdout.write(f"  {code}: {count}")
