"""`gridcounter import-registry FILE`: import customers, accounts, meters and routes from CSV or Excel."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.registry import TabularFileError, import_registry
from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import StaffUser
from gridcounter.interfaces.cli.progress import FileProgress


class Command(BaseCommand):
    help = ("Import the registry from a UTF-8 CSV or .xlsx file (see docs/registry-import.md). Exit 2: unreadable. "
            "A stopped import of the same file is continued.")
    kind = "registry"  # the progress bar's label and the default reason's first word

    def run_import(self, **kwargs):
        return import_registry(**kwargs)

    def after(self, result) -> None:
        """Anything the command says after the summary."""

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--chunk-rows", type=int, default=None,
                            help="rows committed per transaction, with the batch's counts (default: the import's)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument("--user", default="", help="username the import is attributed to")
        parser.add_argument("--reason", default="", help='reason recorded in history (default "KIND import FILE")')

    def handle(self, *args, **options):
        user = None
        if options["user"]:
            user = StaffUser.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(_("no user {username}").format(username=options["user"]), returncode=2)
        actor = Actor(user=user, hall=getattr(user, "hall", None), reason=options["reason"], channel="CLI")
        chunk = {"chunk_rows": options["chunk_rows"]} if options["chunk_rows"] else {}
        progress = FileProgress(self.kind)
        try:
            result = self.run_import(path=options["file"], actor=actor, imported_at=timezone.now(),
                                     progress=progress, **chunk)
        except TabularFileError as error:
            raise CommandError(str(error), returncode=2)
        finally:
            progress.close()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            _("{file}: created {created}, updated {updated}, unchanged {unchanged}, rejected {rejected}").format(
                file=result.file_name, created=result.created, updated=result.updated, unchanged=result.unchanged,
                rejected=len(result.rejected))
        )
        for rejection in result.rejected:
            self.stdout.write("  " + str(rejection))
        if result.rejected:
            self.stdout.write(_("Rejected rows are kept in import batch {batch} for correction.").format(
                batch=result.batch_id))
        self.after(result)
