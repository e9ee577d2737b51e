"""Photos of the register kept with a reading: the checks (type by bytes, size, a picture that opens), the files and
the row written together, a resend kept once, the upload audited; who may open one (``access_reading_photo``)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from gridcounter.application.access import AccessDenied, ObjectHidden, access_reading_photo
from gridcounter.application.readings import PhotoRefused, attach_photo, check_photo, submit_reading
from gridcounter.data.audit.context import Actor
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.org.models import Role
from gridcounter.data.readings.models import ReadingPhoto
from tests.factories import org, photos


def _reading(world):
    _account, meter, last = world.stops[1]
    actor = Actor(user=world.reader, hall=world.reader.hall, channel="WEB", reason="test")
    outcome = submit_reading(meter=meter, register="TOTAL", read_at=timezone.now() - timedelta(minutes=5),
                             value=last + 200, source="HANDHELD", actor=actor)
    return outcome.reading, actor


@pytest.mark.django_db
@pytest.mark.parametrize("make, content_type", [(photos.png, "image/png"), (photos.jpeg, "image/jpeg"),
                                                (photos.webp, "image/webp")])
def test_jpeg_png_and_webp_are_kept_with_their_size_and_hash(make, content_type):
    content = make(size=(80, 60))

    checked = check_photo(content=content)

    assert (checked.content_type, checked.width, checked.height) == (content_type, 80, 60)
    assert len(checked.sha256) == 64


@pytest.mark.django_db
@pytest.mark.parametrize("content, code", [
    (photos.GIF, "TYPE"), (photos.SVG, "TYPE"), (photos.HTML_AS_JPEG, "TYPE"), (b"", "EMPTY"),
    (photos.truncated_png(), "DAMAGED"),
])
def test_other_files_are_refused_naming_the_photo_field(content, code):
    with pytest.raises(PhotoRefused) as refused:
        check_photo(content=content)

    assert refused.value.code == code and refused.value.field == "photo"
    assert str(refused.value).startswith("照片：")


@pytest.mark.django_db
def test_a_photo_over_the_size_limit_is_refused_with_both_sizes_in_words(settings):
    settings.GRIDCOUNTER_READING_PHOTO_MAX_BYTES = 1024
    content = photos.noisy_png()

    with pytest.raises(PhotoRefused) as refused:
        check_photo(content=content)

    assert refused.value.code == "TOO_LARGE"
    assert "超过允许的 1.0\xa0KB" in str(refused.value)
    # the declared size is enough: a large upload is refused before it is read
    with pytest.raises(PhotoRefused):
        check_photo(content=b"", size=10 * 1024 * 1024)


@pytest.mark.django_db
def test_the_photo_is_stored_under_media_root_with_a_thumbnail_and_audited_once(reader_route, photo_media):
    reading, actor = _reading(reader_route)
    checked = check_photo(content=photos.jpeg(size=(1200, 900)))
    now = timezone.now()

    photo, created = attach_photo(reading=reading, photo=checked, actor=actor, now=now)
    again, created_again = attach_photo(reading=reading, photo=checked, actor=actor, now=now)

    assert created and not created_again and again.pk == photo.pk
    assert ReadingPhoto.objects.filter(reading=reading).count() == 1
    stored = Path(photo_media) / photo.file.name
    assert stored.read_bytes() == checked.content  # kept as it came: its SHA-256 is the one recorded
    assert stored.is_relative_to(Path(photo_media) / "reading-photos")
    with Image.open(Path(photo_media) / photo.thumbnail.name) as thumb:
        assert max(thumb.size) == 320 and thumb.format == "JPEG"
    assert (photo.uploaded_by, photo.hall, photo.content_type, photo.size_bytes) == (
        reader_route.reader, reader_route.east, "image/jpeg", len(checked.content))
    event = AuditEvent.objects.get(action="READING_PHOTO_ATTACHED", object_id=str(reading.pk))
    assert event.user == reader_route.reader and event.detail["sha256"] == checked.sha256
    assert event.detail["value"] == str(reading.value)


@pytest.mark.django_db
def test_readers_auditors_and_supervisors_of_the_city_open_a_photo_clerks_and_other_cities_do_not(
        reader_route, photo_media):
    reading, actor = _reading(reader_route)
    photo, _created = attach_photo(reading=reading, photo=check_photo(content=photos.png()), actor=actor,
                                   now=timezone.now())
    other_auditor = org.staff("auditor.other", hall=reader_route.other_hall, roles=(Role.Code.AUDITOR,))

    for user in (reader_route.reader, reader_route.auditor, reader_route.supervisor, reader_route.admin):
        assert access_reading_photo(user=user, photo_id=photo.pk) == photo
    with pytest.raises(ObjectHidden):
        access_reading_photo(user=other_auditor, photo_id=photo.pk)
    with pytest.raises(ObjectHidden):
        access_reading_photo(user=reader_route.other_supervisor, photo_id=photo.pk)
    with pytest.raises(AccessDenied) as clerk:
        access_reading_photo(user=reader_route.clerk, photo_id=photo.pk)
    assert not isinstance(clerk.value, ObjectHidden)
    assert AuditEvent.objects.filter(action="ACCESS_DENIED", user=other_auditor).exists()
    assert AuditEvent.objects.filter(action="ACCESS_DENIED", user=reader_route.clerk).exists()


@pytest.mark.django_db
def test_the_thumbnail_is_turned_as_the_phone_was_held(reader_route, photo_media):
    reading, actor = _reading(reader_route)
    checked = check_photo(content=photos.turned_jpeg(size=(400, 200)))

    photo, _created = attach_photo(reading=reading, photo=checked, actor=actor, now=timezone.now())

    with Image.open(Path(photo_media) / photo.thumbnail.name) as thumb:
        assert thumb.size == (160, 320)  # portrait, as the reader saw the dial
    assert (photo.width, photo.height) == (400, 200)  # the file itself is kept as it came
