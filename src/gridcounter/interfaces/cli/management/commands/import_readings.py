"""`gridcounter import-readings FILE`: load meter readings from a CSV or Excel file, validated at once.

Exit 2 when the file cannot be read (missing, empty, not UTF-8, a damaged .xlsx, a required column missing).
"""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.readings import import_readings
from gridcounter.application.tabular import TabularFileError
from gridcounter.data.audit.context import Actor
from gridcounter.interfaces.cli.progress import FileProgress
from gridcounter.interfaces.cli.staff import staff_user


class Command(BaseCommand):
    help = ("Import meter readings (columns meter, register, read_at, value, source) from a UTF-8 CSV or .xlsx file. "
            "Exit 2: unreadable. A stopped import of the same file is continued.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (UTF-8) or Excel .xlsx file")
        parser.add_argument("--chunk-rows", type=int, default=None,
                            help="rows committed per transaction, with the batch's counts (default: the import's)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--user", help="username of the staff member importing (default: system job)")
        parser.add_argument("--reason", default="readings import", help="reason recorded in the audit log")

    def handle(self, *args, **options):
        user = staff_user(options["user"])
        actor = Actor(user=user, hall=getattr(user, "hall", None), reason=options["reason"], channel="CLI")
        chunk = {"chunk_rows": options["chunk_rows"]} if options["chunk_rows"] else {}
        progress = FileProgress("readings")
        try:
            result = import_readings(path=options["file"], actor=actor, as_of=timezone.now(), progress=progress,
                                   **chunk)
        except TabularFileError as exc:
            raise CommandError(str(exc), returncode=2)
        finally:
            progress.close()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str))
            return
        self.stdout.write(_("%(file)s: %(rows)d rows: %(created)d created, %(unchanged)d unchanged, "
                            "%(rejected)d rejected, %(flagged)d flagged (%(held)d held for review)") % {
            "file": result.file_name, "rows": result.rows, "created": result.created, "unchanged": result.unchanged,
            "rejected": result.rejected, "flagged": result.flagged, "held": result.held})
        for code, count in result.codes.items():
            self.stdout.write(f"  {code}: {count}")
        for row in result.rejected_rows:
            self.stderr.write(_("line %(line)s, column %(column)s: %(reason)s") % row)
