"""The swap screen (`swap_frame.possible_groups`) keeps every group where `swap.detect_swaps` finds a pair, with the
expected consumption anywhere in its bounds, and drops ordinary buildings."""
import tomllib
from decimal import Decimal
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcounter.domain.readings.swap import SwapCandidate, detect_swaps
from gridcounter.domain.readings.swap_frame import CANDIDATE_SCHEMA, possible_groups
from gridcounter.domain.readings.validation import Thresholds

RULES_FILE = Path(__file__).resolve().parents[4] / "rules" / "validation.toml"
RULES = Thresholds.from_mapping(tomllib.loads(RULES_FILE.read_text()))


def _screen(groups: list[list[tuple]], *, slack=(1, 2)) -> set[int]:
    """Groups of (prev_c, curr_c, expected_c or None for unknown bounds)."""
    rows = [{"group": g, "account_id": a, "prev_c": p, "curr_c": c,
             "lo_c": None if e is None else e - slack[0], "hi_c": None if e is None else e + slack[1]}
            for g, items in enumerate(groups) for a, (p, c, e) in enumerate(items)]
    return possible_groups(pl.DataFrame(rows, schema=CANDIDATE_SCHEMA), rules=RULES)


def _reference(items: list[tuple]) -> bool:
    return bool(detect_swaps([SwapCandidate(account_id=a, account_number=str(a), prev=Decimal(p) / 100,
                                            curr=Decimal(c) / 100, expected_kwh=Decimal(e or 0) / 100)
                              for a, (p, c, e) in enumerate(items)], rules=RULES))


def test_a_swapped_pair_is_kept_and_an_ordinary_building_dropped():
    swapped = [(100_000, 150_000, 20_000), (400_000, 420_000, 20_000), (900_000, 920_000, 20_000)]
    swapped[0], swapped[1] = (100_000, 420_000, 20_000), (400_000, 120_000, 20_000)
    ordinary = [(100_000, 120_000, 20_000), (400_000, 421_000, 20_000), (900_000, 919_000, 20_000)]
    assert _reference(swapped) and not _reference(ordinary)
    assert _screen([swapped, ordinary]) == {0}
    assert _screen([ordinary, [(1, 2, None), (3, 4, 1)]]) == {1}  # unknown bounds: kept
    assert _screen([[(100_000, 420_000, 20_000)]]) == set()  # alone: nothing to pair


values = st.integers(0, 200_000)
items = st.lists(st.tuples(values, values, st.sampled_from([0, 100, 2_000, 10_000, 30_000, 50_000])), min_size=1,
                 max_size=7)


@settings(max_examples=400, deadline=None)
@given(st.lists(items, min_size=1, max_size=6), st.integers(0, 1), st.integers(1, 2))
def test_every_group_the_reference_pairs_is_kept(groups, below, above):
    kept = _screen(groups, slack=(below, above))
    for g, group in enumerate(groups):
        if _reference(group):
            assert g in kept


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 40_000), st.just(20_000)), min_size=2,
                max_size=6))
def test_near_pairs_around_the_limits_are_kept(pairs):
    group = [(p, p + u, e) for p, u, e in pairs]
    if _reference(group):
        assert _screen([group]) == {0}
