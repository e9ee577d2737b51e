"""Service request screens: a new request from the customer screen, the request page with its steps, documents and
the form of the current step, the work orders of installers and readers, the supervisor's steps due."""
from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from gridcounter.application.access import (
    OPEN_REQUEST_ROLES,
    OVERDUE_VIEW_ROLES,
    SERVICE_REQUEST_ROLES,
    WORK_ORDER_ROLES,
    access_account_by_number,
    access_service_document,
    access_service_request,
    is_admin,
    require_request_opener,
    work_order_city_id,
)
from gridcounter.application.registry import known_tariffs, tariff_problem
from gridcounter.application.service import (
    DocumentRefused,
    RequestInputError,
    StepRefused,
    attach_document,
    check_document,
    complete_step,
    open_request,
    overdue_days,
    request_types,
    request_view,
    requests_of_account,
    steps_due,
    work_due,
)
from gridcounter.application.working_calendar import working_calendar
from gridcounter.data.audit.context import Actor
from gridcounter.data.registry.models import Customer
from gridcounter.domain.service import DOCUMENT_NAMES, document_name, step_name
from gridcounter.domain.working_days import OutsideWorkingCalendar, next_working_day
from gridcounter.interfaces.web.decorators import staff_required
from gridcounter.interfaces.web.photo_views import IMAGE_POLICY

FORM_FIELDS = ("meter", "meter_digits", "multiplier", "reading", "installed_date", "tariff_id", "account_number")


def _zh(request) -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def _types(request) -> list[dict]:
    zh = _zh(request)
    kinds = request_types().in_force(on=timezone.localdate())
    return [{"code": code, "name": kind.name(zh=zh),
             "checklist": [(step_name(s.code, zh=zh), [(" 或 " if zh else " or ").join(
                 document_name(k, zh=zh) for k in sorted(group)) for group in s.documents], s.days)
                 for s in kind.steps]}
            for code, kind in kinds.items()]


@staff_required(*OPEN_REQUEST_ROLES)
def new_request(request, number: str):
    """The form of a new request for the account's customer (GET), opening it (POST) and on to its page."""
    account = access_account_by_number(user=request.user, number=number)
    hall = require_request_opener(request.user, hall=request.user.hall)
    customer = account.customer
    typed = {"request_type": "NEW_CONNECTION_RESIDENTIAL", "applicant_name": customer.name,
             "id_type": customer.id_type, "id_number": customer.id_number, "phone": customer.phone, "address": "",
             "capacity_kva": "", "key": f"web-{uuid.uuid4().hex}"}
    error = None
    if request.GET.get("request_type") in {kind["code"] for kind in _types(request)}:
        typed["request_type"] = request.GET["request_type"]  # the checklist of the type chosen (htmx)
    if request.method == "POST":
        typed = {k: request.POST.get(k, "").strip() for k in typed}
        same_person = (typed["id_type"], typed["id_number"].upper()) == (customer.id_type, customer.id_number)
        try:
            opened, _created = open_request(
                request_type=typed["request_type"], hall=hall, applicant_name=typed["applicant_name"],
                id_type=typed["id_type"], id_number=typed["id_number"], address=typed["address"],
                phone=typed["phone"], capacity_kva=typed["capacity_kva"] or None,
                customer=customer if same_person else None, origin_account=account,
                actor=Actor(user=request.user, hall=hall, reason="service request opened", channel="WEB"),
                now=timezone.now(), idempotency_key=typed["key"] or None)
        except RequestInputError as exc:
            error = {"field": exc.field, "text": str(exc)}
        else:
            messages.success(request, _("Request %(number)s opened. Give the applicant its number.")
                             % {"number": opened.number})
            return redirect("service_request", number=opened.number)
    return render(request, "web/service/new.html", {
        "account": account, "typed": typed, "error": error, "types": _types(request),
        "id_types": Customer.IdType.choices}, status=400 if error else 200)


def _tariffs_for(usage_category: str) -> list[str]:
    tariffs = known_tariffs()
    return sorted(t for t in tariffs if tariff_problem(tariff_id=t, usage_category=usage_category, tariffs=tariffs)
                  is None)


def _request_page(request, found, *, typed: dict | None = None, error: dict | None = None, status: int = 200):
    view = request_view(found, as_of=timezone.localdate())
    user = request.user
    mine = found.state == "OPEN" and (is_admin(user) or user.has_role(found.current_role))
    kind = request_types().get(found.request_type, on=found.rules_effective_date)
    context = {
        "view": view, "service_request": found, "mine": mine, "typed": typed or {}, "error": error,
        "document_kinds": [(k, document_name(k, zh=_zh(request))) for k in DOCUMENT_NAMES],
        "may_attach": found.state == "OPEN" and (is_admin(user) or user.has_role(*OPEN_REQUEST_ROLES, found.current_role)),
        "today": timezone.localdate().isoformat(),
    }
    if mine and found.current_step == "ACCOUNT":
        context["tariffs"] = _tariffs_for(kind.usage_category)
    return render(request, "web/service/request.html", context, status=status)


@require_GET
@staff_required(*SERVICE_REQUEST_ROLES)
def request_page(request, number: str):
    """A request: its steps (who did each, when, from which hall, on time or late), due dates, documents, and the
    form of the current step for the role whose step it is. Another city's request answers 404."""
    return _request_page(request, access_service_request(user=request.user, number=number))


