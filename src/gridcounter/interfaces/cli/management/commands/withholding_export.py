"""`gridcounter withholding-export --bank CODE --as-of YYYY-MM-DD [--city CODE] [--out FILE]`: a withholding batch."""
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.withholding import ExportRefused, batch_csv, export_batch
from gridcounter.data.org.models import City
from gridcounter.domain.ledger import format_fen
from gridcounter.interfaces.cli.staff import staff_user


class Command(BaseCommand):
    help = ("Make a bank withholding batch: for each active mandate of the bank in the city, the account's open "
            "bills issued by --as-of, one line per account; written as the bank's CSV (docs/collections.md). An "
            "account in a batch still awaiting its result is left out. Exit 2: bad option.")

    def add_arguments(self, parser):
        parser.add_argument("--bank", required=True, help="the bank's code (rules/banks.toml)")
        parser.add_argument("--as-of", required=True, metavar="YYYY-MM-DD", help="bills issued up to this day")
        parser.add_argument("--city", help="the city's code (needed when there is more than one city)")
        parser.add_argument("--out", metavar="FILE", help="write the CSV here (default: standard output)")
        parser.add_argument("--user", help="username of the staff member exporting (default: system job)")

    def handle(self, *args, **options):
        try:
            as_of = date.fromisoformat(options["as_of"])
        except ValueError:
            raise CommandError(_("--as-of: “%(value)s” is not a date like 2026-12-06") % {
                "value": options["as_of"]}, returncode=2) from None
        city = self._city(options["city"])
        user = staff_user(options["user"])
        try:
            result = export_batch(bank_code=options["bank"], city=city, as_of=as_of, created_at=timezone.now(),
                                  user=user)
        except ExportRefused as refused:
            raise CommandError(str(refused), returncode=2) from None
        if result.skipped_pending:
            self.stderr.write(_("%(n)d account(s) left out: a batch sent earlier still awaits their result") % {
                "n": result.skipped_pending})
        if result.batch is None:
            self.stderr.write(_("nothing to collect: no active mandate of %(bank)s in %(city)s has an open bill") % {
                "bank": options["bank"], "city": city.code})
            return
        text = batch_csv(result.batch)
        if options["out"]:
            try:
                with open(options["out"], "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
            except OSError as error:
                raise CommandError(_("%(file)s: cannot write (%(error)s); the batch %(batch)s is stored") % {
                    "file": options["out"], "error": error.strerror, "batch": result.batch.number},
                    returncode=2) from None
        else:
            sys.stdout.write(text)
        self.stderr.write(_("batch %(batch)s: %(lines)d lines, %(total)s yuan") % {
            "batch": result.batch.number, "lines": result.batch.line_count, "total": format_fen(result.batch.total_fen)})

    def _city(self, code):
        if code:
            city = City.objects.filter(code=code).first()
            if city is None:
                raise CommandError(_("--city: no city with code “%(code)s”") % {"code": code}, returncode=2)
            return city
        cities = list(City.objects.all()[:2])
        if len(cities) != 1:
            raise CommandError(_("--city: name the city (there are %(n)s)") % {"n": City.objects.count()},
                               returncode=2)
        return cities[0]
