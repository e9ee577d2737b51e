"""What every API operation shares: the one error body, the answers each operation documents, the typed inputs.

Every refusal is an ``ErrorOut`` ``{"code", "detail", "field"}``: ``code`` a stable machine code, ``detail`` the
reason in the request's language, ``field`` the input it is about ("" when none). The statuses mean:

* 401 ``NOT_SIGNED_IN``: no valid session (sign in at /accounts/login/; the session cookie is the credential);
* 403: the caller's role or hall may not do this (``FORBIDDEN``, ``NO_HALL``, ...), or ``CSRF_FAILED``: a POST
  with a session needs the ``X-CSRFToken`` header matching the ``csrftoken`` cookie;
* 404: what the request names does not exist or belongs to another city: the two answers are the same, to the byte;
* 409: the request is well formed but what it names refuses it now (a reused idempotency key, a bill no longer held,
  a tariff without that period, a value beyond the meter's dial);
* 422: the request is not what this document says (a type, pattern, range, enum or required input), or breaks one
  of the few rules between two inputs that OpenAPI cannot state (``CROSS_INPUT_CODES``).

Numbers written as text follow gridcounter.domain.written (ASCII or full-width digits, one point, nothing else);
dates lie in its supported range. Each pattern the document publishes is the one the server applies.
"""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Path, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import Status
from pydantic import BeforeValidator, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from gridcounter.domain import written
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.ledger import AMOUNT_TEXT, InvalidAmount, parse_yuan_amount

# 422 codes of rules between two inputs that OpenAPI cannot state; every other 422 is a breach of the document.
CROSS_INPUT_CODES = frozenset({"IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_KEY_MISMATCH", "FILTER_REQUIRED"})


class ErrorOut(Schema):
    code: str = Field(..., description="stable machine code, e.g. NOT_FOUND, INVALID_REQUEST, CSRF_FAILED")
    detail: str = Field(..., description="why, in the request's language")
    field: str = Field(..., description="the input the error is about; empty when none")


def error(status: int, code: str, detail, field: str = "") -> Status:
    return Status(status, {"code": code, "detail": str(detail), "field": field})


def answers(ok: dict, *refusals: int, signed_in: bool = True) -> dict:
    """An operation's `response=`: its successes, its refusals, and those every operation can give."""
    statuses = {*refusals, 422, *((401, 403) if signed_in else ())}
    return {**ok, **{status: ErrorOut for status in sorted(statuses)}}


# --- the handlers that give ninja's own refusals the same body --------------------------------------------------

_GENERIC = {
    "missing": lambda: _("is required"),
    "string_type": lambda: _("must be text"),
    "int_type": lambda: _("must be a whole number"),
    "int_parsing": lambda: _("must be a whole number"),
    "bool_type": lambda: _("must be true or false"),
    "bool_parsing": lambda: _("must be true or false"),
    "model_attributes_type": lambda: _("must be a JSON object"),
    "dict_type": lambda: _("must be a JSON object"),
}


def _field_of(loc) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    names = [n for n in names if n not in ("body", "query", "path", "header", "cookie", "payload")]
    return names[-1] if names else ""


def validation_refused(request, exc: ValidationError, api):
    first = exc.errors[0] if exc.errors else {"type": "", "loc": (), "msg": ""}
    field = _field_of(first.get("loc", ()))
    kind = first.get("type", "")
    if kind.isupper():  # one of ours (PydanticCustomError): code and translated message
        code, message = kind, first.get("msg", "")
    else:
        generic = _GENERIC.get(kind)
        code = "INVALID_REQUEST"
        message = generic() if generic else _("is not valid: %(reason)s") % {"reason": first.get("msg", "")}
    detail = f"{field}: {message}" if field else message
    return api.create_response(request, {"code": code, "detail": detail, "field": field}, status=422)


def signed_out(request, exc: AuthenticationError, api):
    return api.create_response(request, {"code": "NOT_SIGNED_IN", "detail": _("Sign in first."), "field": ""},
                               status=401)


def http_refused(request, exc: HttpError, api):
    if exc.status_code == 403 and "CSRF" in str(exc):
        body = {"code": "CSRF_FAILED", "field": "",
                "detail": _("Send the X-CSRFToken header with the value of the csrftoken cookie.")}
        return api.create_response(request, body, status=403)
    if exc.status_code == 400:  # the body is not JSON
        body = {"code": "INVALID_JSON", "detail": _("The request body is not valid JSON."), "field": ""}
        return api.create_response(request, body, status=422)
    return api.create_response(request, {"code": f"HTTP_{exc.status_code}", "detail": str(exc), "field": ""},
                               status=exc.status_code)


