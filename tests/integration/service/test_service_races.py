"""The same step sent twice at once (a double tap, a retry while the first is still running) completes once."""
from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.service.models import ServiceStep
from tests.factories import service
from tests.factories.races import Concurrently, run_after

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite serialises writers on the whole database file; row locks need PostgreSQL"),
]


def test_an_installation_sent_twice_at_once_is_recorded_once(small_city, photo_media):
    now = timezone.now()
    request = service.through(service.residential(clerk=small_city.clerk, now=now), "SUPPLY_PLAN", world=small_city,
                              now=now)
    data = {"meter": "XN2026000555", "meter_digits": "6", "reading": "0"}
    second = Concurrently(lambda: service.step(request, "INSTALLATION", by=small_city.installer, now=now, **data))

    # the second arrives while the first holds the request's lock: it waits, then finds the step done
    seen = []
    with run_after("gridcounter.application.service._requests.facts_of", lambda: seen.append(second.start())):
        first = service.step(request, "INSTALLATION", by=small_city.installer, now=now, **data)
    again = second.join()

    assert seen == ["blocked"]
    assert first.created and not again.created and again.step.pk == first.step.pk
    assert ServiceStep.objects.filter(request=request, step="INSTALLATION").count() == 1
    assert AuditEvent.objects.filter(action="SERVICE_STEP_COMPLETED", object_id=str(request.pk),
                                     detail__step="INSTALLATION").count() == 1
