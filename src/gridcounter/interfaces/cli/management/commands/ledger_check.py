"""`gridcounter ledger-check [--json]`: check the whole ledger; exit 1 when anything is out of balance."""
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from gridcounter.application.ledger import chain_heads, check_ledger


class Command(BaseCommand):
    help = ("Check that every journal entry balances, every account's balance matches its bills, payments and "
            "adjustments, credit settles open bills, and every entry's hash-chain link holds. Exit 1 on any offence.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--save-heads", metavar="FILE",
                            help="write every account's last hash-chain link to FILE (keep it outside the database)")
        parser.add_argument("--heads", metavar="FILE",
                            help="also check that the last links saved in FILE are still in their chains")

    def handle(self, *args, **options):
        heads = None
        if options["heads"]:
            try:
                heads = json.loads(Path(options["heads"]).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CommandError(_("Cannot read the saved heads {file}: {error}").format(
                    file=options["heads"], error=error)) from error
        report = check_ledger(heads=heads)
        if options["save_heads"]:
            Path(options["save_heads"]).write_text(json.dumps(chain_heads(), ensure_ascii=False), encoding="utf-8")
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(_("Checked {entries} journal entries and {accounts} accounts.").format(
                entries=report.entries_checked, accounts=report.accounts_checked))
            for offence in report.offences:
                self.stdout.write(f"  {offence.code} {offence.object_type} #{offence.object_id}: {offence.message}")
            if report.first_changed_entry is not None:
                self.stdout.write(_("First journal entry changed outside the ledger's rules: #{entry}.").format(
                    entry=report.first_changed_entry))
            if report.ok:
                self.stdout.write(_("OK: the ledger balances."))
            else:
                self.stdout.write(_("{count} offences found.").format(count=len(report.offences)))
        if not report.ok:
            self.stdout.flush()
            sys.exit(1)
