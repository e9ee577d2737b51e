"""What a photo of a meter's register may be: JPEG, PNG or WebP, told by its first bytes, never by its name."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhotoType:
    name: str  # as Pillow names the format
    content_type: str
    extension: str


JPEG = PhotoType("JPEG", "image/jpeg", "jpg")
PNG = PhotoType("PNG", "image/png", "png")
WEBP = PhotoType("WEBP", "image/webp", "webp")
PHOTO_TYPES = (JPEG, PNG, WEBP)
HEAD_BYTES = 16  # enough for every signature below


def sniff_photo_type(head: bytes) -> PhotoType | None:
    """The photo type whose signature ``head`` (the file's first bytes) starts with; None for anything else
    (HEIC, GIF, SVG, a PDF or a program renamed .jpg)."""
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None
