"""`gridcounter import-intervals FILE`: load 15-minute AMI intervals (CSV or Parquet) into the interval dataset.

Exit 2 when the file cannot be read (missing, empty, not UTF-8, not Parquet, a required column missing); exit 1
when rows are bad (each named, nothing written).
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.readings import (
    IntervalFileError,
    import_intervals,
    interval_dir,
    sweep_interval_dir,
)
from gridcounter.data.audit.context import Actor, acting_as


class Command(BaseCommand):
    help = "Import 15-minute intervals (columns meter, start_at, kwh) from a UTF-8 CSV or a Parquet file."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="CSV (UTF-8) or .parquet file from the head-end")
        parser.add_argument("--sweep", action="store_true",
                            help="only tidy the temporary parts interrupted imports left (no file imported)")
        parser.add_argument("--dir", help="interval dataset folder (default: GRIDCOUNTER_INTERVAL_DIR or ./intervals)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        root = Path(options["dir"]) if options["dir"] else interval_dir()
        if options["sweep"]:
            swept = sweep_interval_dir(root)
            self.stdout.write(json.dumps(swept) if options["json"] else _(
                "%(published)d temporary parts moved into place, %(removed)d removed") % swept)
            return
        if not options["file"]:
            raise CommandError(_("name the file to import (or give --sweep)"), returncode=2)
        try:
            with acting_as(Actor(reason="interval import", channel="CLI")):
                result = import_intervals(path=options["file"], root=root, as_of=timezone.now())
        except IntervalFileError as exc:
            raise CommandError(str(exc), returncode=2)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        else:
            for row in result.rejected_rows:
                self.stderr.write(_("line %(line)s, column %(column)s: %(reason)s") % row)
            self.stdout.write(_("%(file)s: %(rows)d rows, %(rejected)d rejected") % {
                "file": result.file_name, "rows": result.rows, "rejected": len(result.rejected_rows)})
            for (period, route), count in sorted(result.written.items()):
                self.stdout.write(f"  {period} {route}: {count}")
            if result.meters_marked:
                self.stdout.write(_("%(count)d meters now marked as sending 15-minute intervals") % {
                    "count": result.meters_marked})
        if result.rejected_rows:
            raise CommandError(_("nothing imported: fix the rows above and import the file again"))
