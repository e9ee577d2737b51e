"""`gridcounter bill-run --period YYYY-MM [--route R] [--json] [--engine kernel|reference]
[--threads N | --workers N | --cluster URL] [--user U]`.

Bills every due account of the period. The default engine is the columnar kernel (`application.billrun`); it makes
the same bills as the reference rules drafting every account one by one (`--engine reference`), and both write
with the same writer. On PostgreSQL it bills two batches at once (`--threads`). `--workers N` runs the kernel on a
local Dask cluster of N worker processes, `--cluster tcp://HOST:PORT` on a running Dask scheduler; both need
PostgreSQL.
"""
import getpass
import json
import sys
from datetime import datetime
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from gridcounter.application import billrun
from gridcounter.application.billing import InvalidPeriod, UnknownRoute, local_today
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.org.models import Role, StaffUser
from gridcounter.data.registry.models import Account

ENGINES = billrun.ENGINES


class Command(BaseCommand):
    help = "Run the bill run for a period: issue clean bills, hold the rest for review. Rerunning is safe."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM: the month of the closing fixed-day reading")
        parser.add_argument("--route", help="only this reading route (code)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument("--due-days", type=int, default=None, help="days from issue to due date (default 15)")
        parser.add_argument("--shock-pct", default=None, help="bill-shock threshold in percent (default 50)")
        parser.add_argument("--as-of", default=None, help="business date of the run (default: today, Asia/Shanghai)")
        parser.add_argument("--user", default=None,
                            help="username of the auditor, supervisor or administrator running it (default: the "
                                 "system account's name is recorded)")
        parser.add_argument("--engine", choices=ENGINES, default="kernel",
                            help="kernel: columnar, routes in batches (default); reference: every account drafted "
                                 "one by one by the reference rules")
        parser.add_argument("--batch-accounts", type=int, default=None,
                            help="kernel: about this many accounts (whole routes) per transaction (default 20000)")
        scale = parser.add_mutually_exclusive_group()
        scale.add_argument("--threads", type=int, default=None,
                           help="kernel: batches billed at once by this process (default 2 on PostgreSQL with two "
                                "cores or more, 1 on SQLite)")
        scale.add_argument("--workers", type=int, default=None,
                           help="run on a local Dask cluster of N worker processes (PostgreSQL only)")
        scale.add_argument("--cluster", default=None, metavar="tcp://HOST:PORT",
                           help="run on the Dask cluster whose scheduler is at this address (PostgreSQL only)")

    def handle(self, *args, **options):
        engine, workers, cluster = options["engine"], options["workers"], options["cluster"]
        distributed = workers is not None or cluster is not None
        if distributed:
            if engine != "kernel":
                raise CommandError(_("--workers and --cluster run the kernel engine only"), returncode=2)
            if workers is not None and workers < 1:
                raise CommandError(_("--workers needs at least one worker"), returncode=2)
            if connection.vendor != "postgresql":
                raise CommandError(_("--workers and --cluster need PostgreSQL (set DATABASE_URL to a PostgreSQL "
                                     "database every worker can reach); this database is %(vendor)s")
                                   % {"vendor": connection.vendor}, returncode=2)
        threads = options["threads"]
        if threads is not None:
            if engine != "kernel":
                raise CommandError(_("--threads applies to the kernel engine only"), returncode=2)
            if threads < 1:
                raise CommandError(_("--threads needs at least one thread"), returncode=2)
            if threads > 1 and connection.vendor != "postgresql":
                raise CommandError(_("--threads above 1 needs PostgreSQL (SQLite has a single writer); this "
                                     "database is %(vendor)s") % {"vendor": connection.vendor}, returncode=2)
        batch = {"batch_accounts": options["batch_accounts"]} if options["batch_accounts"] else {}
        if batch and engine != "kernel":
            raise CommandError(_("--batch-accounts applies to the kernel engine only"), returncode=2)
        now = timezone.now()
        try:
            as_of = datetime.strptime(options["as_of"], "%Y-%m-%d").date() if options["as_of"] else local_today(now)
        except ValueError:
            raise CommandError(_("--as-of must be a date YYYY-MM-DD"), returncode=2) from None
        shock = Decimal(options["shock_pct"]) if options["shock_pct"] else None
        actor = self._actor(options["user"], period=options["period"])
        accounts = Account.objects.filter(route__isnull=False).exclude(status=Account.Status.PENDING)
        if options["route"]:
            accounts = accounts.filter(route__code=options["route"])
        bar = tqdm(total=accounts.count(), desc=f"bill run {options['period']}", unit="acct", file=sys.stderr,
                   disable=None)
        common = {"period": options["period"], "as_of": as_of, "created_at": now, "progress": bar.update}
        try:
            with acting_as(actor):
                if distributed:
                    data = billrun.run_bills_cluster(
                        **common, scheduler_address=cluster, workers=workers,
                        route_codes=[options["route"]] if options["route"] else None,
                        due_days=options["due_days"], shock_threshold_pct=shock, **batch)
                else:
                    data = billrun.run_bills(**common, route_code=options["route"], due_days=options["due_days"],
                                             shock_threshold_pct=shock, threads=threads, engine=engine,
                                             **batch).as_dict()
        except (InvalidPeriod, UnknownRoute) as error:
            raise CommandError(str(error)) from None
        finally:
            bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        self.stdout.write(_("Period %(period)s: %(issued)d issued, %(held)d held, %(skipped)d skipped, "
                            "%(not_due)d not due yet") % data)
        for code, count in data["held_by_code"].items():
            self.stdout.write(f"  {code}: {count}")

    RUNS_BILLS = (Role.Code.AUDITOR, Role.Code.SUPERVISOR, Role.Code.ADMIN)

    def _actor(self, username: str | None, *, period: str) -> Actor:
        """Who the run's bills, entries and events name: the staff user of `--user` (an auditor, supervisor or
        administrator), else the name of the system account that runs the command."""
        reason = f"bill run {period}"
        if not username:
            return Actor(reason=reason, channel="CLI", name=getpass.getuser())
        user = StaffUser.objects.filter(username=username, is_active=True).select_related("hall").first()
        if user is None:
            raise CommandError(_("No active user %(name)s.") % {"name": username}, returncode=2)
        if not (user.is_superuser or user.has_role(*self.RUNS_BILLS)):
            raise CommandError(_("%(name)s may not run a bill run: it takes a billing auditor, a supervisor or an "
                                 "administrator.") % {"name": username}, returncode=2)
        return Actor(user=user, hall=user.hall, reason=reason, channel="CLI")
