"""Numbers and dates as people and clients write them: one rule for every interface, with its regular expressions.

Numbers written as text (amounts of money, register values, kWh) are digits with at most one decimal point and
nothing else. A digit is an ASCII digit 0-9 or a full-width digit ０-９ (what a Chinese input method types in its
full-width mode); the point is "." or the full-width "．". Full-width characters are folded to ASCII by Unicode NFKC,
so "１２３．４５" is 123.45. Refused: signs, spaces, thousands separators ("1,000"), underscores ("1_000"), exponents
("1e3"), "NaN" and "Infinity", and the digits of any other script. Interfaces that take typed text (a form field, a
command-line option) strip the spaces around it first; a JSON client sends the text alone.

Dates: the supported calendar is 1950-01-01 to 2099-12-31, as written (the year, month and day in the text,
whatever offset follows). No meter of the grid was read before it, and later years are typing errors; within it
every timestamp converts between its offset, UTC and Asia/Shanghai without leaving the calendar.

Each rule is stated once as a regular expression (the OpenAPI document publishes the same text) and once as the
function that applies it; tests/unit/domain/test_written.py checks that the two agree.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal

from gridcounter.domain.horizon import EARLIEST_DATE

DIGIT = "[0-9０-９]"
NONZERO = "[1-9１-９]"
ZERO = "[0０]"
POINT = "[.．]"

FIRST_DATE = EARLIEST_DATE  # the imports' horizon and the API's range start on the same day
LAST_DATE = date(2099, 12, 31)

# Any number as text: digits, optionally a point and more digits.
NUMBER_TEXT = f"^{DIGIT}+(?:{POINT}{DIGIT}+)?$"


class NotWritten(ValueError):
    """Text that is not a number, date or month as this module's rules write them."""


def decimal_pattern(*, whole: int, places: int) -> str:
    """A number as text with at most `whole` digits before the point and `places` after it."""
    return f"^{DIGIT}{{1,{whole}}}(?:{POINT}{DIGIT}{{1,{places}}})?$"


def fold(text: str) -> str:
    """Full-width digits and point → ASCII (NFKC). Only meaningful on text that matched a pattern of this module."""
    return unicodedata.normalize("NFKC", text)


def decimal_from_text(text: str, *, pattern: str = NUMBER_TEXT) -> Decimal:
    """The Decimal `text` writes, if it matches `pattern` (NUMBER_TEXT or a `decimal_pattern`). Raises NotWritten."""
    if not isinstance(text, str) or re.fullmatch(pattern, text) is None:
        raise NotWritten(text)
    return Decimal(fold(text))


def ascii_number(text: str) -> str:
    """`text`, a number written by this rule or its negative ("-" first, so that a caller can say "negative"), in
    ASCII: "１２３．４５" → "123.45". Raises NotWritten for anything else ("1_000", "1e3", "1,000", "١٢٣")."""
    if not isinstance(text, str) or re.fullmatch(NUMBER_TEXT, text[1:] if text.startswith("-") else text) is None:
        raise NotWritten(text)
    return fold(text)


# --- dates --------------------------------------------------------------------------------------------------

_YEAR = "(?:19[5-9][0-9]|20[0-9]{2})"
_MONTH = "(?:0[1-9]|1[0-2])"
# Every day of every month of the supported years, 29 February in leap years only (1952 … 2096, 2000 included).
_LEAP_YEAR = "(?:19(?:5[26]|[68][048]|[79][26])|20(?:[02468][048]|[13579][26]))"
_DAY = (f"(?:{_YEAR}-(?:{_MONTH}-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
        f"|{_LEAP_YEAR}-02-29)")
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]{1,6})?)?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"

MONTH_TEXT = f"^{_YEAR}-{_MONTH}$"
DATE_TEXT = f"^{_DAY}$"
# ISO 8601 date and time, seconds and fraction optional, offset optional (the caller says what no offset means).
DATE_TIME_TEXT = f"^{_DAY}T{_TIME}{_OFFSET}?$"
_LOOSE_DATE_TIME = re.compile(r"^([0-9]{4})-[0-9]{2}-[0-9]{2}[T ]")


def in_supported_range(day: date) -> bool:
    return FIRST_DATE <= day <= LAST_DATE


def datetime_from_text(text: str) -> datetime:
    """The moment `text` writes (naive when it carries no offset). Raises NotWritten, OutOfRange."""
    if not isinstance(text, str):
        raise NotWritten(text)
    if re.fullmatch(DATE_TIME_TEXT, text) is None:
        loose = _LOOSE_DATE_TIME.match(text)
        if loose and not FIRST_DATE.year <= int(loose.group(1)) <= LAST_DATE.year:
            raise OutOfRange(text)
        raise NotWritten(text)
    return datetime.fromisoformat(text)


def month_from_text(text: str) -> tuple[int, int]:
    """(year, month) of a month written YYYY-MM. Raises NotWritten, OutOfRange."""
    if not isinstance(text, str):
        raise NotWritten(text)
    if re.fullmatch(MONTH_TEXT, text) is None:
        if re.fullmatch(r"[0-9]{4}-(?:0[1-9]|1[0-2])", text):
            raise OutOfRange(text)
        raise NotWritten(text)
    return int(text[:4]), int(text[5:7])


class OutOfRange(NotWritten):
    """A date or month written correctly but outside FIRST_DATE … LAST_DATE."""
