"""Photos of the register taken with a reading: checked (type by its bytes, size, a picture that decodes), stored
under MEDIA_ROOT with a thumbnail, audited; looked up for the auditor's screens."""
from __future__ import annotations

import hashlib
import io
import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from gridcounter.application.readings._readings import ReadingInputError
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.readings.models import Reading, ReadingPhoto
from gridcounter.domain.readings.photos import HEAD_BYTES, sniff_photo_type

PHOTO_FIELD = "photo"
THUMBNAIL_PX = 320  # the longer side of the thumbnail the review queue shows
MAX_PIXELS = 80_000_000  # a 12 MP phone photo is 12 M; a picture "bigger" than this is a decompression bomb
REQUIREMENTS = ("OPTIONAL", "FLAGGED", "ALWAYS")


class PhotoRefused(ReadingInputError):
    """The photo is not one we keep (type, size, damaged) or a required photo is missing; nothing was stored.
    ``code``: TYPE, TOO_LARGE, EMPTY, DAMAGED, REQUIRED."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message, field=PHOTO_FIELD)
        self.code = code


@dataclass(frozen=True)
class CheckedPhoto:
    content: bytes
    content_type: str
    extension: str
    sha256: str
    width: int
    height: int


def photo_max_bytes() -> int:
    return int(getattr(settings, "GRIDCOUNTER_READING_PHOTO_MAX_BYTES", 8 * 1024 * 1024))


def photo_requirement() -> str:
    """OPTIONAL, FLAGGED (a reading that breaks a rule needs one) or ALWAYS (settings)."""
    value = str(getattr(settings, "GRIDCOUNTER_READING_PHOTO_REQUIRED", "OPTIONAL")).upper()
    return value if value in REQUIREMENTS else "OPTIONAL"


def photo_required(*, flagged: bool) -> bool:
    """Whether a reading (with findings, ``flagged``) may be stored only with a photo."""
    requirement = photo_requirement()
    return requirement == "ALWAYS" or (requirement == "FLAGGED" and flagged)


def require_photo(*, flagged: bool) -> None:
    """Raises PhotoRefused (REQUIRED) when the settings want a photo with this reading."""
    if photo_required(flagged=flagged):
        if flagged:
            raise PhotoRefused(_("photo: this reading looks wrong; take a photo of the register to send with it."),
                               code="REQUIRED")
        raise PhotoRefused(_("photo: take a photo of the register to send with the reading."), code="REQUIRED")


def check_photo(*, content: bytes, size: int | None = None) -> CheckedPhoto:
    """The photo, if we keep it: at most ``photo_max_bytes()``, JPEG, PNG or WebP by its first bytes, and a picture
    that opens as the same type. ``size`` (the upload's declared size) lets a too-large photo be refused unread.

    Raises PhotoRefused (TOO_LARGE, EMPTY, TYPE, DAMAGED).
    """
    limit = photo_max_bytes()
    size = len(content) if size is None else size
    if size > limit or len(content) > limit:
        raise PhotoRefused(_("photo: %(size)s is larger than the %(limit)s allowed; take it again at a lower "
                             "resolution.") % {"size": filesizeformat(size), "limit": filesizeformat(limit)},
                           code="TOO_LARGE")
    if not content:
        raise PhotoRefused(_("photo: the file is empty."), code="EMPTY")
    kind = sniff_photo_type(content[:HEAD_BYTES])
    if kind is None:
        raise PhotoRefused(_("photo: only JPEG, PNG or WebP pictures are kept; this file is none of them."),
                           code="TYPE")
    width, height = _verified_size(content, expected=kind.name)
    return CheckedPhoto(content=content, content_type=kind.content_type, extension=kind.extension,
                        sha256=hashlib.sha256(content).hexdigest(), width=width, height=height)


def _verified_size(content: bytes, *, expected: str) -> tuple[int, int]:
    from PIL import Image

    damaged = PhotoRefused(_("photo: the picture is damaged or incomplete; take it again."), code="DAMAGED")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.format != expected or image.width * image.height > MAX_PIXELS:
                    raise damaged
                image.verify()
                return image.width, image.height
    except PhotoRefused:
        raise
    except Exception:  # Pillow raises many kinds for a bad file (OSError, SyntaxError, ValueError, bombs)
        raise damaged from None


def _thumbnail(content: bytes) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(content)) as image:
        image.draft("RGB", (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))  # JPEG: decode at a fraction of the size
        small = ImageOps.exif_transpose(image)  # phones store the camera's turn in EXIF
        small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        if small.mode not in ("RGB", "L"):
            small = small.convert("RGB")
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=80)
        return out.getvalue()


def attach_photo(*, reading: Reading, photo: CheckedPhoto, actor: Actor, now: datetime) -> tuple[ReadingPhoto, bool]:
    """Keep ``photo`` with ``reading`` (and its thumbnail); audited as READING_PHOTO_ATTACHED. The same photo sent
    again with the same reading (a retry) is kept once: (the stored photo, False). The caller checks access.

    The files are written first, then the row; if the row cannot be saved the files are removed. Call it last in
    the caller's transaction, so that only a failed commit could leave a file without its row.
    """
    existing = ReadingPhoto.objects.filter(reading=reading, sha256=photo.sha256).first()
    if existing is not None:
        return existing, False
    stem = f"{reading.pk}-{uuid.uuid4().hex[:12]}"
    row = ReadingPhoto(reading=reading, content_type=photo.content_type, size_bytes=len(photo.content),
                       sha256=photo.sha256, width=photo.width, height=photo.height, uploaded_at=now,
                       uploaded_by=actor.user, hall=actor.hall)
    row.file.save(f"{stem}.{photo.extension}", ContentFile(photo.content), save=False)
    written = [row.file.name]
    try:
        thumbnail = _thumbnail(photo.content)
    except Exception:  # an unusual colour mode Pillow cannot turn into a JPEG: the photo is kept, shown full size
        thumbnail = None
    if thumbnail is not None:
        row.thumbnail.save(f"{stem}-thumb.jpg", ContentFile(thumbnail), save=False)
        written.append(row.thumbnail.name)
    storage = row.file.storage

    def remove_files():
        for name in written:
            storage.delete(name)

    try:
        with acting_as(actor), transaction.atomic():
            row.save()
            record_event(action="READING_PHOTO_ATTACHED", obj=reading, detail={
                "photo": row.pk, "meter": reading.meter.asset_number, "register": reading.register,
                "value": str(reading.value), "sha256": row.sha256, "content_type": row.content_type,
                "size_bytes": row.size_bytes, "width": row.width, "height": row.height})
    except IntegrityError:  # the same photo, sent twice at once: the other request kept it
        remove_files()
        return ReadingPhoto.objects.get(reading=reading, sha256=photo.sha256), False
    except BaseException:
        remove_files()
        raise
    return row, True


def photos_by_reading(reading_ids: Iterable[int]) -> dict[int, list[ReadingPhoto]]:
    """reading id → its photos, oldest first (one query)."""
    out: dict[int, list[ReadingPhoto]] = defaultdict(list)
    for photo in (ReadingPhoto.objects.filter(reading_id__in=list(reading_ids)).select_related("reading")
                  .order_by("uploaded_at", "id")):
        out[photo.reading_id].append(photo)
    return out
