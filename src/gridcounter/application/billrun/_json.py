"""JSON text of a bill's JSON fields as the writers store it (decimals and dates as text)."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal


def json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, cls=_Encoder)


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal | date):
            return str(o)
        return super().default(o)
