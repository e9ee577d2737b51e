"""Write one audit event; the only way rows enter the audit log."""
from __future__ import annotations

from datetime import UTC, datetime

from .context import current_actor
from .models import AuditEvent


def record_event(*, action: str, obj=None, object_type: str = "", object_id: str = "", detail: dict | None = None,
                 reason: str | None = None, occurred_at: datetime | None = None, user=None, hall=None,
                 ip_address: str | None = None) -> AuditEvent:
    actor = current_actor()
    user = user if user is not None else actor.user
    hall = hall if hall is not None else actor.hall
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or str(obj.pk)
    return AuditEvent.objects.create(
        occurred_at=occurred_at or datetime.now(UTC),
        action=action,
        user_id=getattr(user, "pk", None),
        username=getattr(user, "username", "") or (actor.name if user is actor.user else ""),
        hall_id=getattr(hall, "pk", None),
        channel=actor.channel,
        object_type=object_type,
        object_id=object_id,
        reason=reason if reason is not None else actor.reason,
        detail=detail or {},
        ip_address=ip_address,
    )
