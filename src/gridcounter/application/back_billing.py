"""The back-billing rules in force (rules/back-billing.toml), read from the file the settings name."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from gridcounter.domain.back_billing import BackBillingRule, rules_from_mapping


def load_back_billing_rules(*, path: str | Path) -> dict[str, BackBillingRule]:
    """The rules of the file at `path`, by code. Raises OSError, tomllib.TOMLDecodeError, BackBillingRulesError."""
    with open(path, "rb") as handle:
        return rules_from_mapping(tomllib.load(handle))


@lru_cache(maxsize=4)
def _cached_rules(path: str, mtime: float) -> dict[str, BackBillingRule]:
    return load_back_billing_rules(path=path)


def back_billing_rules() -> dict[str, BackBillingRule]:
    """The rules in force: the file named by settings.GRIDCOUNTER_BACK_BILLING_RULES (reread when it changes).
    Raises OSError, tomllib.TOMLDecodeError, BackBillingRulesError."""
    from django.conf import settings

    path = Path(settings.GRIDCOUNTER_BACK_BILLING_RULES)
    return _cached_rules(str(path), path.stat().st_mtime)
