"""The banks that collect by withholding and their result codes (rules/banks.toml), from the file the settings name."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from gridcounter.domain.withholding import BankRules, bank_rules_from_mapping


def load_bank_rules(*, path: str | Path) -> BankRules:
    """Raises OSError, tomllib.TOMLDecodeError, BankRulesError."""
    with open(path, "rb") as handle:
        return bank_rules_from_mapping(tomllib.load(handle))


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> BankRules:
    return load_bank_rules(path=path)


def bank_rules() -> BankRules:
    """The rules in force: the file named by settings.GRIDCOUNTER_BANK_RULES (reread when it changes)."""
    from django.conf import settings

    path = Path(settings.GRIDCOUNTER_BANK_RULES)
    return _cached(str(path), path.stat().st_mtime)
