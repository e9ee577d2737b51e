"""Photos of meter registers sent with readings: a page for the auditor and the image itself, only through here.

Never a public /media/ URL: each request checks role and city (``access_reading_photo``); the bytes go out with
their stored content type, ``nosniff``, ``Cache-Control: private, no-store`` and a policy that runs nothing.
"""
from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from gridcounter.application.access import (
    READING_PHOTO_ROLES,
    access_reading_photo,
    may_review_bills,
    may_serve_customers,
)
from gridcounter.interfaces.web.decorators import staff_required
from gridcounter.interfaces.web.reader_views import NOTES

# an image opened on its own is a document: it may show itself and nothing else
IMAGE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@require_GET
@staff_required(*READING_PHOTO_ROLES)
def reading_photo(request, pk: int):
    """The photo with its reading: meter, register, value, date, status, who sent it from which hall, and when."""
    photo = access_reading_photo(user=request.user, photo_id=pk)
    reading = photo.reading
    return render(request, "web/readings/photo.html", {
        "photo": photo, "reading": reading, "note_label": str(NOTES.get(reading.note, reading.note)),
        "may_review": may_review_bills(request.user),
        "may_open_account": may_serve_customers(request.user),
    })


@require_GET
@staff_required(*READING_PHOTO_ROLES)
def reading_photo_image(request, pk: int, size: str):
    """The photo's bytes (``size`` "full": as uploaded; "thumb": the small JPEG made from it)."""
    photo = access_reading_photo(user=request.user, photo_id=pk)
    if size == "thumb" and photo.thumbnail:
        stored, content_type, suffix = photo.thumbnail, "image/jpeg", "-thumb.jpg"
    elif size in ("full", "thumb"):  # no thumbnail could be made: the photo itself
        stored, content_type, suffix = photo.file, photo.content_type, "." + photo.file.name.rsplit(".", 1)[-1]
    else:
        raise Http404
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=content_type, as_attachment=False,
                            filename=f"reading-{photo.reading_id}-photo-{photo.pk}{suffix}")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = IMAGE_POLICY
    return response
