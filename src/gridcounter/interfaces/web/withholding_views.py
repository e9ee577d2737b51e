"""The supervisor's bank withholding screens: the batches of the city, and one batch reconciled line by line."""
from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from gridcounter.application.access import DAY_VIEW_ROLES, withholding_city_ids
from gridcounter.application.withholding import BatchUnknown, batches_of, find_batch, reconcile
from gridcounter.interfaces.web.decorators import staff_required

BATCHES_SHOWN = 50


@staff_required(*DAY_VIEW_ROLES)
def batches(request):
    """``/supervisor/withholding/``: the newest batches of the supervisor's city, each with its lines collected,
    failed and pending."""
    city_ids = withholding_city_ids(request.user)
    return render(request, "web/counter/withholding_batches.html", {
        "batches": [reconcile(batch) for batch in batches_of(city_ids=city_ids)[:BATCHES_SHOWN]]})


@staff_required(*DAY_VIEW_ROLES)
def batch(request, number: str):
    """``/supervisor/withholding/<number>/``: every line of the batch, its state and the totals. Another city's
    batch answers 404."""
    try:
        found = find_batch(number, city_ids=withholding_city_ids(request.user))
    except BatchUnknown:
        raise Http404("no such batch") from None
    return render(request, "web/counter/withholding_batch.html", {"r": reconcile(found)})
