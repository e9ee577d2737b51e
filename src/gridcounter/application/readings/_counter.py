"""Readings the customer brings to the counter: every register of the meter in one submit, checked first.

* A value the rules put in doubt (lower than the last, a spike, …) is not stored until the clerk has confirmed it
  with the customer: `submit_counter_readings` raises `NeedsConfirmation` (nothing stored) unless `confirmed`.
* Being read off the route's fixed day is not a doubt in itself. Such a reading is stored ACCEPTED, keeping its
  OFF_SCHEDULE finding as a note, and is carried to the fixed day at the daily average since the last actual
  reading (`domain.readings.carry`): a second reading on the fixed day, an estimate marked `derived_from` the
  customer's. See docs/readings.md, "A customer's reading off the fixed day".
* Idempotency: the same form sent again (same client key) reuses the moment the first one stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db import transaction
from django.utils.translation import gettext as _

from gridcounter.application.readings._readings import (
    ReadingOutcome,
    parse_value,
    submit_reading,
    validation_rules,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.readings.carry import carried_value, in_doubt
from gridcounter.domain.readings.codes import Code
from gridcounter.domain.readings.validation import nearest_fixed_date

CONFIRMED_NOTE = "CONFIRMED"  # the clerk read the value back to the customer, who confirmed it
CARRIED_NOTE = "CARRIED_FROM_CUSTOMER"


class CounterReadingError(ValueError):
    """A field of the counter's reading form is wrong; ``field`` names it."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


class NeedsConfirmation(Exception):
    """Some values look implausible: nothing was stored; ask the customer, then send again with `confirmed`."""

    def __init__(self, outcomes: list[ReadingOutcome]):
        super().__init__("confirm with the customer")
        self.outcomes = outcomes


@dataclass
class CounterOutcome:
    """One register's outcome, with the reading carried to the fixed day when there is one."""

    register: str
    outcome: ReadingOutcome
    carried: Reading | None = None


def _installed_meter(*, account: Account, asset_number: str, day: date):
    installation = (Installation.objects.filter(account=account, meter__asset_number=asset_number,
                                                installed_date__lte=day)
                    .select_related("meter").order_by("-installed_date").first())
    if installation is None or (installation.removed_date is not None and installation.removed_date <= day):
        raise CounterReadingError(_("Meter: %(meter)s is not installed for this account on %(date)s.")
                                  % {"meter": asset_number or "—", "date": day.isoformat()}, field="meter")
    return installation.meter


def _read_date(raw: str, *, today: date) -> date:
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        raise CounterReadingError(_("Reading date: “%(value)s” is not a date like %(example)s.")
                                  % {"value": raw, "example": today.isoformat()}, field="read_date")
    if day > today:
        raise CounterReadingError(_("Reading date: %(date)s is in the future.") % {"date": day.isoformat()},
                                  field="read_date")
    return day


def last_actual(*, meter_id: int, register: str, before: datetime, exclude: int | None = None) -> Reading | None:
    """The latest accepted actual reading of a register before ``before``."""
    qs = Reading.objects.filter(meter_id=meter_id, register=register, is_estimate=False,
                                status=Reading.Status.ACCEPTED, read_at__lt=before)
    if exclude:
        qs = qs.exclude(pk=exclude)
    return qs.order_by("-read_at", "-id").first()


def _carry(reading: Reading, *, route_day: int, received_at: datetime) -> Reading | None:
    """Store the customer's reading carried to the nearest fixed day; None if there is nothing to carry from or the
    fixed day already has an actual reading."""
    fixed = nearest_fixed_date(read_date=reading.read_date, route_day=route_day)
    last = last_actual(meter_id=reading.meter_id, register=reading.register, before=reading.read_at,
                       exclude=reading.pk)
    if last is None:
        return None
    value = carried_value(last_value=last.value, last_date=last.read_date, value=reading.value,
                          read_date=reading.read_date, fixed_date=fixed)
    if value is None:
        return None
    same_day = Reading.objects.filter(meter_id=reading.meter_id, register=reading.register, read_date=fixed,
                                      status__in=[Reading.Status.ACCEPTED, Reading.Status.HELD])
    if same_day.filter(is_estimate=False).exists():
        return None
    replaced = same_day.filter(is_estimate=True, status=Reading.Status.ACCEPTED).first()
    carried = Reading.objects.create(
        meter_id=reading.meter_id, account_id=reading.account_id, register=reading.register,
        read_at=datetime.combine(fixed, time(12, 0), tzinfo=BUSINESS_TZ), read_date=fixed, value=value,
        source=Reading.Source.ESTIMATE, is_estimate=True, status=Reading.Status.ACCEPTED, note=CARRIED_NOTE,
        derived_from=reading, supersedes=replaced, created_at=received_at)
    if replaced is not None:
        replaced.status = Reading.Status.SUPERSEDED
        replaced.save(update_fields=["status"])
    record_event(action="READING_CARRIED", obj=carried, detail={
        "from_reading": reading.pk, "from_date": reading.read_date.isoformat(), "from_value": str(reading.value),
        "last_actual": last.pk, "last_date": last.read_date.isoformat(), "last_value": str(last.value),
        "fixed_date": fixed.isoformat(), "value": str(value)})
    return carried


