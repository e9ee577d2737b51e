"""Ledger rules in pure Python: fen and yuan, balanced entries, oldest-first allocation, the hash chain, the till.

The late-payment penalty is gridcounter.domain.penalty."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from gridcounter.domain import written

# General-ledger sides, as the codes the data layer stores.
RECEIVABLE = "RECEIVABLE"
ENERGY_REVENUE = "ENERGY_REVENUE"
PENALTY_REVENUE = "PENALTY_REVENUE"
CASH = "CASH"
CARD = "CARD"
BANK = "BANK"
ONLINE = "ONLINE"
PREPAY_DEPOSIT = "PREPAY_DEPOSIT"
ADJUSTMENT = "ADJUSTMENT"

# Payment channel → the ledger account the money lands on.
CHANNEL_LEDGER_ACCOUNT = {
    "CASH": CASH,
    "CARD": CARD,
    "PREPAY_DEPOSIT": PREPAY_DEPOSIT,
    "BANK_WITHHOLDING": BANK,
    "ONLINE": ONLINE,
}

FEN_PER_YUAN = 100
_CENT = Decimal("0.01")
MAX_TYPED_YUAN = Decimal("100000000")  # one hundred million yuan: larger is a typing error

# A posting line: (ledger account code, customer account or None, amount in fen, debit positive).
Line = tuple[str, Any, int]
K = TypeVar("K")


class InvalidAmount(ValueError):
    """A money amount typed by a person is not a positive yuan amount with at most two decimals."""

    REQUIRED = "REQUIRED"
    NOT_A_NUMBER = "NOT_A_NUMBER"
    FLOAT = "FLOAT"
    TOO_MANY_DECIMALS = "TOO_MANY_DECIMALS"
    NOT_POSITIVE = "NOT_POSITIVE"
    TOO_LARGE = "TOO_LARGE"
    TOO_LITTLE = "TOO_LITTLE"  # less cash tendered than is being paid

    def __init__(self, *, field: str, message: str, code: str = NOT_POSITIVE):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code  # lets the interface show a translated message


class UnbalancedEntry(ValueError):
    """The postings of a journal entry do not sum to zero (or there are fewer than two)."""


# --- fen and yuan -----------------------------------------------------------------------------------------

def yuan_to_fen(value: Decimal | str | int) -> int:
    """Yuan → integer fen, rounding half up at the fen. Never pass a float."""
    if isinstance(value, float):
        raise TypeError("money is never a float; pass a Decimal or a string")
    amount = Decimal(value) if not isinstance(value, Decimal) else value
    return int((amount * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen → Decimal yuan with exactly two places."""
    return (Decimal(fen) / FEN_PER_YUAN).quantize(_CENT, rounding=ROUND_HALF_UP)


def format_fen(fen: int) -> str:
    """Fen as a yuan string, e.g. 12345 → '123.45', -5 → '-0.05'."""
    return f"{fen_to_yuan(fen):.2f}"


def _amount_text() -> str:
    """AMOUNT_TEXT: what `parse_yuan_amount` accepts, as one regular expression (the API's OpenAPI pattern)."""
    d, n, z, p = written.DIGIT, written.NONZERO, written.ZERO, written.POINT
    largest_whole = len(str(int(MAX_TYPED_YUAN))) - 1  # digits of the wholes below MAX_TYPED_YUAN
    if MAX_TYPED_YUAN != 10 ** largest_whole:
        raise AssertionError("AMOUNT_TEXT assumes MAX_TYPED_YUAN is a power of ten")
    below = f"{n}{d}{{0,{largest_whole - 1}}}(?:{p}{d}{{1,2}})?"
    exactly_max = f"[1１]{z}{{{largest_whole}}}(?:{p}{z}{{1,2}})?"
    fen_only = f"{z}+{p}(?:{z}{n}|{n}{d}?)"
    return f"^(?:{z}*(?:{below}|{exactly_max})|{fen_only})$"


AMOUNT_TEXT = _amount_text()


def _too_large_as_written(text: str) -> bool:
    """Whether refused text still plainly means a number above MAX_TYPED_YUAN ("99,999,999,999.99", "1e12",
    full-width digits too), so that the refusal says "too large" rather than "not an amount"."""
    loose = written.fold(text.replace(",", "").replace("，", "").replace("_", ""))
    try:
        amount = Decimal(loose)
    except ArithmeticError:
        return False
    return amount.is_finite() and amount > MAX_TYPED_YUAN


