"""The refusal of one input of a domain calculation, named by its field, with its message in both languages."""
from __future__ import annotations


class InvalidInput(ValueError):
    """An input is out of range. `field` names it; the message is in both languages (`text_zh`, `text_en`); str() is
    `field: English message`. Each area raises its own subclass (InvalidBackBillingInput, InvalidPenaltyInput)."""

    def __init__(self, *, field: str, text_zh: str, text_en: str):
        super().__init__(f"{field}: {text_en}")
        self.field = field
        self.text_zh = text_zh
        self.text_en = text_en