def contended(request, exc, api):
    """ledger.Contention: the database refused the change five times (deadlock, serialization failure); nothing
    was changed, and the same request (with the same idempotency key) may be sent again."""
    response = api.create_response(request, {"code": "CONTENTION", "detail": str(exc), "field": ""}, status=503)
    response["Retry-After"] = "1"
    return response


def not_found(request, exc, api):
    return api.create_response(request, {"code": "NOT_FOUND", "detail": _("Not found."), "field": ""}, status=404)


# --- typed inputs ---------------------------------------------------------------------------------------------

def _refuse(code: str, message: str):
    return PydanticCustomError(code, "{message}", {"message": message})


AMOUNT_MESSAGES = {
    InvalidAmount.REQUIRED: gettext_lazy("Enter the amount in yuan, e.g. 123.45."),
    InvalidAmount.NOT_A_NUMBER: gettext_lazy("The amount must be a number of yuan, e.g. 123.45."),
    InvalidAmount.FLOAT: gettext_lazy("Send the amount as a string of yuan, e.g. \"123.45\", not as a JSON number "
                                      "or true/false."),
    InvalidAmount.TOO_MANY_DECIMALS: gettext_lazy("The amount has more than two decimals; the smallest unit is one "
                                                  "fen (0.01)."),
    InvalidAmount.NOT_POSITIVE: gettext_lazy("The amount must be greater than zero."),
    InvalidAmount.TOO_LARGE: gettext_lazy("The amount is too large for one payment."),
}


def _amount(value: Any) -> int:
    try:
        return parse_yuan_amount(value, field="amount")
    except InvalidAmount as exc:
        raise _refuse("INVALID_AMOUNT", str(AMOUNT_MESSAGES.get(exc.code, exc.message))) from None


# Yuan as text → integer fen (gridcounter.domain.ledger.parse_yuan_amount).
AmountFen = Annotated[int, PlainValidator(_amount), WithJsonSchema({
    "type": "string", "pattern": AMOUNT_TEXT, "examples": ["123.45"],
    "description": "yuan as text, more than 0 and at most 100000000, at most 2 decimals; ASCII or full-width "
                   "digits (１２３．４５); no sign, spaces, separators or exponent"})]

READING_VALUE_TEXT = written.decimal_pattern(whole=12, places=2)


def _decimal_text(value: Any, *, pattern: str, code: str, message) -> Decimal:
    """`value` read by gridcounter.domain.written's rule for `pattern`, or the refusal `code` with `message()`."""
    try:
        return written.decimal_from_text(value, pattern=pattern)
    except written.NotWritten:
        raise _refuse(code, message()) from None


def _reading_value(value: Any) -> Decimal:
    return _decimal_text(value, pattern=READING_VALUE_TEXT, code="INVALID_VALUE", message=lambda: _(
        "Write the value as text with digits and at most one point, at most 2 decimals, e.g. \"12345.6\"."))


ReadingValue = Annotated[Decimal, PlainValidator(_reading_value), WithJsonSchema({
    "type": "string", "pattern": READING_VALUE_TEXT, "examples": ["12345.6"],
    "description": "the register's value as text, at most 12 digits and 2 decimals; ASCII or full-width digits"})]

QUANTITY_TEXT = written.decimal_pattern(whole=9, places=4)
QUANTITY_MAX = 999_999_999


