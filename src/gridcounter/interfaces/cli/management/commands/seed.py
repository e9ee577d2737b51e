"""`gridcounter seed --accounts N [--city-code X]`: a synthetic city of any size for tests and benchmarks."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gridcounter.application.demo import SeedError, seed_city


class Command(BaseCommand):
    help = "Add N synthetic accounts (customers, premises, routes, meters) to city X, streamed in batches."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, required=True)
        parser.add_argument("--city-code", default="SYN", help="code of the synthetic city (default SYN)")
        parser.add_argument("--batch-size", type=int, default=20_000)
        parser.add_argument("--prefix", default=None, help="3-digit account-number prefix (default: from the code)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        if options["accounts"] < 1:
            raise CommandError("--accounts must be at least 1")
        if options["prefix"] is not None and (len(options["prefix"]) != 3 or not options["prefix"].isdigit()):
            raise CommandError("--prefix must be 3 digits")
        try:
            result = seed_city(accounts=options["accounts"], city_code=options["city_code"],
                               as_of=timezone.localdate(), stdout=self.stdout if not options["json"] else _Null(),
                               batch_size=options["batch_size"], prefix=options["prefix"])
        except SeedError as error:
            raise CommandError(str(error))
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"seeded {result['accounts']} accounts, {result['meters']} meters, {result['routes']} routes in city "
                f"{result['city']} in {result['seconds']} s ({result['accounts_per_second']}/s)")


class _Null:
    def write(self, text):
        pass
