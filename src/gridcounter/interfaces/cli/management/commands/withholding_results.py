"""`gridcounter withholding-results FILE [--json]`: import a bank's withholding result file.

Exit 2 when the file cannot be read (missing, empty, not UTF-8, a required column missing), in one line.
"""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.tabular import TabularFileError
from gridcounter.application.withholding import import_results
from gridcounter.domain.ledger import format_fen
from gridcounter.interfaces.cli.staff import staff_user


class Command(BaseCommand):
    help = ("Import a bank's withholding result file (columns batch, line, account, amount, result, message, "
            "transaction): successes posted once, failures recorded and the customers told, lines that match no "
            "batch line kept with the reason. Importing it again posts nothing. Exit 2: unreadable.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the bank's result file, UTF-8 CSV (or .xlsx)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--user", help="username of the staff member importing (default: system job)")

    def handle(self, *args, **options):
        user = staff_user(options["user"])
        try:
            report = import_results(path=options["file"], now=timezone.now(), user=user)
        except TabularFileError as error:
            raise CommandError(str(error), returncode=2) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(_("%(file)s: %(rows)d lines: %(succeeded)d collected (%(posted)s yuan posted), "
                            "%(failed)d failed, %(unchanged)d already recorded, %(rejected)d not matched") % {
            "file": report.file_name, "rows": report.rows, "succeeded": report.succeeded,
            "posted": format_fen(report.posted_fen), "failed": report.failed, "unchanged": report.unchanged,
            "rejected": report.rejected})
        for number in report.batches_closed:
            self.stdout.write(_("batch %(batch)s closed: every line has its result") % {"batch": number})
        for row in report.rejected_rows:
            self.stderr.write(_("line %(line)s, column %(column)s: %(reason)s") % row)
