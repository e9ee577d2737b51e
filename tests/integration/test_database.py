"""The database keeps what it was told to keep: on SQLite a commit is on disk when it returns."""
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_every_sqlite_connection_syncs_each_commit():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL syncs its log at every commit by default (fsync, synchronous_commit)")
    connection.close()  # a new connection, set up as the application's are (settings.py's init_command)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 2  # FULL: in WAL mode NORMAL (1) may lose the last commits on a power cut