def submit_counter_readings(*, account: Account, asset_number: str, values: dict[str, str], read_date: str,
                            client_key: str, now: datetime, today: date, actor: Actor,
                            confirmed: bool = False) -> list[CounterOutcome]:
    """Readings of every register of one meter that the customer brought, as the clerk typed them (``values``:
    register → text; empty ones are skipped), stored together or not at all, with source CUSTOMER.

    Today's readings carry the moment they were typed (`now`), an earlier day's noon of that day. The same form
    sent again (the same `client_key`) reuses the moment the first one stored, so it is stored once.
    Raises CounterReadingError / ReadingInputError (field named), ClientKeyConflict, and NeedsConfirmation when a
    value is in doubt and not `confirmed` (then nothing is stored).
    """
    day = _read_date(read_date, today=today)
    meter = _installed_meter(account=account, asset_number=asset_number, day=day)
    typed = {register: text for register, text in values.items() if (text or "").strip()}
    if not typed:
        raise CounterReadingError(_("Value: enter the number shown on the meter."), field="value")
    parsed = {register: parse_value(text) for register, text in typed.items()}
    rules = validation_rules()
    route_day = account.route.reading_day if account.route_id else None
    results: list[CounterOutcome] = []
    with acting_as(actor), transaction.atomic():
        for register, value in parsed.items():
            key = f"{client_key[:56]}-{register}"[:64] if client_key else None
            read_at = now if day == today else datetime.combine(day, time(12, 0), tzinfo=BUSINESS_TZ)
            if key:
                earlier = Reading.objects.filter(client_key=key, meter=meter, register=register,
                                                 read_date=day).values_list("read_at", flat=True).first()
                read_at = earlier or read_at
            outcome = submit_reading(meter=meter, register=register, read_at=read_at, value=value,
                                     source=Reading.Source.CUSTOMER, client_key=key, actor=actor, received_at=now,
                                     note=CONFIRMED_NOTE if confirmed else "")
            results.append(CounterOutcome(register=register, outcome=outcome))
        doubtful = [r.outcome for r in results if r.outcome.created
                    and in_doubt(r.outcome.codes, blocking=rules.blocking)]
        if doubtful and not confirmed:
            transaction.set_rollback(True)
            raise NeedsConfirmation(doubtful)
        for result in results:
            reading = result.outcome.reading
            if not result.outcome.created or Code.OFF_SCHEDULE not in result.outcome.codes or route_day is None:
                continue
            if in_doubt(result.outcome.codes, blocking=rules.blocking):
                continue
            if reading.status == Reading.Status.HELD:
                reading.status = Reading.Status.ACCEPTED  # off the fixed day alone: carried, not held
                reading.save(update_fields=["status"])
            result.carried = _carry(reading, route_day=route_day, received_at=now)
    return results


def submit_counter_reading(*, account: Account, asset_number: str, register: str, read_date: str, value: str,
                           client_key: str, now: datetime, today: date, actor: Actor,
                           confirmed: bool = False) -> ReadingOutcome:
    """One register's reading the customer brought (see `submit_counter_readings`)."""
    results = submit_counter_readings(account=account, asset_number=asset_number, values={register: value},
                                      read_date=read_date, client_key=client_key, now=now, today=today, actor=actor,
                                      confirmed=confirmed)
    return results[0].outcome


