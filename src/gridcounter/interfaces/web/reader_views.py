"""The meter reader's route on a phone: today's accounts in walking order, each reading checked at once.

The page works offline once loaded: ``static/web/reader.js`` keeps entered readings in ``localStorage``, each with
a ``client_key``, and posts them to ``reader_reading`` when the connection returns; the key makes a resent
reading count once. A reading with any finding is not stored until the reader has looked again and chosen a
note (``NOTES``); then it is stored with that note. A reading may carry a photo of the register (multipart
post, field ``photo``); it is kept with the reading for the auditor (``attach_photo``), waiting on the phone in
IndexedDB while the reading waits in the queue.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from gridcounter.application.access import (
    READER_ROLES,
    AccessDenied,
    ObjectHidden,
    access_reading_account,
    is_admin,
)
from gridcounter.application.readings import (
    PHOTO_FIELD,
    ClientKeyConflict,
    PhotoRefused,
    ReadingInputError,
    access_notes,
    attach_photo,
    check_photo,
    installation_at,
    local_date,
    parse_read_at,
    parse_value,
    photo_max_bytes,
    photo_required,
    photo_requirement,
    require_photo,
    set_access_note,
    submit_reading,
)
from gridcounter.data.audit.context import Actor
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation, Meter, Route
from gridcounter.interfaces.web.decorators import staff_required
from gridcounter.interfaces.web.typed import typed_value

# ±2 days of the fixed reading day count as on time (国网抄核收工作规范 Art. 5): those routes are "today's".
DAYS_AROUND = 2
LAST_READING_LOOKBACK_DAYS = 430
MAX_CLIENT_KEY = 64

# What a reader notes when a reading looks wrong; stored as the code in Reading.note.
NOTES = {
    "METER_FAULT": gettext_lazy("Meter fault"),
    "VACANT": gettext_lazy("Vacant flat"),
    "ACCESS_REFUSED": gettext_lazy("Access refused"),
    "TAMPERING": gettext_lazy("Tampering"),
    "CONFIRMED": gettext_lazy("Read again — value confirmed"),
}


@dataclass
class RegisterLine:
    code: str
    label: str = ""  # the register as the reader says it: 峰 / Peak, not PEAK
    last_value: object = None
    last_date: date | None = None
    last_estimate: bool = False
    done: bool = False  # already read in this cycle (on or after the fixed day − 2 days)


@dataclass
class Stop:
    """One account on the walk: where it is, which meter, and what the meter showed last time."""

    account: Account
    meter: Meter | None
    registers: list[RegisterLine] = field(default_factory=list)
    access_note: str = ""

    @property
    def done(self) -> bool:
        """Every register already read this cycle: nothing left to do here unless the reader reads again."""
        return bool(self.registers) and all(line.done for line in self.registers)


@dataclass
class RouteWalk:
    route: Route
    fixed_date: date
    stops: list[Stop]


def route_days(day: date) -> dict[int, date]:
    """Fixed reading days (day of month) whose date lies within ±2 days of ``day``, with that date."""
    return {(day + timedelta(days=k)).day: day + timedelta(days=k) for k in range(-DAYS_AROUND, DAYS_AROUND + 1)}


def _walks(*, user, day: date) -> list[RouteWalk]:
    days = route_days(day)
    routes = Route.objects.filter(reader=user, reading_day__in=list(days))
    if not is_admin(user):
        routes = routes.filter(city_id=user.city_id)
    routes = sorted(routes, key=lambda r: (abs((days[r.reading_day] - day).days), r.code))
    if not routes:
        return []
    accounts = list(
        Account.objects.filter(route__in=routes).exclude(status=Account.Status.CLOSED)
        .select_related("premise", "customer").order_by("route_id", "walk_order", "number")
    )
    installations = (
        Installation.objects.filter(account__in=accounts, installed_date__lte=day)
        .filter(Q(removed_date__isnull=True) | Q(removed_date__gt=day))
        .select_related("meter").order_by("installed_date", "id")
    )
    meter_of = {i.account_id: i.meter for i in installations}  # the latest installation wins
    last: dict[tuple[int, str], Reading] = {}
    readings = (
        Reading.objects.filter(meter__in=list(meter_of.values()), read_date__lte=day,
                               read_date__gte=day - timedelta(days=LAST_READING_LOOKBACK_DAYS))
        .filter(status__in=[Reading.Status.ACCEPTED, Reading.Status.HELD])
        .only("meter_id", "register", "value", "read_date", "read_at", "is_estimate").order_by("read_at", "id")
    )
    for reading in readings:
        last[(reading.meter_id, reading.register)] = reading
    notes = access_notes(m.pk for m in meter_of.values())
    by_route: dict[int, list[Stop]] = defaultdict(list)
    cycle_start = {r.pk: days[r.reading_day] - timedelta(days=DAYS_AROUND) for r in routes}
    for account in accounts:
        meter = meter_of.get(account.pk)
        lines = []
        for code in (meter.registers or [Reading.Register.TOTAL]) if meter else []:
            previous = last.get((meter.pk, code))
            lines.append(RegisterLine(
                code=code, label=str(Reading.Register(code).label) if code in Reading.Register.values else code,
                last_value=previous.value if previous else None,
                last_date=previous.read_date if previous else None,
                last_estimate=bool(previous and previous.is_estimate),
                done=bool(previous and previous.read_date >= cycle_start[account.route_id])))
        by_route[account.route_id].append(Stop(account=account, meter=meter, registers=lines,
                                               access_note=notes.get(meter.pk, "") if meter else ""))
    # unread stops first, each group in walking order (the sort is stable)
    return [RouteWalk(route=r, fixed_date=days[r.reading_day],
                      stops=sorted(by_route.get(r.pk, []), key=lambda stop: stop.done)) for r in routes]


SERVICE_WORKER = Path(__file__).parent / "static" / "web" / "reader-sw.js"


@require_GET
def reader_service_worker(request):
    """The route's service worker, served under /reader/ so that its scope is the route (it holds no data)."""
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
@staff_required(*READER_ROLES)
def reader_route(request):
    """Today's route(s) of the signed-in reader (``?date=YYYY-MM-DD`` for another day), in walking order."""
    today = timezone.localdate()
    day, bad_date = today, ""
    if request.GET.get("date"):
        try:
            day = date.fromisoformat(request.GET["date"])
        except ValueError:
            bad_date = request.GET["date"]
    walks = _walks(user=request.user, day=day)
    context = {
        "day": day,
        "today": today,
        "bad_date": bad_date,
        "walks": walks,
        "stops": sum(1 for w in walks for stop in w.stops if not stop.done),
        "stops_done": sum(1 for w in walks for stop in w.stops if stop.done),
        "notes": list(NOTES.items()),
        "texts": _reader_texts(),
        "photo_max_bytes": photo_max_bytes(),
        "photo_requirement": photo_requirement(),
    }
    return render(request, "web/reader/route.html", context)


