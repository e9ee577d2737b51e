"""`gridcounter seed`: synthetic cities of any size, numbered on from what is there; PostgreSQL's backstop."""
import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from gridcounter.application.demo import account_prefix
from gridcounter.data.registry.models import Account, Installation, Meter, Route

pytestmark = pytest.mark.django_db


def seed(n, code="TSTX"):
    out = StringIO()
    call_command("seed", "--accounts", str(n), "--city-code", code, "--batch-size", "100", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_seed_builds_a_city_in_batches_and_a_second_run_adds_more():
    first = seed(250)
    assert first["accounts"] == 250 and first["routes"] == 2
    accounts = Account.objects.filter(city__code="TSTX")
    prefix = account_prefix("TSTX")
    assert accounts.count() == 250
    assert not accounts.exclude(number__startswith=prefix).exists()
    assert not Route.objects.filter(city__code="TSTX", reader__isnull=True).exists()
    assert Installation.objects.filter(account__city__code="TSTX", removed_date__isnull=True).count() == 250

    seed(30)

    assert accounts.count() == 280
    assert max(accounts.values_list("number", flat=True)) == f"{prefix}{280:07d}"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="exclusion constraints exist on PostgreSQL only")
def test_postgresql_refuses_overlapping_installations_even_behind_the_use_cases():
    seed(5, code="TSTY")
    installation = Installation.objects.filter(account__city__code="TSTY").first()
    other = Account.objects.filter(city__code="TSTY").exclude(pk=installation.account_id).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Installation.objects.create(meter=installation.meter, account=other,
                                    installed_date=date(2026, 1, 1))
    assert Meter.objects.filter(pk=installation.meter_id).exists()


def test_a_seeded_city_leaves_the_planner_its_statistics():
    """After a bulk load the database has statistics for the new rows, so that a search prefix reads one index
    range instead of the whole city (SQLite's planner, without them, cannot tell the two apart)."""
    seed(120, code="TSTS")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'registry_account'")
        else:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'registry_account'")
        assert cursor.fetchone()[0] > 0
