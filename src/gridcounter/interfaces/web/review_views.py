"""The auditor's review queue: held bills by rule, route and reader; reading history and decisions (htmx)."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from gridcounter.application.access import REVIEW_ROLES, ObjectHidden, access_account, review_city_id
from gridcounter.application.billing import (
    BillNotHeld,
    CorrectionRefused,
    Decision,
    HeldBill,
    ReasonRequired,
    decide,
    held_bill,
    held_bills,
    reason_text,
)
from gridcounter.application.counter import finding_text
from gridcounter.application.readings import photos_by_reading
from gridcounter.data.billing.models import Bill, ReviewDecision
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Route
from gridcounter.interfaces.web.decorators import staff_required
from gridcounter.interfaces.web.reader_views import NOTES

HISTORY_CYCLES = 13
QUEUE_LIMIT = 500

OUTCOMES = {
    Decision.RELEASE: gettext_lazy("Released: the bill is issued as it is."),
    Decision.CORRECT_READING: gettext_lazy("Reading corrected: the bill was cancelled and rebilled."),
    Decision.ORDER_REREAD: gettext_lazy("On-site re-read ordered: the bill stays held."),
    Decision.ESTIMATE: gettext_lazy("Reading estimated: the bill was cancelled and rebilled."),
}


@dataclass
class Row:
    """One held bill on the queue page, with its reasons in the request's language."""

    bill_id: int
    account: str
    customer: str
    period: str
    route: str
    reader: str
    amount_fen: int
    kwh: str
    codes: list[str]
    reasons: list[dict]  # {"code", "text"}
    photos: list = field(default_factory=list)  # photos of the register sent with the bill's readings, newest first


@dataclass
class HistoryRow:
    reading: Reading
    kwh: Decimal | None  # consumption since the previous reading of the same meter (× multiplier)
    note_label: str


def _row(item: HeldBill, *, language: str) -> Row:
    return Row(bill_id=item.bill_id, account=item.account, customer=item.customer, period=item.period,
               route=item.route, reader=item.reader, amount_fen=item.amount_fen, kwh=item.kwh,
               codes=item.hold_codes,
               reasons=[{"code": r.get("code", ""), "text": reason_text(r, language=language)} for r in item.reasons])


def _row_for_bill(bill: Bill, *, language: str) -> Row:
    row = _row(held_bill(bill), language=language)
    _with_photos([row])
    return row


def _with_photos(rows: list[Row]) -> None:
    """Give each row the photos of the readings its bill was built on (two queries for the page)."""
    used = {pk: [i for i in (readings or {}).get("_reading_ids", []) if i]
            for pk, readings in Bill.objects.filter(pk__in=[r.bill_id for r in rows]).values_list("pk", "readings")}
    photos = photos_by_reading({i for ids in used.values() for i in ids})
    for row in rows:
        row.photos = sorted((p for i in used.get(row.bill_id, []) for p in photos.get(i, [])),
                            key=lambda p: (p.uploaded_at, p.pk), reverse=True)


COUNTER_NOTES = {
    "CONFIRMED": gettext_lazy("Confirmed with the customer at the counter"),
    "CARRIED_FROM_CUSTOMER": gettext_lazy("Carried to the fixed day from the customer's reading"),
}


def _note_label(reading: Reading) -> str:
    if reading.source in (Reading.Source.CUSTOMER, Reading.Source.ESTIMATE) and reading.note in COUNTER_NOTES:
        return str(COUNTER_NOTES[reading.note])
    return str(NOTES.get(reading.note, reading.note))


def _history(bill: Bill, *, language: str) -> dict[str, list[HistoryRow]]:
    """Per register of the bill: its last 13 cycles, newest first, each with the consumption it recorded."""
    registers = [k for k in (bill.readings or {}) if not k.startswith("_")] or [Reading.Register.TOTAL]
    out = {}
    for register in registers:
        readings = list(
            Reading.objects.filter(account_id=bill.account_id, register=register)
            .exclude(status=Reading.Status.SUPERSEDED)
            .select_related("meter", "derived_from").order_by("-read_at", "-id")[:HISTORY_CYCLES + 1]
        )
        readings.reverse()
        photos = photos_by_reading(r.pk for r in readings)
        rows = []
        for before, after in zip([None, *readings], readings, strict=False):
            kwh = None
            if before is not None and before.meter_id == after.meter_id:
                kwh = (after.value - before.value) * after.meter.multiplier
            after.finding_texts = [finding_text(f, language=language) for f in after.findings or []]
            after.photo_list = photos.get(after.pk, [])
            rows.append(HistoryRow(reading=after, kwh=kwh, note_label=_note_label(after)))
        out[register] = list(reversed(rows))[:HISTORY_CYCLES]
    return out