def parse_yuan_amount(text: Any, *, field: str = "amount") -> int:
    """A positive amount written as yuan ("123.45", "１２３．４５": gridcounter.domain.written's rule) → fen.

    At most two decimals as written, at most MAX_TYPED_YUAN; no sign, no spaces (interfaces strip typed text
    first), nothing but digits and one point. Exactly the text AMOUNT_TEXT matches.

    Raises InvalidAmount naming ``field`` for anything but text (a JSON number, true/false: code FLOAT), text that
    is not a number, zero or negative amounts, more than MAX_TYPED_YUAN, more than two decimals.
    """
    if not isinstance(text, str):
        raise InvalidAmount(field=field, message="must be given as a string such as \"123.45\", not a number or"
                            " true/false", code=InvalidAmount.FLOAT)
    if not text:
        raise InvalidAmount(field=field, message="is required", code=InvalidAmount.REQUIRED)
    negative = text.startswith("-")
    try:
        amount = written.decimal_from_text(text[1:] if negative else text)
    except written.NotWritten:
        if _too_large_as_written(text):
            raise InvalidAmount(field=field, message=f"\"{text}\" is larger than {MAX_TYPED_YUAN} yuan",
                                code=InvalidAmount.TOO_LARGE)
        raise InvalidAmount(field=field, message=f"\"{text}\" is not an amount in yuan such as \"123.45\"",
                            code=InvalidAmount.NOT_A_NUMBER)
    if negative or amount <= 0:
        raise InvalidAmount(field=field, message=f"\"{text}\" must be greater than zero",
                            code=InvalidAmount.NOT_POSITIVE)
    if amount > MAX_TYPED_YUAN:
        raise InvalidAmount(field=field, message=f"\"{text}\" is larger than {MAX_TYPED_YUAN} yuan",
                            code=InvalidAmount.TOO_LARGE)
    if amount.as_tuple().exponent < -2:
        raise InvalidAmount(field=field, message=f"\"{text}\" has more than two decimals (fen is the smallest unit)",
                            code=InvalidAmount.TOO_MANY_DECIMALS)
    return yuan_to_fen(amount)


# --- entries ----------------------------------------------------------------------------------------------

def check_balanced(lines: Sequence[Line]) -> None:
    """Refuse an entry whose postings do not sum to zero. Raises UnbalancedEntry."""
    if len(lines) < 2:
        raise UnbalancedEntry(f"an entry needs at least two postings, got {len(lines)}")
    for _ledger_account, _account, amount in lines:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise UnbalancedEntry(f"posting amounts are integer fen, got {amount!r}")
    total = sum(amount for _l, _a, amount in lines)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total:+d} fen, not zero")


def bill_lines(*, account: Any, amount_fen: int) -> list[Line]:
    """A bill: the customer owes more (debit receivable), revenue is earned (credit energy revenue)."""
    return [(RECEIVABLE, account, amount_fen), (ENERGY_REVENUE, None, -amount_fen)]


_CUSTOMER = object()  # stands for the customer's account when a rule's postings are read as a template


def bill_posting_template() -> list[tuple[str, bool, int]]:
    """`bill_lines` read as a template for the bill run's vectorised postings: per posting, in order, its ledger
    account, whether it names the customer's account, and the sign of the bill's amount it carries. Read off the
    rule itself (and checked to be linear in the amount), so the bill run writes the postings `bill_lines` states."""
    one, two = bill_lines(account=_CUSTOMER, amount_fen=1), bill_lines(account=_CUSTOMER, amount_fen=2)
    template = []
    for (ledger_account, account, amount), (_l, _a, doubled) in zip(one, two, strict=True):
        if account not in (_CUSTOMER, None) or doubled != 2 * amount or amount not in (1, -1):
            raise ValueError(f"bill_lines is not a signed copy of the amount per posting: {one}")
        template.append((ledger_account, account is _CUSTOMER, amount))
    return template


def unbalanced_entries(postings) -> list[tuple[Any, int, int]]:
    """`check_balanced` over a Polars frame of many entries' postings (`entry_id`, `amount_fen`), its vectorised
    form for the bill run: the entries with fewer than two postings or a non-zero sum, as (entry_id, postings, sum)."""
    import polars as pl

    sums = postings.group_by("entry_id").agg(pl.len().alias("n"), pl.col("amount_fen").sum().alias("total"))
    bad = sums.filter((pl.col("n") < 2) | (pl.col("total") != 0)).sort("entry_id")
    return list(bad.select("entry_id", "n", "total").iter_rows())


def payment_lines(*, account: Any, amount_fen: int, channel: str) -> list[Line]:
    """A payment: money arrives on the channel's account (debit), the customer owes less (credit receivable)."""
    return [(CHANNEL_LEDGER_ACCOUNT[channel], None, amount_fen), (RECEIVABLE, account, -amount_fen)]


def adjustment_lines(*, account: Any, amount_fen: int) -> list[Line]:
    """An adjustment: positive charges the customer more, negative gives credit."""
    return [(RECEIVABLE, account, amount_fen), (ADJUSTMENT, None, -amount_fen)]


