"""Documents kept with a service request: checked (type by its bytes, size), stored under MEDIA_ROOT with their
SHA-256, audited; a retried upload of the same file is kept once."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.service.models import ServiceDocument, ServiceRequest
from gridcounter.domain.service import DOCUMENT_NAMES, HEAD_BYTES, sniff_document_type

DOCUMENT_FIELD = "document"


class DocumentRefused(ValueError):
    """The file is not one we keep; nothing was stored. ``code``: KIND, TYPE, TOO_LARGE, EMPTY, CLOSED."""

    def __init__(self, message: str, *, code: str, field: str = DOCUMENT_FIELD):
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class CheckedDocument:
    content: bytes
    content_type: str
    extension: str
    sha256: str


def document_max_bytes() -> int:
    return int(getattr(settings, "GRIDCOUNTER_SERVICE_DOCUMENT_MAX_BYTES", 10 * 1024 * 1024))


def check_document(*, content: bytes, size: int | None = None) -> CheckedDocument:
    """The file, if we keep it: at most ``document_max_bytes()``, a PDF, JPEG or PNG by its first bytes.

    Raises DocumentRefused (TOO_LARGE, EMPTY, TYPE).
    """
    limit = document_max_bytes()
    size = len(content) if size is None else size
    if size > limit or len(content) > limit:
        raise DocumentRefused(_("document: %(size)s is larger than the %(limit)s allowed; scan it at a lower "
                                "resolution.") % {"size": filesizeformat(size), "limit": filesizeformat(limit)},
                              code="TOO_LARGE")
    if not content:
        raise DocumentRefused(_("document: the file is empty."), code="EMPTY")
    kind = sniff_document_type(content[:HEAD_BYTES])
    if kind is None:
        raise DocumentRefused(_("document: only PDF, JPEG or PNG files are kept; this file is none of them."),
                              code="TYPE")
    return CheckedDocument(content=content, content_type=kind.content_type, extension=kind.extension,
                           sha256=hashlib.sha256(content).hexdigest())


def attach_document(*, request: ServiceRequest, kind: str, document: CheckedDocument, original_name: str,
                    actor: Actor, now: datetime) -> tuple[ServiceDocument, bool]:
    """Keep ``document`` with the request as a ``kind`` (ID, ADDRESS_PROOF, PROMISE, …), at its current step;
    audited as SERVICE_DOCUMENT_ATTACHED. The same file sent again as the same kind is kept once: (it, False).
    The caller checks access.

    Raises DocumentRefused (KIND: unknown document; CLOSED: every step is done).
    """
    if kind not in DOCUMENT_NAMES:
        raise DocumentRefused(_("document: choose which document this is."), code="KIND", field="kind")
    if request.state != ServiceRequest.State.OPEN:
        raise DocumentRefused(_("document: every step of this request is done; nothing more can be added."),
                              code="CLOSED")
    existing = ServiceDocument.objects.filter(request=request, kind=kind, sha256=document.sha256).first()
    if existing is not None:
        return existing, False
    row = ServiceDocument(request=request, kind=kind, step=request.current_step, content_type=document.content_type,
                          size_bytes=len(document.content), sha256=document.sha256,
                          original_name=(original_name or "")[:200], uploaded_at=now, uploaded_by=actor.user,
                          hall=actor.hall)
    row.file.save(f"{request.pk}-{uuid.uuid4().hex[:12]}.{document.extension}", ContentFile(document.content),
                  save=False)
    storage, name = row.file.storage, row.file.name
    try:
        with acting_as(actor), transaction.atomic():
            row.save()
            record_event(action="SERVICE_DOCUMENT_ATTACHED", obj=request, detail={
                "number": request.number, "document": row.pk, "kind": kind, "step": row.step,
                "sha256": row.sha256, "content_type": row.content_type, "size_bytes": row.size_bytes})
    except IntegrityError:  # the same file, sent twice at once: the other request kept it
        storage.delete(name)
        return ServiceDocument.objects.get(request=request, kind=kind, sha256=document.sha256), False
    except BaseException:
        storage.delete(name)
        raise
    return row, True