def _scoped_bill(request, bill_id: int) -> Bill:
    """The bill, if the user reviews its city. Raises ObjectHidden (another city's or no such bill)."""
    review_city_id(request.user)
    bill = (Bill.objects.select_related("account", "account__customer", "account__route", "account__route__reader")
            .filter(pk=bill_id).first())
    if bill is None:
        raise ObjectHidden("no such bill", rule="NOT_FOUND")
    access_account(user=request.user, account=bill.account)
    return bill


def _bill_context(request, bill: Bill, *, expanded: bool, outcome: str = "", error: str = "",
                  decision: ReviewDecision | None = None, form: dict | None = None) -> dict:
    language = translation.get_language() or "zh-hans"
    return {
        "row": _row_for_bill(bill, language=language),
        "held": bill.status == Bill.Status.HELD,
        "expanded": expanded,
        "history": _history(bill, language=language) if expanded else {},
        "registers": [k for k in (bill.readings or {}) if not k.startswith("_") and k != "REACTIVE"] or ["TOTAL"],
        "outcome": outcome,
        "error": error,
        "decision": decision,
        "form": form or {},
        "decisions": Decision,
    }


@require_GET
@staff_required(*REVIEW_ROLES)
def review_queue(request):
    """Held bills of the reviewer's city, filtered by period, rule code, route and reader."""
    city_id = review_city_id(request.user)
    language = translation.get_language() or "zh-hans"
    period = request.GET.get("period", "").strip()
    rule = request.GET.get("rule", "").strip().upper()
    route_code = request.GET.get("route", "").strip()
    reader = request.GET.get("reader", "").strip()

    routes = Route.objects.select_related("reader").order_by("code")
    if city_id is not None:
        routes = routes.filter(city_id=city_id)
    routes = list(routes)
    readers = {r.reader_id: r.reader for r in routes if r.reader_id}
    items = held_bills(period=period or None, rule=rule or None, route_code=route_code or None, city_id=city_id)
    if reader:
        codes = {r.code for r in routes if str(r.reader_id) == reader}
        items = [i for i in items if i.route in codes]
    held_scope = Bill.objects.filter(status=Bill.Status.HELD)
    if city_id is not None:
        held_scope = held_scope.filter(account__city_id=city_id)
    rule_codes = sorted({c for codes in held_scope.values_list("hold_codes", flat=True) for c in codes or []})
    periods = sorted(set(held_scope.values_list("period", flat=True)), reverse=True)
    rows = [_row(i, language=language) for i in items[:QUEUE_LIMIT]]
    _with_photos(rows)
    context = {
        "rows": rows,
        "total": len(items),
        "limit": QUEUE_LIMIT,
        "filters": {"period": period, "rule": rule, "route": route_code, "reader": reader},
        "periods": periods,
        "rule_codes": rule_codes,
        "routes": routes,
        "readers": sorted(readers.items(), key=lambda kv: str(kv[1])),
    }
    return render(request, "web/review/queue.html", context)


@require_GET
@staff_required(*REVIEW_ROLES)
def review_bill(request, bill_id: int):
    """One row of the queue, expanded (reading history and decisions) or collapsed (``?collapse=1``)."""
    bill = _scoped_bill(request, bill_id)
    expanded = request.GET.get("collapse") != "1"
    return render(request, "web/review/_bill.html", _bill_context(request, bill, expanded=expanded))


@require_POST
@staff_required(*REVIEW_ROLES)
def review_decide(request, bill_id: int):
    """Record the auditor's decision through ``review.decide`` and re-render the row with the outcome."""
    bill = _scoped_bill(request, bill_id)
    decision = request.POST.get("decision", "").upper()
    reason = request.POST.get("reason", "")
    value = request.POST.get("value", "").strip()
    register = request.POST.get("register", "").strip().upper() or None
    form = {"decision": decision, "reason": reason, "value": value}
    try:
        made = decide(bill=bill, decision=decision, reason=reason, decided_at=timezone.now(),
                      as_of=timezone.localdate(), register=register, value=value or None)
    except ReasonRequired:
        error = _("Give a reason for the decision.")
    except BillNotHeld:
        error = _("This bill is no longer held: someone decided on it already.")
    except CorrectionRefused as exc:
        error = _("The decision was refused: %(why)s") % {"why": exc}
    else:
        bill.refresh_from_db()
        context = _bill_context(request, bill, expanded=bill.status == Bill.Status.HELD,
                                outcome=str(OUTCOMES[made.decision]), decision=made)
        return render(request, "web/review/_bill.html", context)
    # 200, not 4xx: htmx swaps the row in place so that the auditor sees the message beside the form.
    context = _bill_context(request, bill, expanded=True, error=error, form=form)
    return render(request, "web/review/_bill.html", context)