def penalty_lines(*, account: Any, amount_fen: int) -> list[Line]:
    """A late-payment penalty charged: the customer owes more (debit receivable), penalty revenue (credit). Its
    waiver is the opposite entry, for what is left unpaid."""
    return [(RECEIVABLE, account, amount_fen), (PENALTY_REVENUE, None, -amount_fen)]


def opposite_lines(lines: Iterable[Line]) -> list[Line]:
    """The entry that undoes ``lines`` (a reversal or cancellation): every amount negated."""
    return [(ledger_account, account, -amount) for ledger_account, account, amount in lines]


def receivable_balance(lines: Iterable[Line], *, account: Any) -> int:
    """What ``account`` owes (positive) or has in credit (negative): the sum of its receivable postings."""
    return sum(amount for ledger_account, acc, amount in lines if ledger_account == RECEIVABLE and acc == account)


# --- allocation -------------------------------------------------------------------------------------------

def allocate_oldest_first(*, amount_fen: int, open_items: Sequence[tuple[K, int]]) -> tuple[list[tuple[K, int]], int]:
    """Spread ``amount_fen`` over ``open_items`` (key, outstanding fen), given oldest first.

    Returns the allocations (key, fen), skipping items that get nothing, and the surplus left as credit.
    """
    if amount_fen < 0:
        raise ValueError("cannot allocate a negative amount")
    remaining = amount_fen
    allocations: list[tuple[K, int]] = []
    for key, outstanding in open_items:
        if remaining == 0:
            break
        if outstanding <= 0:
            continue
        share = min(remaining, outstanding)
        allocations.append((key, share))
        remaining -= share
    return allocations, remaining


# --- the entries' hash chain -------------------------------------------------------------------------------------

CHAIN_START = "0" * 64  # the digest before an account's first entry
SEALED_FIELDS = ("id", "kind", "account_id", "effective_date", "created_at", "description", "source_type",
                 "source_id", "reverses_id", "idempotency_key", "created_by_id", "hall_id", "reason")


def _canonical(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def entry_digest(*, key: bytes, previous: str, entry: Mapping[str, Any],
                 postings: Iterable[tuple[str, int | None, int]]) -> str:
    """The entry's link in its customer account's chain: HMAC-SHA256 under `key` of the previous link, every field
    of SEALED_FIELDS and the entry's postings (ledger account, customer account id, fen), in a canonical order.

    Any change to a sealed field or a posting, a posting added, moved or removed, or an entry removed from the chain
    changes this link and every one after it; without `key` (kept outside the database) no one can make new ones.
    """
    message = json.dumps([previous, [_canonical(entry[name]) for name in SEALED_FIELDS],
                          sorted([code, account_id if account_id is not None else -1, int(amount)]
                                 for code, account_id, amount in postings)],
                         ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


# --- the till ---------------------------------------------------------------------------------------------

# Renminbi notes and coins a clerk counts at day's end, in fen: 100, 50, 20, 10, 5, 1, 0.5, 0.1 yuan.
DENOMINATIONS_FEN = (10000, 5000, 2000, 1000, 500, 100, 50, 10)


def counted_cash_fen(counts: dict[int, int]) -> int:
    """Cash counted: pieces per denomination (fen → pieces) → fen. Raises ValueError for an unknown denomination
    or a negative or non-whole count."""
    total = 0
    for denomination, pieces in counts.items():
        if denomination not in DENOMINATIONS_FEN:
            raise ValueError(f"{denomination} fen is not a denomination")
        if not isinstance(pieces, int) or isinstance(pieces, bool) or pieces < 0:
            raise ValueError(f"pieces of {denomination} fen must be a whole number ≥ 0, not {pieces!r}")
        total += denomination * pieces
    return total


# --- cash at the counter: the change, and a payment far above what is owed -----------------------------------------

DEFAULT_CONFIRM_MULTIPLE = 10  # a payment above this many times what is owed asks the clerk to confirm it


def change_fen(*, amount_fen: int, tendered_fen: int) -> int:
    """The change to hand back for `tendered_fen` of cash on a payment of `amount_fen`.

    Raises InvalidAmount (field "tendered", code TOO_LITTLE) when less was tendered than is being paid."""
    if tendered_fen < amount_fen:
        raise InvalidAmount(field="tendered", code=InvalidAmount.TOO_LITTLE,
                            message=f"{format_fen(tendered_fen)} yuan tendered is less than the "
                                    f"{format_fen(amount_fen)} yuan paid")
    return tendered_fen - amount_fen


def needs_confirmation(*, amount_fen: int, owed_fen: int, multiple: int = DEFAULT_CONFIRM_MULTIPLE) -> bool:
    """A payment of more than `multiple` times what is owed (a balance of credit owes nothing) is confirmed with
    the customer before it is booked: a typing error (an extra zero, the account number in the amount field) would
    otherwise become credit that only a reversal takes back."""
    return amount_fen > multiple * max(owed_fen, 0)
