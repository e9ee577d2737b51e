"""The `gridcounter` command: Django's management commands, plus ours (quote runs without Django).

Around Django's command runner it adds what a newcomer meets first: `gridcounter --help` lists the commands by
the names the README gives them (hyphens: `import-registry`, `bill-run`), each with one line; output follows the
user's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG: Chinese when it is zh*, English otherwise); and a command
that needs the database, run against one not yet migrated, says so in one line with the command to run (exit 2).
"""
import os
import sys

# (name as typed, one-line summary), in the README's order; summaries are translated when printed
COMMANDS = [
    ("quote", "rate a usage under a tariff, with no database and no server"),
    ("demo", "build the demo city (idempotent); --print-logins prints its users"),
    ("seed", "add a synthetic city of any size, for tests and benchmarks"),
    ("import-org", "set up companies, cities, halls and staff from a CSV or .xlsx file"),
    ("import-registry", "import customers, accounts, meters, installations and routes from a CSV or .xlsx file"),
    ("import-readings", "import meter readings from a CSV or .xlsx file and validate them"),
    ("bill-run", "bill a period: clean bills issued, doubtful ones held for review"),
    ("review", "the review queue of held bills, and the auditor's decisions"),
    ("bills", "an account's bills with their lines and the sentences that explain them"),
    ("pay", "take a payment at a hall (oldest bills first, surplus kept as credit)"),
    ("reverse-payment", "take a payment back (its clerk the same open day; otherwise a supervisor, with a reason)"),
    ("gateway-callback", "simulate an online payment gateway: sign a callback and post it to the server"),
    ("ledger-check", "check that the ledger balances and its hash chain holds"),
    ("import-intervals", "import AMI 15-minute intervals (CSV or Parquet)"),
    ("withholding-export", "a bank withholding batch: each active mandate's open bills, as the bank's CSV"),
    ("withholding-results", "import a bank's withholding result file: successes posted once, failures told"),
    ("withholding-reconcile", "every line of a withholding batch: collected, failed or pending, with totals"),
    ("deliver-notices", "send the notices to customers that are due (SMS, e-mail; retries failed ones)"),
    ("workdays", "the due date of a time limit of N working days (Chinese calendar, holidays and adjusted days)"),
    ("back-bill", "the kWh to make up or refund after a meter test (Art. 80 meter error, Art. 81 wrong multiplier)"),
    ("penalty", "the late-payment penalty on an overdue bill, with its working (Art. 98)"),
    ("migrate", "create or update the database's tables (run it first, and after each upgrade)"),
    ("createsuperuser", "create an administrator"),
    ("changepassword", "set a user's password"),
    ("runserver", "serve the web app (for a trial; see docs for production)"),
]
# commands that need every migration applied before they can run
NEEDS_SCHEMA = {"demo", "seed", "import_org", "import_registry", "import_readings", "bill_run", "review", "bills",
                "pay", "reverse_payment", "ledger_check", "import_intervals", "deliver_notices",
                "withholding_export", "withholding_results", "withholding_reconcile", "createsuperuser", "changepassword"}
HELP_FLAGS = {"-h", "--help", "help"}


def user_language(environ=None) -> str:
    """`zh-hans` when the user's locale is Chinese, else `en` (GNU order: LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""
    environ = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "").strip()
        if value:
            first = value.split(":")[0].lower()
            return "zh-hans" if first.startswith("zh") else "en"
    return "en"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "quote":
        # Rating needs no database and no server: skip Django's start-up entirely.
        from gridcounter.interfaces.cli.quote import main as quote_main

        sys.exit(quote_main(argv[2:]))
    if len(argv) > 2 and argv[1] == "help" and not argv[2].startswith("-"):
        argv[2] = argv[2].replace("-", "_")  # `gridcounter help bill-run`
    if len(argv) > 1 and "-" in argv[1] and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")  # `gridcounter import-registry` runs the import_registry command
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    import django
    from django.utils import translation

    django.setup()
    translation.activate(user_language())
    if len(argv) == 1 or (len(argv) == 2 and argv[1] in HELP_FLAGS):
        sys.stdout.write(overview())
        return
    if argv[1] in NEEDS_SCHEMA and not any(a in HELP_FLAGS for a in argv[2:]):
        problem = schema_problem()
        if problem:
            sys.stderr.write(problem + "\n")
            sys.exit(2)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["gridcounter", *argv[1:]])


def overview() -> str:
    """`gridcounter --help`: the commands as the README names them, one line each."""
    from django.utils.translation import gettext as _

    width = max(len(name) for name, _summary in COMMANDS) + 2
    lines = [_("Usage: gridcounter COMMAND [options]   (gridcounter COMMAND --help for its options)"), "",
             _("Commands:")]
    lines += [f"  {name.ljust(width)}{_(summary)}" for name, summary in COMMANDS]
    lines += ["", _("Every other Django command: gridcounter help --commands"),
              _("The database is chosen by DATABASE_URL (default: gridcounter.sqlite3 in this folder)."), ""]
    return "\n".join(lines)


def schema_problem() -> str | None:
    """One line saying that the database is not (fully) migrated and what to run, or None when it is."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor
    from django.db.utils import OperationalError
    from django.utils.translation import gettext as _

    connection = connections[DEFAULT_DB_ALIAS]
    where = _database_name(connection)
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except OperationalError as error:
        return _("gridcounter: cannot open the database {where}: {error}").format(
            where=where, error=str(error).strip().splitlines()[0])
    if not pending:
        return None
    if not executor.recorder.has_table():
        return _("gridcounter: the database {where} has not been set up; run `gridcounter migrate` first").format(
            where=where)
    return _("gridcounter: the database {where} is {count} migrations behind; run `gridcounter migrate` first").format(
        where=where, count=len(pending))


def _database_name(connection) -> str:
    settings = connection.settings_dict
    name = str(settings.get("NAME") or "")
    if connection.vendor == "postgresql":
        return f"{name} ({settings.get('HOST') or 'localhost'}:{settings.get('PORT') or 5432})"
    return name


if __name__ == "__main__":
    main()
