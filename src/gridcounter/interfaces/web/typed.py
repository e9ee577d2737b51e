"""A register value typed at the counter or on the reader's phone, read by the one rule for numbers as text."""
from __future__ import annotations

from django.utils.translation import gettext as _

from gridcounter.application.readings import ReadingInputError
from gridcounter.domain import written


def typed_value(text: str) -> str:
    """The value in ASCII ("１２３．４５" → "123.45"; a leading "-" is kept so the reading is refused as negative).

    Raises ReadingInputError (field value) for anything else the rule refuses: "1_000", "1,000", "1e3", "١٢٣".
    """
    try:
        return written.ascii_number(text.strip())
    except written.NotWritten:
        raise ReadingInputError(_("The reading “%(value)s” is not a number") % {"value": text},
                                field="value") from None
