"""`gridcounter demo`: build the demo city (idempotent); `--print-logins` lists the demo users."""
from django.core.management.base import BaseCommand
from django.utils import timezone

from gridcounter.application import demo
from gridcounter.application.demo import is_loaded, login_table


class Command(BaseCommand):
    help = "Build the demo city (a second run does nothing). --print-logins prints the demo users instead."

    def add_arguments(self, parser):
        parser.add_argument("--print-logins", action="store_true", help="print username, roles, hall, password")

    def handle(self, *args, **options):
        if options["print_logins"]:
            self._print_logins()
            return
        as_of = timezone.localdate()  # today in Asia/Shanghai
        demo.run(as_of=as_of, stdout=self.stdout)

    def _print_logins(self):
        if not is_loaded():
            self.stdout.write("The demo city is not loaded yet; run `gridcounter demo` first.")
        rows = login_table()
        headers = {"username": "username", "roles": "role(s)", "hall": "hall", "password": "password"}
        widths = {k: max(_width(headers[k]), *(_width(r[k]) for r in rows)) for k in headers}
        line = "  ".join(_pad(headers[k], widths[k]) for k in headers)
        self.stdout.write(line)
        self.stdout.write("  ".join("-" * widths[k] for k in headers))
        for row in rows:
            self.stdout.write("  ".join(_pad(row[k], widths[k]) for k in headers))


def _width(text: str) -> int:
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)  # CJK characters take two columns


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
