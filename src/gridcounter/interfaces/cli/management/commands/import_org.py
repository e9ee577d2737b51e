"""`gridcounter import-org FILE`: set up companies, cities, halls and staff from CSV or Excel."""
from django.utils.translation import gettext as _

from gridcounter.application.org import import_org
from gridcounter.interfaces.cli.management.commands.import_registry import Command as RegistryCommand


class Command(RegistryCommand):
    help = ("Set up companies, cities, halls and staff from a UTF-8 CSV or .xlsx file (see docs/org-import.md). "
            "Exit 2: unreadable. Importing the same file again changes nothing.")
    kind = "org"

    def run_import(self, **kwargs):
        return import_org(**kwargs)

    def after(self, result) -> None:
        if result.created:
            self.stdout.write(_("Staff created by an import have no password yet: set each one's first password "
                                "with `gridcounter changepassword USERNAME`."))
