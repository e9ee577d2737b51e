"""`gridcounter ledger-check [--json]`: check the whole ledger; exit 1 when anything is out of balance."""
import json
import sys

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from gridcounter.application.ledger import check_ledger


class Command(BaseCommand):
    help = "Check that every journal entry balances and every account's balance matches its bills, payments and adjustments. Exit 1 on any offence."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        report = check_ledger()
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(_("Checked {entries} journal entries and {accounts} accounts.").format(
                entries=report.entries_checked, accounts=report.accounts_checked))
            for offence in report.offences:
                self.stdout.write(f"  {offence.code} {offence.object_type} #{offence.object_id}: {offence.message}")
            if report.ok:
                self.stdout.write(_("OK: the ledger balances."))
            else:
                self.stdout.write(_("{count} offences found.").format(count=len(report.offences)))
        if not report.ok:
            self.stdout.flush()
            sys.exit(1)
