"""Django's flush, able to empty the append-only ledger and audit tables (`data.ledger.guard.maintenance`).

Emptying a database is what the test runner does between tests and what an administrator does to reset a demo;
on PostgreSQL it needs a superuser, whose `session_replication_role` is the only way past the ledger's triggers.
"""
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from gridcounter.data.ledger.guard import maintenance


class Command(DjangoFlush):
    def handle(self, **options):
        with maintenance(connections[options["database"]]):
            return super().handle(**options)
