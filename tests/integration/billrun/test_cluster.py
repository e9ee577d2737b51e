"""The bill run on a real two-worker Dask LocalCluster, and on two threads of one process, makes the same bills as
the kernel run one batch at a time."""
from datetime import UTC, datetime

import pytest
from django.db import connection

from gridcounter.application import billrun
from gridcounter.application.ledger import check_ledger
from gridcounter.data.audit.context import acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import BillRun
from tests.factories import billing as bills
from tests.factories.cities import BILL_RUN_ACTOR as ACTOR
from tests.factories.cities import BILL_RUN_AS_OF as AS_OF
from tests.factories.cities import BILL_RUN_PERIOD as PERIOD
from tests.factories.cities import bill_run_history

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_bill_like_one_process(city):
    if connection.vendor != "postgresql":
        pytest.skip("the cluster run needs a database shared by concurrent writers: PostgreSQL "
                    "(SQLite serialises writers and cannot be shared by a real cluster)")
    from gridcounter.application.billrun import run_bills_cluster

    bill_run_history(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    _, expected = bills.rolled_back(lambda: billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created),
                                    period=PERIOD, city=city.city, actor=ACTOR)

    with acting_as(ACTOR):
        summary = run_bills_cluster(period=PERIOD, as_of=AS_OF, created_at=created, workers=2,
                                    batch_accounts=1)  # one route per batch: two tasks

    assert summary["workers"] == 2 and summary["tasks"] == 2 and summary["routes"] == 2
    assert summary["issued"] + summary["held"] == 30
    got = bills.snapshot(PERIOD, city=city.city)
    assert got == expected
    assert BillRun.objects.filter(period=PERIOD, route__city=city.city).count() == 2
    assert check_ledger().ok


def test_two_threads_bill_like_one(city):
    if connection.vendor != "postgresql":
        pytest.skip("batches on several threads need concurrent writers: PostgreSQL")
    bill_run_history(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    _, expected = bills.rolled_back(lambda: billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created),
                                    period=PERIOD, city=city.city, actor=ACTOR)
    assert billrun.default_threads() == 2  # outside a transaction, on PostgreSQL, two cores or more

    seen = []
    with acting_as(ACTOR):
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=created, batch_accounts=1,
                                              threads=2, progress=seen.append)

    assert summary.routes == 2 and summary.issued + summary.held == 30 and sum(seen) == 30
    assert bills.snapshot(PERIOD, city=city.city) == expected
    # each thread acted for the caller: the run's audit events carry the caller's reason and channel
    events = AuditEvent.objects.filter(action__in=["BILL_RUN", "LEDGER_ENTRY_POSTED"], occurred_at=created)
    runs = [str(pk) for pk in BillRun.objects.filter(period=PERIOD, route__city=city.city).values_list("pk", flat=True)]
    assert events.filter(action="BILL_RUN", object_id__in=runs).count() == 2
    assert set(events.values_list("reason", "channel")) == {(ACTOR.reason, ACTOR.channel)}
    assert check_ledger().ok


def test_the_cluster_refuses_sqlite(city):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    from gridcounter.application.billrun import ClusterNeedsSharedDatabase, run_bills_cluster

    with pytest.raises(ClusterNeedsSharedDatabase):
        run_bills_cluster(period=PERIOD, as_of=AS_OF, created_at=datetime(2025, 8, 20, 1, tzinfo=UTC), workers=2)
