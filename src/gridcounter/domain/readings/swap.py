"""Swapped-meter detection: two accounts in one building whose readings fit better the other way round."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .codes import Code, Finding, finding
from .validation import Thresholds


@dataclass(frozen=True)
class SwapCandidate:
    """One account's latest cycle: previous and current reading of the same register, expected use."""

    account_id: int
    account_number: str
    prev: Decimal
    curr: Decimal
    expected_kwh: Decimal = Decimal(0)  # 0 when unknown: the rule then compares raw advances


@dataclass(frozen=True)
class SwapPair:
    a: SwapCandidate
    b: SwapCandidate
    straight_kwh: Decimal  # misfit of the readings as recorded
    swapped_kwh: Decimal  # misfit if each reading belongs to the other account
    finding_a: Finding
    finding_b: Finding


def _misfit(prev: Decimal, curr: Decimal, expected: Decimal) -> Decimal:
    return abs((curr - prev) - expected)


def check_pair(a: SwapCandidate, b: SwapCandidate, *, rules: Thresholds) -> SwapPair | None:
    """SWAP_SUSPECTED for both when each new reading is the other meter's continuation.

    |(curr_A - prev_B) - exp_B| + |(curr_B - prev_A) - exp_A| (readings swapped) is at most 1/factor of
    |(curr_A - prev_A) - exp_A| + |(curr_B - prev_B) - exp_B| (as recorded), and the recorded misfit
    is at least swap.min_misfit_kwh; swapped, neither account may go backwards.
    """
    straight = _misfit(a.prev, a.curr, a.expected_kwh) + _misfit(b.prev, b.curr, b.expected_kwh)
    if a.curr < b.prev or b.curr < a.prev:
        return None
    swapped = _misfit(b.prev, a.curr, b.expected_kwh) + _misfit(a.prev, b.curr, a.expected_kwh)
    if straight < rules.swap_min_misfit_kwh or swapped * rules.swap_factor > straight:
        return None
    q = Decimal("0.01")
    s, w = straight.quantize(q, rounding=ROUND_HALF_UP), swapped.quantize(q, rounding=ROUND_HALF_UP)
    return SwapPair(
        a=a, b=b, straight_kwh=s, swapped_kwh=w,
        finding_a=finding(Code.SWAP_SUSPECTED, other_account=b.account_number, straight_kwh=s, swapped_kwh=w),
        finding_b=finding(Code.SWAP_SUSPECTED, other_account=a.account_number, straight_kwh=s, swapped_kwh=w),
    )


def detect_swaps(candidates: Sequence[SwapCandidate], *, rules: Thresholds) -> list[SwapPair]:
    """Pairs among the accounts of one building, best fitting first; an account is in one pair at most."""
    pairs = []
    for i, a in enumerate(candidates):
        for b in candidates[i + 1:]:
            pair = check_pair(a, b, rules=rules)
            if pair:
                pairs.append(pair)
    pairs.sort(key=lambda p: (p.swapped_kwh / p.straight_kwh, p.a.account_id, p.b.account_id))
    taken: set[int] = set()
    chosen = []
    for pair in pairs:
        if pair.a.account_id in taken or pair.b.account_id in taken:
            continue
        taken |= {pair.a.account_id, pair.b.account_id}
        chosen.append(pair)
    return chosen
