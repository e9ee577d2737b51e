"""Registry rules: installation intervals, identity-document checks, account-number and phone formats."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

# --- installation intervals: half-open [start, end), end None = still installed ----------------------------


def intervals_overlap(*, start_a: date, end_a: date | None, start_b: date, end_b: date | None) -> bool:
    """Whether [start_a, end_a) and [start_b, end_b) share at least one day; None is an open end."""
    a_before_b_ends = end_b is None or start_a < end_b
    b_before_a_ends = end_a is None or start_b < end_a
    return a_before_b_ends and b_before_a_ends


@dataclass(frozen=True)
class Interval:
    """One existing installation as the overlap rule sees it."""

    key: object  # the installation's id, for the error message
    start: date
    end: date | None
    registers: frozenset[str] = frozenset()


def first_overlap(*, start: date, end: date | None, existing: Iterable[Interval],
                  registers: Iterable[str] | None = None) -> Interval | None:
    """The first existing interval overlapping [start, end); with `registers`, only those sharing a register.

    An account may carry two meters at once only when their register sets are disjoint (e.g. an active
    meter and a separate reactive meter); a meter may serve one account at a time (registers=None).
    """
    wanted = None if registers is None else frozenset(registers)
    for interval in sorted(existing, key=lambda i: i.start):
        if wanted is not None and interval.registers and not (wanted & interval.registers):
            continue
        if intervals_overlap(start_a=start, end_a=end, start_b=interval.start, end_b=interval.end):
            return interval
    return None


# --- identity documents --------------------------------------------------------------------------------------

_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_RESIDENT_ID_RE = re.compile(r"^\d{17}[\dX]$")


def resident_id_check_digit(first17: str) -> str:
    """The 18th character of a resident identity number (GB 11643, ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need the first 17 digits")
    total = sum(map(int.__mul__, map(int, first17), _RESIDENT_ID_WEIGHTS))
    return _RESIDENT_ID_CHECK[total % 11]


def resident_id_problem(number: str) -> str | None:
    """Why `number` is not a valid 18-character resident identity number, or None when it is."""
    if not _RESIDENT_ID_RE.match(number):
        return "must be 17 digits followed by a digit or X"
    month, day = int(number[10:12]), int(number[12:14])
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return f"birth date {number[6:14]} is not a date"
    expected = resident_id_check_digit(number[:17])
    if number[17] != expected:
        return f"check digit should be {expected}, got {number[17]}"
    return None


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100, MOD 31)."""
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid unified social credit code, or None when it is."""
    if not _USCC_RE.match(code):
        return "must be 18 characters of digits and capital letters (no I, O, S, V, Z)"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"check character should be {expected}, got {code[17]}"
    return None


def normalise_id_number(number: str) -> str:
    """Identity numbers are compared without spaces and with capital letters (a trailing x becomes X)."""
    return re.sub(r"\s+", "", number).upper()


def id_number_problem(*, id_type: str, number: str) -> str | None:
    """Why `number` is not acceptable for `id_type` (codes as in the registry), or None."""
    if not number:
        return "must not be empty"
    if id_type == "RESIDENT_ID":
        return resident_id_problem(number)
    if id_type == "USCC":
        return uscc_problem(number)
    if len(number) > 64:
        return "is longer than 64 characters"
    return None


# --- account numbers and phones ---------------------------------------------------------------------------

ACCOUNT_NUMBER_LENGTH = 10
_ACCOUNT_NUMBER_RE = re.compile(rf"^\d{{{ACCOUNT_NUMBER_LENGTH}}}$")


def account_number_problem(number: str) -> str | None:
    """An account number (户号) is exactly 10 digits; why `number` is not, or None."""
    if not _ACCOUNT_NUMBER_RE.match(number):
        return f"must be {ACCOUNT_NUMBER_LENGTH} digits, got {number!r}"
    return None


_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def normalise_phone(phone: str) -> str:
    """Drop spaces and a leading +86 / 86 country code from a mainland number."""
    phone = re.sub(r"[\s()]", "", phone)
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    return phone


def is_mobile(phone: str) -> bool:
    """A mainland mobile number (11 digits starting 13–19), as normalise_phone leaves it."""
    return bool(_MOBILE_RE.match(phone))


def phone_problem(phone: str) -> str | None:
    """A mainland mobile (11 digits starting 13–19) or landline with area code (010-12345678); or None."""
    if _MOBILE_RE.match(phone) or _LANDLINE_RE.match(phone):
        return None
    return f"not a mainland mobile or landline number: {phone!r}"


# --- meters -----------------------------------------------------------------------------------------------

REGISTER_CODES = ("TOTAL", "PEAK", "FLAT", "VALLEY", "REACTIVE")
TOU_REGISTERS = ("PEAK", "FLAT", "VALLEY")


def registers_problem(registers: Iterable[str]) -> str | None:
    """A meter has at least one register, each a known code, none twice, TOTAL not mixed with TOU ones."""
    registers = list(registers)
    if not registers:
        return "a meter needs at least one register"
    unknown = [r for r in registers if r not in REGISTER_CODES]
    if unknown:
        return f"unknown register(s) {', '.join(unknown)}; allowed: {', '.join(REGISTER_CODES)}"
    if len(set(registers)) != len(registers):
        return "a register is listed twice"
    if "TOTAL" in registers and set(registers) & set(TOU_REGISTERS):
        return "TOTAL cannot be combined with PEAK/FLAT/VALLEY"
    return None


def default_registers(*, tou_registers: Iterable[str], large_industry: bool) -> list[str]:
    """Registers a new meter gets: the tariff's time-of-use periods (else TOTAL); large industry adds REACTIVE."""
    registers = [r for r in TOU_REGISTERS if r in set(tou_registers)] or ["TOTAL"]
    if large_industry:
        registers.append("REACTIVE")
    return registers


def readings_problem(*, registers: Iterable[str], readings: dict, digits: int) -> str | None:
    """Readings given at installation or removal must name the meter's registers and fit its digits."""
    registers = list(registers)
    extra = [r for r in readings if r not in registers]
    if extra:
        return f"the meter has no register(s) {', '.join(extra)}"
    limit = 10 ** digits
    for register, value in readings.items():
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return f"reading for {register} is not a number: {value!r}"
        if not number.is_finite() or number < 0 or number >= limit:
            return f"reading for {register} must be between 0 and {limit - 1}, got {value}"
    return None


# --- account fields ---------------------------------------------------------------------------------------

MAX_HOUSEHOLD_SIZE = 30
TWO_PART_MIN_KVA = Decimal("315")  # at and above this capacity the two-part tariff is compulsory


def account_field_problems(*, usage_category: str, capacity_kva: Decimal | None,
                           contract_demand_kw: Decimal | None, household_size: int | None) -> dict[str, str]:
    """Field name -> why the combination is not acceptable; empty when it is."""
    problems: dict[str, str] = {}
    if capacity_kva is not None and capacity_kva <= 0:
        problems["capacity_kva"] = f"must be positive, got {capacity_kva}"
    if contract_demand_kw is not None and contract_demand_kw <= 0:
        problems["contract_demand_kw"] = f"must be positive, got {contract_demand_kw}"
    if household_size is not None and not 1 <= household_size <= MAX_HOUSEHOLD_SIZE:
        problems["household_size"] = f"must be 1–{MAX_HOUSEHOLD_SIZE}, got {household_size}"
    if usage_category == "LARGE_INDUSTRY" and capacity_kva is None and contract_demand_kw is None:
        problems["capacity_kva"] = "large industry needs a capacity (kVA) or a contract demand (kW)"
    return problems
