"""The bill run checks itself: each batch re-drafts a sample of its kernel-rated accounts through the reference.

The kernel (`tariffs.rating_frame`, `billing.explanation_frame`) is the optimisation of the per-account rules (`gather_inputs` + `draft_bill`); tests
prove they agree on the cases they build, and this proves it on every batch a production run bills, as GitHub's
Scientist runs a new path beside the old one. The sample is deterministic: the first account (lowest id) of
every shape of bill in the batch (tariff, status, tiers and time-of-use periods billed), and about 1 in
`SAMPLE_ONE_IN` of the others, chosen by a hash of the account id and the period. Any difference refuses the
batch: `ReferenceMismatch` names the account, the field and both values, and the batch's transaction rolls back.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

SAMPLE_ONE_IN = 1000  # besides one account per shape of bill: 0.1 % of the rest
_HASH = 2654435761  # Knuth's multiplicative hash: spreads consecutive ids over the residues

__all__ = ["ReferenceCheck", "ReferenceMismatch", "check_against_reference", "sample_accounts"]


class ReferenceMismatch(RuntimeError):
    """A kernel-rated bill differs from the reference's draft of the same account; the batch is not written."""

    def __init__(self, *, number: str, field: str, kernel, reference):
        self.number, self.field, self.kernel, self.reference = number, field, kernel, reference
        super().__init__(f"bill run refused: account {number}'s {field} is {kernel!r} by the kernel and "
                         f"{reference!r} by the reference rules")


@dataclass(frozen=True)
class ReferenceCheck:
    """What a batch's check cost: accounts re-drafted, and seconds."""

    accounts: int = 0
    seconds: float = 0.0


def sample_accounts(*, bills: pl.DataFrame, lines: pl.DataFrame, kernel_ids: set[int], period: str) -> list[int]:
    """The accounts of `kernel_ids` to re-draft: one per shape (tariff, status, the tiers and time-of-use periods of
    its energy lines), the lowest id of each, and those whose hash with the period falls on 0 mod SAMPLE_ONE_IN."""
    c = pl.col
    if not kernel_ids:
        return []
    salt = sum(ord(ch) for ch in period)
    energy = lines.filter(c("account_id").is_in(list(kernel_ids)) & (c("code") == "ENERGY")).group_by(
        "account_id").agg(c("tier").fill_null(0).unique().sort().cast(pl.String).str.join(",").alias("_tiers"),
                          c("tou_period").unique().sort().str.join(",").alias("_periods"))
    shaped = bills.filter(c("account_id").is_in(list(kernel_ids))).select("account_id", "tariff_id", "status").join(
        energy, on="account_id", how="left").with_columns(c("_tiers").fill_null(""), c("_periods").fill_null(""))
    firsts = shaped.group_by("tariff_id", "status", "_tiers", "_periods").agg(c("account_id").min())
    hashed = shaped.filter(((c("account_id") * _HASH + salt) % (2 ** 32)) % SAMPLE_ONE_IN == 0)
    return sorted(set(firsts["account_id"].to_list()) | set(hashed["account_id"].to_list()))


def check_against_reference(*, bills: pl.DataFrame, lines: pl.DataFrame, reference: tuple[pl.DataFrame, pl.DataFrame],
                            numbers: dict[int, str], started: float) -> ReferenceCheck:
    """Compare the kernel's bills and lines of the sampled accounts with the reference's (`reference`: the bills and
    lines frames of the reference drafts, as `draft_frames` makes them). Raises ReferenceMismatch on the first
    difference, in account order."""
    ref_bills, ref_lines = reference
    ids = ref_bills["account_id"].to_list()
    mine = {row["account_id"]: row for row in bills.filter(pl.col("account_id").is_in(ids)).iter_rows(named=True)}
    my_lines = _lines_by_account(lines.filter(pl.col("account_id").is_in(ids)))
    their_lines = _lines_by_account(ref_lines)
    for theirs in sorted(ref_bills.iter_rows(named=True), key=lambda r: r["account_id"]):
        account_id = theirs["account_id"]
        number = numbers.get(account_id, str(account_id))
        kernel = mine.get(account_id)
        if kernel is None:
            raise ReferenceMismatch(number=number, field="bill", kernel=None, reference=theirs["amount_fen"])
        for name in ("amount_fen", "status", "tariff_id", "kwh", "is_estimate", "hold_codes", "explanation",
                     "readings", "is_shock"):
            a, b = _comparable(name, kernel[name]), _comparable(name, theirs[name])
            if a != b:
                raise ReferenceMismatch(number=number, field=name, kernel=_shown(name, kernel, a),
                                        reference=_shown(name, theirs, b))
        a, b = my_lines.get(account_id, []), their_lines.get(account_id, [])
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            raise ReferenceMismatch(number=number, field=f"line {first + 1}",
                                    kernel=a[first] if first < len(a) else None,
                                    reference=b[first] if first < len(b) else None)
    return ReferenceCheck(accounts=len(ids), seconds=time.perf_counter() - started)


def _comparable(name: str, value):
    if name == "kwh":
        return Decimal(value)
    if name in ("hold_codes", "explanation", "readings"):
        return json.loads(value)
    return value


def _shown(name: str, row: dict, value):
    """What a mismatch names: both amounts for any difference, with the field's own values when it is another."""
    return value if name == "amount_fen" else {"amount_fen": row["amount_fen"], name: value}


def _lines_by_account(frame: pl.DataFrame) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for row in frame.sort("account_id", "position").iter_rows():
        out.setdefault(row[0], []).append((*row[1:5], Decimal(row[5]), row[6], Decimal(row[7]), *row[8:]))
    return out
