"""The type of a register photo is told by its first bytes: JPEG, PNG, WebP; anything else is refused."""
from __future__ import annotations

import pytest

from gridcounter.domain.readings.photos import JPEG, PNG, WEBP, sniff_photo_type
from tests.factories import photos


@pytest.mark.parametrize("content, expected", [
    (photos.jpeg(), JPEG), (photos.png(), PNG), (photos.webp(), WEBP),
])
def test_real_pictures_are_told_by_their_bytes(content, expected):
    assert sniff_photo_type(content[:16]) is expected


@pytest.mark.parametrize("content", [photos.GIF, photos.SVG, photos.HTML_AS_JPEG, b"", b"RIFF\x00\x00\x00\x00WAVE",
                                     b"%PDF-1.7\n"])
def test_anything_else_is_no_photo_type(content):
    assert sniff_photo_type(content[:16]) is None
