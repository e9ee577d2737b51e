"""What an uploaded document may be: a PDF, a JPEG or a PNG (a scan or a phone photo), told by its first bytes."""
from __future__ import annotations

from gridcounter.domain.readings.photos import JPEG, PNG, PhotoType, sniff_photo_type

DocumentType = PhotoType
PDF = DocumentType("PDF", "application/pdf", "pdf")
DOCUMENT_TYPES = (PDF, JPEG, PNG)
HEAD_BYTES = 16


def sniff_document_type(head: bytes) -> DocumentType | None:
    """The document type whose signature `head` starts with; None for anything else (Word files, WebP, programs)."""
    if head[:5] == b"%PDF-":
        return PDF
    kind = sniff_photo_type(head)
    return kind if kind in (JPEG, PNG) else None
