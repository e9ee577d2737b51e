"""What a database column can hold, checked on an imported cell before it reaches the database.

Each check returns the reason in the user's language, or None: text longer than the model field's max_length, a
number with more digits or decimals than its DecimalField, an integer beyond its IntegerField's range, a NUL byte
(which PostgreSQL cannot store in text), a date outside the import's horizon (`gridcounter.domain.horizon`).
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils.translation import gettext as _

from gridcounter.domain.horizon import EARLIEST_DATE, Horizon, horizon_problem, latest_date

__all__ = ["date_problem", "decimal_problem", "integer_problem", "nul_columns", "printable", "printable_row",
           "text_problem"]

NUL = "\x00"
SHOWN = 60  # characters of an over-long or odd value quoted back in a reason


def nul_columns(values: dict[str, str]) -> list[str]:
    """The columns whose text holds a NUL byte."""
    return [column for column, text in values.items() if NUL in text]


def nul_reason() -> str:
    return _("contains a NUL byte (\\0), which is not text; remove it")


def printable(text: str) -> str:
    """`text` as it can be stored and shown: NUL bytes as ␀."""
    return text.replace(NUL, "␀")


def printable_row(values: dict[str, str]) -> dict[str, str]:
    return {column: printable(text) for column, text in values.items()}


def shown(text: str) -> str:
    """A value quoted in a reason: at most SHOWN characters of it."""
    text = printable(text)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _field(model, name: str):
    return model._meta.get_field(name)


def text_problem(text: str, *, model, field: str) -> str | None:
    """Why `text` does not fit `model.field` (longer than its max_length), or None."""
    limit = _field(model, field).max_length
    if limit is not None and len(text) > limit:
        return _("is %(length)d characters long; at most %(limit)d fit") % {"length": len(text), "limit": limit}
    return None


def decimal_problem(value: Decimal, *, model, field: str) -> str | None:
    """Why `value` does not fit `model.field` (a DecimalField): too many digits before or after the point."""
    spec = _field(model, field)
    places = spec.decimal_places
    whole = spec.max_digits - places
    if abs(value) >= Decimal(10) ** whole:
        return _("%(value)s is too large: at most %(digits)d digits before the decimal point") % {
            "value": shown(str(value)), "digits": whole}
    if value.as_tuple().exponent < -places and value != value.quantize(Decimal(10) ** -places):
        return _("%(value)s has more than %(places)d decimal places") % {"value": shown(str(value)), "places": places}
    return None


def integer_problem(value: int, *, model, field: str) -> str | None:
    """Why `value` is beyond the range of `model.field` (an IntegerField of any size), or None."""
    # the field type's range on every database (SQLite alone would store any 64-bit integer)
    low, high = BaseDatabaseOperations.integer_field_ranges[_field(model, field).get_internal_type()]
    if (low is not None and value < low) or (high is not None and value > high):
        return _("%(value)s is out of range (%(low)s–%(high)s)") % {
            "value": shown(str(value)), "low": low, "high": high}
    return None


def date_problem(day: date, *, today: date, lead: timedelta = timedelta(0)) -> str | None:
    """Why `day` lies outside the import's horizon: before EARLIEST_DATE or after `today` + `lead`."""
    problem = horizon_problem(day, today=today, lead=lead)
    if problem is Horizon.TOO_EARLY:
        return _("%(date)s is before %(earliest)s") % {"date": day.isoformat(), "earliest": EARLIEST_DATE.isoformat()}
    if problem is Horizon.IN_FUTURE:
        return _("%(date)s is in the future (the latest accepted is %(latest)s)") % {
            "date": day.isoformat(), "latest": latest_date(today=today, lead=lead).isoformat()}
    return None