@require_POST
@staff_required(*SERVICE_REQUEST_ROLES)
def request_step(request, number: str):
    """Complete the step posted; refused by its guard (the reason shown above the form, 409) or by what was typed
    (beside the field, 400). A resubmitted form completes it once."""
    found = access_service_request(user=request.user, number=number)
    step = request.POST.get("step", "")
    note = request.POST.get("note", "").strip()[:2000]
    typed = {k: request.POST.get(k, "").strip() for k in FORM_FIELDS} | {"note": note}
    actor = Actor(user=request.user, hall=request.user.hall, reason=note or step, channel="WEB")
    try:
        outcome = complete_step(request=found, step=step, actor=actor, now=timezone.now(),
                                data={k: v for k, v in typed.items() if v and k != "note"}, note=note)
    except StepRefused as exc:
        return _request_page(request, found, typed=typed, error={"code": exc.code, "text": str(exc), "field": ""},
                             status=409)
    except RequestInputError as exc:
        return _request_page(request, found, typed=typed, error={"code": exc.code, "text": str(exc),
                                                                 "field": exc.field}, status=400)
    name = step_name(step, zh=_zh(request))
    return _done(request, found, created=outcome.created, done=_("“%(step)s” done.") % {"step": name},
                 again=_("“%(step)s” was done already; nothing was changed.") % {"step": name})


def _done(request, found, *, created: bool, done: str, again: str):
    """Back to the request page, saying what was done (or that a resubmitted form changed nothing)."""
    if created:
        messages.success(request, done)
    else:
        messages.info(request, again)
    return redirect("service_request", number=found.number)


@require_POST
@staff_required(*SERVICE_REQUEST_ROLES)
def request_document(request, number: str):
    """Keep an uploaded document with the request (PDF, JPEG or PNG, size-limited); refused ones say why (400)."""
    found = access_service_request(user=request.user, number=number)
    upload = request.FILES.get("file")
    kind = request.POST.get("kind", "")
    try:
        if upload is None:
            raise DocumentRefused(_("document: choose a file."), code="EMPTY")
        checked = check_document(content=upload.read(), size=upload.size)
        document, created = attach_document(
            request=found, kind=kind, document=checked, original_name=upload.name or "",
            actor=Actor(user=request.user, hall=request.user.hall, reason="document attached", channel="WEB"),
            now=timezone.now())
    except DocumentRefused as exc:
        return _request_page(request, found, error={"code": exc.code, "text": str(exc), "field": "document"},
                             status=400)
    label = capfirst(document_name(document.kind, zh=_zh(request)))
    return _done(request, found, created=created, done=_("%(document)s kept.") % {"document": label},
                 again=_("%(document)s was kept already.") % {"document": label})


@require_GET
@staff_required(*SERVICE_REQUEST_ROLES)
def request_document_file(request, pk: int):
    """A document's bytes, with its stored content type; never a public media URL."""
    document = access_service_document(user=request.user, document_id=pk)
    try:
        handle = document.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=document.content_type, as_attachment=False,
                            filename=f"{document.request.number}-{document.kind.lower()}-{document.pk}."
                                     f"{document.file.name.rsplit('.', 1)[-1]}")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = IMAGE_POLICY
    return response


def _rows(requests, *, as_of, zh: bool):
    rows = []
    for found in requests:
        found.late_days = overdue_days(found, as_of=as_of)
        found.step_label = step_name(found.current_step, zh=zh) if found.current_step else ""
        rows.append(found)
    return rows


def service_request_rows(account) -> list:
    """The customer screen's requests of the account, each with its current step's name and how late it is."""
    return _rows(requests_of_account(account).select_related("opened_hall"), as_of=timezone.localdate(),
                 zh=_zh(None))


@require_GET
@staff_required(*WORK_ORDER_ROLES)
def work_orders(request):
    """The steps waiting for the user's role in their city (installers: surveys, installations, energising;
    readers: sign-offs and first readings), soonest due first."""
    return render_work_orders(request)


def render_work_orders(request):
    """The work orders page (also the installer's home). Raises AccessDenied (not an installer or reader)."""
    city_id = work_order_city_id(request.user, *WORK_ORDER_ROLES)
    today = timezone.localdate()
    roles = [r for r in WORK_ORDER_ROLES if is_admin(request.user) or request.user.has_role(r)]
    orders = []
    for role in roles:
        orders.extend(_rows(work_due(city_id=city_id, role=role), as_of=today, zh=_zh(request)))
    orders.sort(key=lambda r: (r.current_due_date or today, r.opened_at))
    return render(request, "web/service/work.html", {"orders": orders, "today": today})


@require_GET
@staff_required(*OVERDUE_VIEW_ROLES)
def steps_due_view(request):
    """The supervisor's list: every open request of the city whose current step is overdue or due by the next
    working day."""
    city_id = work_order_city_id(request.user, *OVERDUE_VIEW_ROLES)
    today = timezone.localdate()
    try:
        within = next_working_day(today, calendar=working_calendar())
    except OutsideWorkingCalendar:
        within = today
    rows = _rows(steps_due(city_id=city_id, as_of=today, within=within), as_of=today, zh=_zh(request))
    return render(request, "web/service/due.html", {"rows": rows, "today": today, "within": within})