def _integral(value: Any) -> int | None:
    """A JSON integer (1, or 1.0: JSON Schema counts a number without a fraction as an integer), never true/false."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def whole_number(*, low: int, high: int):
    """A JSON integer in a body from `low` to `high`: not a string ("5", "1_000"), not true/false."""
    def check(value: Any) -> int:
        whole = _integral(value)
        if whole is None or not low <= whole <= high:
            raise _refuse("INVALID_REQUEST", _("must be a whole number from %(low)d to %(high)d") % {
                "low": low, "high": high})
        return whole

    return Annotated[int, PlainValidator(check), WithJsonSchema({"type": "integer", "minimum": low, "maximum": high})]


def _quantity(value: Any) -> Decimal:
    whole = _integral(value)
    if whole is not None and 0 <= whole <= QUANTITY_MAX:
        return Decimal(whole)
    return _decimal_text(value, pattern=QUANTITY_TEXT, code="INVALID_NUMBER", message=lambda: _(
        "Give a whole number from 0 to 999999999, or text with at most 9 digits and 4 decimals, e.g. \"123.5\"."))


Quantity = Annotated[Decimal, PlainValidator(_quantity), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 0, "maximum": QUANTITY_MAX},
              {"type": "string", "pattern": QUANTITY_TEXT}],
    "description": "kWh, kvarh, kW or kVA: a whole number, or text with at most 4 decimals (full-width digits too)"})]


def _range_message() -> str:
    return _("is outside the supported dates, %(first)s to %(last)s") % {
        "first": written.FIRST_DATE.isoformat(), "last": written.LAST_DATE.isoformat()}


def _read_at(value: Any) -> datetime:
    try:
        moment = written.datetime_from_text(value)
    except written.OutOfRange:
        raise _refuse("DATE_OUT_OF_RANGE", _range_message()) from None
    except written.NotWritten:
        raise _refuse("INVALID_DATE", _("must be an ISO 8601 date and time, e.g. 2026-11-15T09:30 or "
                                        "2026-11-15T09:30:00+08:00")) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=BUSINESS_TZ)


ReadAt = Annotated[datetime, PlainValidator(_read_at), WithJsonSchema({
    "type": "string", "pattern": written.DATE_TIME_TEXT, "examples": ["2026-11-15T09:30", "2026-11-15T01:30Z"],
    "description": "ISO 8601 date and time, Asia/Shanghai unless an offset is given; dates from "
                   f"{written.FIRST_DATE} to {written.LAST_DATE}"})]


def _month(value: Any) -> str:
    try:
        written.month_from_text(value)
    except written.OutOfRange:
        raise _refuse("DATE_OUT_OF_RANGE", _range_message()) from None
    except written.NotWritten:
        raise _refuse("INVALID_PERIOD", _("must be a month written YYYY-MM, e.g. 2026-11")) from None
    return value


Month = Annotated[str, PlainValidator(_month), WithJsonSchema({
    "type": "string", "pattern": written.MONTH_TEXT, "examples": ["2026-11"],
    "description": f"a month, YYYY-MM, from {written.FIRST_DATE:%Y-%m} to {written.LAST_DATE:%Y-%m}"})]

_WHOLE = re.compile(r"[0-9]{1,19}")
LARGEST_ID = 2**63 - 1


def _whole_number(value: Any) -> Any:
    """Path and query integers are written with ASCII digits only (no sign, "_", spaces or other digits)."""
    if isinstance(value, str) and _WHOLE.fullmatch(value) is None:
        raise _refuse("INVALID_REQUEST", _("must be a whole number written with the digits 0-9"))
    if isinstance(value, bool):
        raise _refuse("INVALID_REQUEST", _("must be a whole number written with the digits 0-9"))
    return value


Id = Annotated[int, BeforeValidator(_whole_number)]
ID_IN_PATH = Path(..., ge=1, le=LARGEST_ID)  # the bounds of an Id, where the document shows them


def limit_query(*, default: int, largest: int):
    """A query's limit: a count from 1 to `largest`, `default` when not given."""
    return Query(default, ge=1, le=largest, description=f"at most {largest}")

NO_NUL = "^[^\\u0000]*$"


def _not_blank() -> str:
    """Text with a character that is neither NUL nor what str.strip() removes, as \\uXXXX ranges every regex
    engine reads alike (Python's, the Rust one pydantic uses, ECMAScript's in OpenAPI tools)."""
    spaces = [c for c in range(0x10000) if chr(c).isspace()]
    ranges, start = [], None
    for c, following in zip(spaces, [*spaces[1:], None], strict=True):
        start = c if start is None else start
        if following != c + 1:
            ranges.append(f"\\u{start:04x}" if start == c else f"\\u{start:04x}-\\u{c:04x}")
            start = None
    anything = "[^\\u0000]*"
    return f"^{anything}[^\\u0000{''.join(ranges)}]{anything}$"


NOT_BLANK = _not_blank()


def text(*, max_length: int, min_length: int = 0, blank: bool = True, **extra):
    """A text input of at most `max_length` characters without NUL (which no database column stores); with
    `blank=False` it must hold more than spaces."""
    return Field(min_length=max(min_length, 0 if blank else 1), max_length=max_length,
                 pattern=NO_NUL if blank else NOT_BLANK, **extra)
