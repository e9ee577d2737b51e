"""`gridcounter bills --account A [--period P] [--json]`: an account's bills with their explanations."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from gridcounter.application.billing import bills_for_account
from gridcounter.data.registry.models import Account


class Command(BaseCommand):
    help = "Show an account's bills, each with its lines and the reasons that explain it."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account number")
        parser.add_argument("--period", help="YYYY-MM")
        parser.add_argument("--all", action="store_true", help="include cancelled bills")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--lang", choices=["zh", "en"], help="language of the sentences (default: zh-hans)")

    def handle(self, *args, **options):
        account = Account.objects.filter(number=options["account"]).first()
        if account is None:
            raise CommandError(_("No account %(number)s.") % {"number": options["account"]})
        bills = bills_for_account(account=account, period=options["period"], include_cancelled=options["all"])
        if options["json"]:
            self.stdout.write(json.dumps({"account": account.number, "bills": bills}, ensure_ascii=False))
            return
        zh = (options["lang"] or get_language() or "zh-hans").startswith("zh")
        for bill in bills:
            self.stdout.write(f"#{bill['id']} {bill['period']} {bill['status']} {bill['kwh']} kWh "
                              f"{bill['amount_yuan']} yuan ({bill['start_date']} – {bill['end_date']})")
            for reason in bill["explanation"]:
                self.stdout.write(f"  [{reason['code']}] {reason['text_zh'] if zh else reason['text_en']}")
