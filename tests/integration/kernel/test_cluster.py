"""The bill run on a real two-worker Dask LocalCluster makes the same bills as the single-process kernel run."""
from datetime import UTC, datetime

import pytest
from django.db import connection

from gridcounter.application import billrun_fast
from gridcounter.application.ledger import check_ledger
from gridcounter.data.audit.context import acting_as
from gridcounter.data.billing.models import BillRun
from tests.integration.kernel.test_billrun_fast import (  # noqa: F401
    ACTOR,
    AS_OF,
    PERIOD,
    build,
    city,
    rolled_back,
    snapshot,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_bill_like_one_process(city):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("the cluster run needs a database shared by concurrent writers: PostgreSQL "
                    "(SQLite serialises writers and cannot be shared by a real cluster)")
    from gridcounter.application.cluster import run_bills_cluster

    build(city)
    created = datetime(2025, 8, 20, 1, tzinfo=UTC)
    _, expected = rolled_back(lambda: billrun_fast.run_bills_fast(period=PERIOD, as_of=AS_OF, created_at=created))

    with acting_as(ACTOR):
        summary = run_bills_cluster(period=PERIOD, as_of=AS_OF, created_at=created, workers=2,
                                    batch_accounts=1)  # one route per batch: two tasks

    assert summary["workers"] == 2 and summary["tasks"] == 2 and summary["routes"] == 2
    assert summary["issued"] + summary["held"] == 30
    got = snapshot(PERIOD)
    assert got == expected
    assert BillRun.objects.filter(period=PERIOD).count() == 2
    assert check_ledger().ok


def test_the_cluster_refuses_sqlite(city):  # noqa: F811
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    from gridcounter.application.cluster import ClusterNeedsSharedDatabase, run_bills_cluster

    with pytest.raises(ClusterNeedsSharedDatabase):
        run_bills_cluster(period=PERIOD, as_of=AS_OF, created_at=datetime(2025, 8, 20, 1, tzinfo=UTC), workers=2)
