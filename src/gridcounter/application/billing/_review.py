"""The review queue: held bills, and the auditor's decisions on them (release, correct, re-read, estimate)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from gridcounter.application import ledger
from gridcounter.application.billing._run import (
    bills_using_readings,
    due_days_setting,
    rebill,
)
from gridcounter.data.audit.context import current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.billing.models import Bill, ReviewDecision
from gridcounter.data.readings.models import Reading, SiteVisitOrder
from gridcounter.data.registry.models import Meter
from gridcounter.domain.business_time import BUSINESS_TZ

Decision = ReviewDecision.Decision

__all__ = [
    "BillNotHeld", "CorrectionRefused", "Decision", "HeldBill", "ReasonRequired", "correct_issued_reading",
    "correct_reading", "decide",
    "estimate_reading", "held_bill", "held_bills", "order_reread", "release_bill",
]


class BillNotHeld(Exception):
    """Only a held bill is reviewed (it may have been released or replaced already)."""


class ReasonRequired(ValueError):
    """Every review decision needs a reason."""


class CorrectionRefused(ValueError):
    """The corrected reading cannot be used: unknown register, unreadable or negative value, nothing to estimate.

    The message is in the active language and names the field; ``field`` is the form's or API's field name.
    """

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class HeldBill:
    bill_id: int
    account: str
    customer: str
    period: str
    route: str
    reader: str
    amount_fen: int
    kwh: str
    hold_codes: list[str]
    reasons: list[dict]  # the explanation entries that hold the bill: code, numbers, text_zh, text_en

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def held_bill(bill: Bill) -> HeldBill:
    """One bill as the review queue lists it (its account, customer and route with reader loaded)."""
    route = bill.account.route
    reader = route.reader if route else None
    holds = set(bill.hold_codes or [])
    return HeldBill(
        bill_id=bill.pk, account=bill.account.number, customer=bill.account.customer.name, period=bill.period,
        route=route.code if route else "", reader=(str(reader) if reader else ""), amount_fen=bill.amount_fen,
        kwh=str(bill.kwh), hold_codes=list(bill.hold_codes or []),
        reasons=[r for r in bill.explanation or [] if r.get("code") in holds],
    )


def held_bills(*, period: str | None = None, rule: str | None = None, route_code: str | None = None,
               city_id: int | None = None, limit: int | None = None) -> list[HeldBill]:
    """Held bills, by route and walking order; `rule` filters on a hold code, `city_id` scopes to a city."""
    qs = (Bill.objects.filter(status=Bill.Status.HELD)
          .select_related("account", "account__customer", "account__route", "account__route__reader")
          .order_by("period", "account__route__code", "account__walk_order", "id"))
    if period:
        qs = qs.filter(period=period)
    if route_code:
        qs = qs.filter(account__route__code=route_code)
    if city_id is not None:
        qs = qs.filter(account__city_id=city_id)
    out = []
    for bill in qs:
        if rule and rule not in (bill.hold_codes or []):
            continue
        out.append(held_bill(bill))
        if limit and len(out) >= limit:
            break
    return out


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired("a review decision needs a reason")
    return reason.strip()


def _held(bill: Bill) -> Bill:
    """The held bill, locked after its account (the ledger's lock order). Raises: BillNotHeld."""
    ledger.lock_account(Bill.objects.values_list("account_id", flat=True).get(pk=bill.pk))
    bill = Bill.objects.select_for_update(of=("self",)).select_related("account", "account__route", "account__customer").get(
        pk=bill.pk)
    if bill.status != Bill.Status.HELD:
        raise BillNotHeld(f"bill {bill.pk} ({bill.account} {bill.period}) is {bill.status}, not held")
    return bill


def _decision(*, bill: Bill, decision: str, reason: str, decided_at: datetime, new_bill: Bill | None = None,
              detail: dict | None = None) -> ReviewDecision:
    actor = current_actor()
    row = ReviewDecision.objects.create(
        bill=bill, decision=decision, reason=reason, decided_at=decided_at,
        decided_by=actor.user if getattr(actor.user, "pk", None) else None,
        hall=actor.hall if getattr(actor.hall, "pk", None) else None, new_bill=new_bill, detail=detail or {},
    )
    record_event(action=f"REVIEW_{decision}", obj=bill, occurred_at=decided_at, reason=reason,
                 detail={"account": bill.account.number, "period": bill.period, "hold_codes": bill.hold_codes,
                         "decision": decision, "new_bill": new_bill.pk if new_bill else None, **(detail or {})})
    return row


def _reading_ids(bill: Bill) -> list[int]:
    return list((bill.readings or {}).get("_reading_ids", []))


@ledger.retrying
def release_bill(*, bill: Bill, reason: str, decided_at: datetime, as_of: date) -> ReviewDecision:
    """Issue a held bill as it is (the auditor accepts its readings) and post it to the ledger.

    The held readings it rests on are accepted, so the next period's bill does not stop on them again.
    Raises: BillNotHeld, ReasonRequired.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        bill = _held(bill)
        for reading in Reading.objects.select_for_update().filter(pk__in=_reading_ids(bill), status=Reading.Status.HELD):
            reading.status = Reading.Status.ACCEPTED
            reading._change_reason = f"released with bill {bill.pk}: {reason}"[:100]
            reading.save(update_fields=["status"])
        held_codes = list(bill.hold_codes)
        bill.status = Bill.Status.ISSUED
        bill.issued_date = as_of
        bill.due_date = as_of + timedelta(days=due_days_setting())
        bill.explanation = [
            {**r, "numbers": {**r.get("numbers", {}), "released": True}} if r.get("code") in held_codes else r
            for r in bill.explanation or []
        ]
        bill._change_reason = f"released: {reason}"[:100]
        bill.save()
        ledger.post_bill(bill=bill, created_at=decided_at)
        ledger.apply_credit(account=bill.account, created_at=decided_at)
        return _decision(bill=bill, decision=Decision.RELEASE, reason=reason, decided_at=decided_at,
                         detail={"released_codes": held_codes})


def _current_reading(bill: Bill, register: str) -> Reading | None:
    entries = (bill.readings or {}).get(register) or []
    for entry in reversed(entries):
        current = entry.get("current") or {}
        if current.get("reading_id"):
            return Reading.objects.select_for_update().get(pk=current["reading_id"])
    return None


def _meter_for(bill: Bill, register: str) -> Meter:
    entries = (bill.readings or {}).get(register) or []
    if not entries:
        raise CorrectionRefused(_("Register: the bill has no register %(register)s; it has %(registers)s.") % {
            "register": register,
            "registers": ", ".join(k for k in (bill.readings or {}) if not k.startswith("_")) or "—"},
            field="register")
    return Meter.objects.get(asset_number=entries[-1]["meter"])


def _parse_value(value) -> Decimal:
    try:
        parsed = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CorrectionRefused(_("Corrected reading: “%(value)s” is not a number.") % {"value": value},
                                field="value")
    if not parsed.is_finite() or parsed < 0:
        raise CorrectionRefused(_("Corrected reading: %(value)s is not possible; it must be zero or more.")
                                % {"value": value}, field="value")
    return parsed.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _replace_reading(*, bill: Bill, register: str, value: Decimal, source: str, reason: str,
                     decided_at: datetime) -> tuple[Reading, Reading | None]:
    """A new reading (CORRECTION or ESTIMATE) supersedes the bill's current reading of `register`."""
    old = _current_reading(bill, register)
    meter = old.meter if old else _meter_for(bill, register)
    if old is not None:
        if old.value == value and old.source == source:
            raise CorrectionRefused(_("Corrected reading: the reading is %(value)s already.") % {"value": value},
                                    field="value")
        read_date = old.read_date
        # Every live reading of that moment goes (a DUPLICATE's twin too), and the correction is a new row:
        # a value read already at that moment is taken a microsecond later, so the old rows stay as they were.
        same_time = list(Reading.objects.select_for_update().filter(
            meter=meter, register=register, read_at=old.read_at).order_by("pk"))
        read_at = old.read_at
        if any(r.value == value for r in same_time):
            read_at = max(r.read_at for r in Reading.objects.filter(
                meter=meter, register=register, read_date=read_date)) + timedelta(microseconds=1)
        for r in same_time:
            if r.status in (Reading.Status.ACCEPTED, Reading.Status.HELD):
                r.status = Reading.Status.SUPERSEDED
                r._change_reason = reason[:100]
                r.save(update_fields=["status"])
        old.refresh_from_db()
    else:  # a missed reading: the correction is the fixed day's reading
        read_date = bill.end_date
        read_at = datetime.combine(read_date, time(12, 0), tzinfo=BUSINESS_TZ)
    new = Reading(
        meter=meter, account=bill.account, register=register, read_at=read_at, read_date=read_date, value=value,
        source=source, is_estimate=source == Reading.Source.ESTIMATE, status=Reading.Status.ACCEPTED,
        note=reason, supersedes=old, created_at=decided_at,
    )
    new._change_reason = reason[:100]
    new.save()
    return new, old


def _rebill_affected(*, bill: Bill, old_reading: Reading | None, as_of: date, decided_at: datetime,
                     reason: str) -> Bill:
    """Cancel and rebill every live bill that used the replaced reading, oldest first, and the held bill."""
    affected = bills_using_readings(reading_ids=[old_reading.pk], account_id=bill.account_id) if old_reading else []
    if bill.pk not in {b.pk for b in affected}:
        affected.append(bill)
    affected.sort(key=lambda b: (b.period, b.pk))
    replacement = None
    for one in affected:
        result = rebill(bill=one, as_of=as_of, created_at=decided_at, reason=reason)
        if one.pk == bill.pk:
            replacement = result.new_bill
    return replacement


@ledger.retrying
def correct_issued_reading(*, reading: Reading, value, reason: str, corrected_at: datetime,
                           as_of: date) -> list[Bill]:
    """Correct a reading that issued bills already used: a CORRECTION reading supersedes it and every live bill
    resting on it is cancelled (ledger cancellation) and replaced by a new bill stating the difference.

    Returns the new bills, oldest period first. Raises: ReasonRequired, CorrectionRefused.
    """
    reason = _require_reason(reason)
    value = _parse_value(value)
    with transaction.atomic():
        account_id = Reading.objects.values_list("account_id", flat=True).get(pk=reading.pk)
        if account_id:
            ledger.lock_account(account_id)  # before the reading and the bills (the ledger's lock order)
        reading = Reading.objects.select_for_update().select_related("meter").get(pk=reading.pk)
        if reading.status == Reading.Status.SUPERSEDED:
            raise CorrectionRefused(_("This reading was corrected already."), field="value")
        if reading.value == value:
            raise CorrectionRefused(_("Corrected reading: the reading is %(value)s already.") % {"value": value},
                                    field="value")
        account_id = reading.account_id
        affected = bills_using_readings(reading_ids=[reading.pk], account_id=account_id) if account_id else []
        reading.status = Reading.Status.SUPERSEDED
        reading._change_reason = reason[:100]
        reading.save(update_fields=["status"])
        new = Reading(meter=reading.meter, account_id=account_id, register=reading.register, read_at=reading.read_at,
                      read_date=reading.read_date, value=value, source=Reading.Source.CORRECTION,
                      status=Reading.Status.ACCEPTED, note=reason, supersedes=reading, created_at=corrected_at)
        new._change_reason = reason[:100]
        new.save()
        record_event(action="READING_CORRECTED", obj=new, occurred_at=corrected_at, reason=reason,
                     detail={"superseded_reading": reading.pk, "old_value": str(reading.value),
                             "new_value": str(value), "bills": [b.pk for b in affected]})
        return [rebill(bill=b, as_of=as_of, created_at=corrected_at, reason=reason).new_bill for b in affected]


@ledger.retrying
def correct_reading(*, bill: Bill, register: str, value, reason: str, decided_at: datetime,
                    as_of: date) -> ReviewDecision:
    """The auditor's reading (source CORRECTION) supersedes the bad one; affected bills are cancelled and rebilled.

    Issued bills that used the bad reading are cancelled in the ledger and replaced (their new bill states the
    difference); the held bill is replaced by a new bill, issued when nothing else holds it.
    Raises: BillNotHeld, ReasonRequired, CorrectionRefused.
    """
    reason = _require_reason(reason)
    value = _parse_value(value)
    register = (register or "TOTAL").upper()
    with transaction.atomic():
        bill = _held(bill)
        new_reading, old_reading = _replace_reading(bill=bill, register=register, value=value,
                                                    source=Reading.Source.CORRECTION, reason=reason,
                                                    decided_at=decided_at)
        replacement = _rebill_affected(bill=bill, old_reading=old_reading, as_of=as_of, decided_at=decided_at,
                                       reason=reason)
        return _decision(bill=bill, decision=Decision.CORRECT_READING, reason=reason, decided_at=decided_at,
                         new_bill=replacement,
                         detail={"register": register, "value": str(value), "reading": new_reading.pk,
                                 "superseded_reading": old_reading.pk if old_reading else None})


@ledger.retrying
def order_reread(*, bill: Bill, reason: str, decided_at: datetime, as_of: date) -> ReviewDecision:
    """Send someone to read the meter on site (a SiteVisitOrder RE_READ); the bill stays held.

    Raises: BillNotHeld, ReasonRequired.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        bill = _held(bill)
        register = next((k for k in (bill.readings or {}) if not k.startswith("_")), "TOTAL")
        meter = None
        if (bill.readings or {}).get(register):
            meter = Meter.objects.filter(asset_number=bill.readings[register][-1]["meter"]).first()
        order = SiteVisitOrder.objects.filter(account=bill.account, reason_code="RE_READ",
                                              status=SiteVisitOrder.Status.OPEN).first()
        if order is None:
            order = SiteVisitOrder(account=bill.account, meter=meter, reason_code="RE_READ", ordered_date=as_of,
                                   detail={"bill": bill.pk, "period": bill.period, "hold_codes": bill.hold_codes,
                                           "reason": reason}, created_at=decided_at)
            order._change_reason = reason[:100]
            order.save()
        return _decision(bill=bill, decision=Decision.ORDER_REREAD, reason=reason, decided_at=decided_at,
                         detail={"site_visit_order": order.pk})


def _estimated_value(*, bill: Bill, register: str, old: Reading | None) -> Decimal:
    """Previous reading + the register's usage of the account's last live bill, scaled to this period's days."""
    entries = (bill.readings or {}).get(register) or []
    previous = (entries[0].get("previous") or {}) if entries else {}
    if not previous.get("value"):
        raise CorrectionRefused(_("Register %(register)s: no previous reading to estimate from.")
                                % {"register": register}, field="register")
    earlier = (Bill.objects.filter(account_id=bill.account_id, period__lt=bill.period, is_estimate=False)
               .exclude(status=Bill.Status.CANCELLED).order_by("-period").first())
    if earlier is None:
        raise CorrectionRefused(_("There is no earlier bill from an actual reading to estimate from."))
    past = (earlier.readings or {}).get(register) or []
    used = Decimal(0)
    for entry in past:
        if entry.get("previous") and entry.get("current"):
            span = Decimal(entry["current"]["value"]) - Decimal(entry["previous"]["value"])
            if span >= 0:
                used += span
    days = (bill.end_date - bill.start_date).days
    earlier_days = (earlier.end_date - earlier.start_date).days or days
    estimate = (used * days / earlier_days).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Decimal(previous["value"]) + estimate


@ledger.retrying
def estimate_reading(*, bill: Bill, reason: str, decided_at: datetime, as_of: date,
                     register: str | None = None) -> ReviewDecision:
    """Replace the bill's current reading(s) by an estimate (source ESTIMATE) and re-rate.

    The estimate is the previous reading plus the last actual bill's usage scaled by days; the next actual
    reading settles the difference (the next bill explains the catch-up). A bill held on ESTIMATE_STREAK is
    refused: estimates are never chained beyond the limit. Raises: BillNotHeld, ReasonRequired,
    CorrectionRefused.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        bill = _held(bill)
        if "ESTIMATE_STREAK" in (bill.hold_codes or []):
            streak = next((r for r in bill.explanation or [] if r.get("code") == "ESTIMATE_STREAK"), {})
            zh = (translation.get_language() or "").lower().startswith("zh")
            said = streak.get("text_zh" if zh else "text_en") or _("Too many estimates in a row.")
            raise CorrectionRefused(_("%(why)s Order a re-read or correct the reading with the on-site value.")
                                    % {"why": said}, field="decision")
        registers = [register.upper()] if register else [k for k in (bill.readings or {})
                                                         if not k.startswith("_") and k != "REACTIVE"]
        old_readings, new_readings = [], []
        for reg in registers:
            old = _current_reading(bill, reg)
            value = _estimated_value(bill=bill, register=reg, old=old)
            new, old = _replace_reading(bill=bill, register=reg, value=value, source=Reading.Source.ESTIMATE,
                                        reason=reason, decided_at=decided_at)
            new_readings.append(new)
            if old is not None:
                old_readings.append(old)
        affected = []
        for old in old_readings:
            affected += bills_using_readings(reading_ids=[old.pk], account_id=bill.account_id)
        replacement = None
        seen = set()
        for one in sorted([*affected, bill], key=lambda b: (b.period, b.pk)):
            if one.pk in seen:
                continue
            seen.add(one.pk)
            result = rebill(bill=one, as_of=as_of, created_at=decided_at, reason=reason)
            if one.pk == bill.pk:
                replacement = result.new_bill
        return _decision(bill=bill, decision=Decision.ESTIMATE, reason=reason, decided_at=decided_at,
                         new_bill=replacement,
                         detail={"readings": [r.pk for r in new_readings],
                                 "values": {r.register: str(r.value) for r in new_readings}})


def decide(*, bill: Bill, decision: str, reason: str, decided_at: datetime, as_of: date,
           register: str | None = None, value=None) -> ReviewDecision:
    """One entry point for the CLI and the API. Raises what the decision raises, and CorrectionRefused."""
    decision = (decision or "").upper()
    if decision == Decision.RELEASE:
        return release_bill(bill=bill, reason=reason, decided_at=decided_at, as_of=as_of)
    if decision == Decision.CORRECT_READING:
        if value in (None, ""):
            raise CorrectionRefused(_("Corrected reading: give the value read on the meter."), field="value")
        return correct_reading(bill=bill, register=register or "TOTAL", value=value, reason=reason,
                               decided_at=decided_at, as_of=as_of)
    if decision == Decision.ORDER_REREAD:
        return order_reread(bill=bill, reason=reason, decided_at=decided_at, as_of=as_of)
    if decision == Decision.ESTIMATE:
        return estimate_reading(bill=bill, reason=reason, decided_at=decided_at, as_of=as_of, register=register)
    raise CorrectionRefused(_("Decision: “%(value)s” is not one of %(allowed)s.")
                            % {"value": decision, "allowed": ", ".join(Decision.values)}, field="decision")