@require_POST
@staff_required(*READER_ROLES)
def reader_access_note(request):
    """Write the access note of a stop's meter (form post: meter, text, date); back to the route."""
    meter = Meter.objects.filter(asset_number=request.POST.get("meter", "")).first()
    today = timezone.localdate()
    installation = installation_at(meter=meter, day=today) if meter else None
    try:
        if installation is None:
            raise ObjectHidden("meter not installed", rule="NOT_FOUND")
        access_reading_account(user=request.user, account=installation.account)
    except ObjectHidden:
        raise Http404 from None
    except AccessDenied:
        return HttpResponseForbidden()
    set_access_note(meter=meter, text=request.POST.get("text", ""), now=timezone.now(),
                    actor=Actor(user=request.user, hall=request.user.hall, reason="access note on the route",
                                channel="WEB"))
    back = reverse("reader_route")
    day = request.POST.get("date", "")
    if day:
        back += "?" + urlencode({"date": day})
    return redirect(f"{back}#stop-{installation.account.number}")


def _reader_texts() -> dict:
    """Messages reader.js shows, in the request's language."""
    return {
        "waiting": _("Waiting to send:"),
        "waiting_n": _("{n} waiting to send"),
        "offline": _("offline, kept on this phone"),
        "all_sent": _("All readings sent"),
        "attention": _("{n} need your attention"),
        "sent": _("Sent:"),
        "sent_held": _("Sent, held for review:"),
        "check": _("This reading looks wrong:"),
        "need_note": _("Choose what you see before saving."),
        "bad_value": _("Enter the number shown on the meter (at most 2 decimals)."),
        "error": _("Not sent."),
        "signin": _("Sign in again to send the waiting readings."),
        "photo_attached": _("Photo attached:"),
        "photo_remove": _("Remove photo"),
        "photo_type": _("photo: only JPEG, PNG or WebP pictures are kept; this file is none of them."),
        "photo_large": _("photo: {size} is larger than the {limit} allowed; take it again at a lower resolution."),
        "photo_needed": _("photo: take a photo of the register to send with the reading."),
        "photo_needed_flagged": _("photo: this reading looks wrong; take a photo of the register to send with it."),
        "photo_kept": _("The reading {value} was not sent and is still in the box: choose another photo, or save "
                        "without one."),
        "photo_store": _("This phone could not keep the photo; the reading was not saved. Try again, or save "
                         "without the photo."),
        "photo_sent": _("with photo"),
        "notes": {code: str(label) for code, label in NOTES.items()},
    }


