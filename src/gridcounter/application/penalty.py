"""The late-payment penalty rules in force (rules/penalty.toml), read from the file the settings name."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from gridcounter.data.registry.models import UsageCategory
from gridcounter.domain.penalty import PenaltyRules, PenaltyRulesError, penalty_rules_from_mapping


def load_penalty_rules(*, path: str | Path) -> PenaltyRules:
    """The rules of the file at `path`, which must place every usage category of the registry and no other.
    Raises OSError, tomllib.TOMLDecodeError, PenaltyRulesError."""
    with open(path, "rb") as handle:
        rules = penalty_rules_from_mapping(tomllib.load(handle))
    missing = sorted(set(UsageCategory.values) - rules.categories)
    unknown = sorted(rules.categories - set(UsageCategory.values))
    if missing:
        raise PenaltyRulesError(f"penalty rules: [categories] does not place {', '.join(missing)}")
    if unknown:
        raise PenaltyRulesError(f"penalty rules: [categories] names no usage category {', '.join(unknown)}")
    return rules


@lru_cache(maxsize=4)
def _cached_rules(path: str, mtime: float) -> PenaltyRules:
    return load_penalty_rules(path=path)


def penalty_rules() -> PenaltyRules:
    """The rules in force: the file named by settings.GRIDCOUNTER_PENALTY_RULES (reread when it changes).
    Raises OSError, tomllib.TOMLDecodeError, PenaltyRulesError."""
    from django.conf import settings

    path = Path(settings.GRIDCOUNTER_PENALTY_RULES)
    return _cached_rules(str(path), path.stat().st_mtime)
