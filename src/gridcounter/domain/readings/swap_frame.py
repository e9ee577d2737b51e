"""The swap rule's screen for bulk imports, beside `swap.check_pair`: over a Polars frame of candidates it finds the
groups (one building, register and day) where no pair can be suspected, so that the reference need not gather the
cycles of their accounts at all. It only proves absence; every pair and its finding still come from
`swap.detect_swaps`.

A pair of a group can be suspected only if, with each account's expected consumption anywhere in its bounds
[``lo_c``, ``hi_c``] (0.01; `validation_frame.expected_bounds`), its readings overlap swapped (each new reading at
least the other's previous one), the largest misfit as recorded reaches ``swap_min_misfit_kwh`` and the smallest
misfit swapped, times ``swap_factor``, is at most that largest misfit as recorded (`swap.check_pair`, same
`Thresholds`). A group with a candidate without bounds is kept. `tests/unit/domain/readings/test_swap_frame.py`
checks that every group where `detect_swaps` finds a pair is kept.
"""
from __future__ import annotations

import polars as pl

from .validation import Thresholds
from .validation_frame import centi

CANDIDATE_SCHEMA = {"group": pl.Int64, "account_id": pl.Int64, "prev_c": pl.Int64, "curr_c": pl.Int64,
                    "lo_c": pl.Int64, "hi_c": pl.Int64}


def _largest(x: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    return pl.max_horizontal((x - lo).abs(), (x - hi).abs())


def _smallest(x: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    return pl.when((x >= lo) & (x <= hi)).then(0).otherwise(pl.min_horizontal((x - lo).abs(), (x - hi).abs()))


def possible_groups(candidates: pl.DataFrame, *, rules: Thresholds) -> set[int]:
    """The groups of ``candidates`` (`CANDIDATE_SCHEMA`) where `detect_swaps` may find a pair."""
    minimum = centi(rules.swap_min_misfit_kwh)
    p, q = rules.swap_factor.as_integer_ratio()
    sizes = candidates.group_by("group").agg(n=pl.len(), unknown=pl.col("lo_c").is_null().any())
    groups = sizes.filter(pl.col("n") >= 2)
    if minimum is None:
        return set(groups["group"].to_list())
    kept = set(groups.filter("unknown")["group"].to_list())
    known = candidates.join(groups.filter(~pl.col("unknown")).select("group"), on="group").with_columns(
        pl.col("prev_c", "curr_c", "lo_c", "hi_c").cast(pl.Int128))
    pairs = known.join(known, on="group", suffix="_b").filter(pl.col("account_id") < pl.col("account_id_b"))
    straight = (_largest(pl.col("curr_c") - pl.col("prev_c"), pl.col("lo_c"), pl.col("hi_c"))
                + _largest(pl.col("curr_c_b") - pl.col("prev_c_b"), pl.col("lo_c_b"), pl.col("hi_c_b")))
    swapped = (_smallest(pl.col("curr_c") - pl.col("prev_c_b"), pl.col("lo_c_b"), pl.col("hi_c_b"))
               + _smallest(pl.col("curr_c_b") - pl.col("prev_c"), pl.col("lo_c"), pl.col("hi_c")))
    possible = pairs.filter((pl.col("curr_c") >= pl.col("prev_c_b")) & (pl.col("curr_c_b") >= pl.col("prev_c"))
                            & (straight >= minimum) & (swapped * p <= straight * q))
    return kept | set(possible["group"].unique().to_list())


__all__ = ["CANDIDATE_SCHEMA", "possible_groups"]