def _error(status: int, message: str, *, field_name: str = "") -> JsonResponse:
    return JsonResponse({"status": "ERROR", "detail": str(message), "field": field_name}, status=status)


def _findings(outcome) -> list[dict]:
    language = translation.get_language() or "zh-hans"
    return [{"code": r["code"], "severity": r["severity"], "reason": r["reason"]} for r in outcome.reasons(language)]


@require_POST
@staff_required(*READER_ROLES)
def reader_reading(request):
    """Store one reading sent by the phone (JSON). Answers JSON, whether the page is online or catching up.

    ``{"status": "STORED", ...}`` (201 new, 200 already stored: same client_key or same reading),
    ``{"status": "CHECK", "findings": [...]}`` when the reading breaks a rule and carries no note (nothing stored:
    the reader looks again and resends with a note or another value), or ``{"status": "ERROR", "detail", "field"}``
    with 400 (bad field), 404 (unknown meter or another city's), 409 (client_key reused for another reading).
    """
    upload = None
    if request.content_type == "multipart/form-data":  # a reading with a photo of the register
        data = request.POST.dict()
        upload = request.FILES.get(PHOTO_FIELD)
    else:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, _("The request is not JSON."))
    if not isinstance(data, dict):
        return _error(400, _("The request is not JSON."))
    client_key = str(data.get("client_key") or "").strip()
    if not client_key or len(client_key) > MAX_CLIENT_KEY:
        return _error(400, _("client_key is missing or longer than 64 characters."), field_name="client_key")
    note = str(data.get("note") or "").strip().upper()
    if note and note not in NOTES:
        return _error(400, _("note “%(value)s” is not one of %(allowed)s") % {"value": note,
                                                                           "allowed": ", ".join(NOTES)},
                      field_name="note")
    meter = Meter.objects.filter(asset_number=str(data.get("meter") or "")).first()
    if meter is None:
        return _error(404, _("unknown meter “%(value)s”") % {"value": data.get("meter")}, field_name="meter")
    try:
        read_at = parse_read_at(str(data.get("read_at") or ""))
        value = parse_value(typed_value(str(data.get("value") if data.get("value") is not None else "")))
    except ReadingInputError as exc:
        return _error(400, exc, field_name=exc.field)
    installation = installation_at(meter=meter, day=local_date(read_at))
    try:
        if installation is None:
            raise ObjectHidden("meter not installed", rule="NOT_FOUND")
        access_reading_account(user=request.user, account=installation.account)
    except ObjectHidden:
        return _error(404, _("unknown meter “%(value)s”") % {"value": meter.asset_number}, field_name="meter")
    except AccessDenied:
        return _error(403, _("You may not submit readings."))
    try:
        # the photo is checked before anything is stored: a refused photo leaves the reading unsent, on the phone
        photo = None
        if upload is not None:  # one over the limit is refused on its size, never read into memory
            content = upload.read(photo_max_bytes() + 1) if upload.size <= photo_max_bytes() else b""
            photo = check_photo(content=content, size=upload.size)
    except PhotoRefused as exc:
        return _error(400, exc, field_name=exc.field)
    actor = Actor(user=request.user, hall=request.user.hall, reason="reading on the route", channel="WEB")
    register = str(data.get("register") or Reading.Register.TOTAL).upper()
    photo_row = None
    try:
        with transaction.atomic():
            outcome = submit_reading(meter=meter, register=register, read_at=read_at, value=value,
                                     source=Reading.Source.HANDHELD, actor=actor, client_key=client_key, note=note)
            if outcome.created and outcome.findings and not note:
                # Look again before it counts: nothing of this attempt is kept until the reader notes what they saw.
                transaction.set_rollback(True)
                return JsonResponse({"status": "CHECK", "client_key": client_key, "codes": outcome.codes,
                                     "findings": _findings(outcome),
                                     "photo_required": photo_required(flagged=True)})
            if outcome.created and photo is None:
                require_photo(flagged=bool(outcome.findings))
            if photo is not None:
                photo_row, _new = attach_photo(reading=outcome.reading, photo=photo, actor=actor, now=timezone.now())
    except ReadingInputError as exc:  # PhotoRefused (a required photo missing) included: nothing was stored
        return _error(400, exc, field_name=exc.field)
    except ClientKeyConflict as exc:
        return _error(409, exc, field_name="client_key")
    reading = outcome.reading
    return JsonResponse({
        "status": "STORED", "created": outcome.created, "id": reading.pk, "client_key": client_key,
        "reading_status": reading.status, "held": reading.status == Reading.Status.HELD,
        "note": reading.note, "codes": list(reading.codes or []), "findings": _findings(outcome),
        "photo": reverse("reading_photo", args=[photo_row.pk]) if photo_row else None,
    }, status=201 if outcome.created else 200)
