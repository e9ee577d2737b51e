"""Access notes per stop: how to reach a meter ("dog, key at neighbour"), kept per meter, edited by the reader."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.readings.models import AccessNote
from gridcounter.data.registry.models import Meter

MAX_ACCESS_NOTE = 200


def access_notes(meter_ids: Iterable[int]) -> dict[int, str]:
    """meter id → its access note (only meters that have one)."""
    return {n.meter_id: n.text for n in AccessNote.objects.filter(meter_id__in=list(meter_ids)).exclude(text="")}


def set_access_note(*, meter: Meter, text: str, actor: Actor, now: datetime) -> AccessNote:
    """Write (or clear, with empty text) the access note of ``meter``; audited. The caller checks access."""
    text = " ".join((text or "").split())[:MAX_ACCESS_NOTE]
    with acting_as(actor), transaction.atomic():
        note, created = AccessNote.objects.select_for_update().get_or_create(
            meter=meter, defaults={"text": text, "updated_at": now})
        before = "" if created else note.text
        if not created and note.text != text:
            note.text, note.updated_at = text, now
            note.save(update_fields=["text", "updated_at"])
        if created or before != text:
            record_event(action="ACCESS_NOTE_SET", obj=note, detail={"meter": meter.asset_number, "before": before,
                                                                      "text": text})
    return note
