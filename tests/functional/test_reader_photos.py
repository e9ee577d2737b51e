"""The photo of the register a reader takes with a reading: sent with it from the phone (multipart), refused in
words naming the field when it is not a picture we keep, stored with the reading, and shown to the auditor beside
the held bill, only through the photo view (role and city checked, never a public /media/ URL).

HTTP tests hold the contract and the access rules; a browser test walks it on a 390 px phone and the auditor's
screen, in Chinese and in English, and leaves screenshots in test-artifacts/.
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, expect

from gridcounter.application.billrun import run_bills
from gridcounter.data.billing.models import Bill
from gridcounter.data.org.models import Role
from gridcounter.data.readings.models import Reading, ReadingPhoto
from gridcounter.domain.billing.periods import period_of
from tests.factories import org, photos
from tests.factories.browser import phone, sign_in

READ_AT = (timezone.now() - timedelta(minutes=1)).isoformat()  # one instant: a resend carries the same read_at


def _send(client, meter, value, *, photo: bytes | None = None, name: str = "dial.png", note: str = "",
          client_key: str | None = None, content_type: str = "image/png", read_at: str | None = None):
    fields = {"client_key": client_key or str(uuid.uuid4()), "meter": meter.asset_number, "register": "TOTAL",
              "value": str(value), "read_at": read_at or READ_AT, "note": note}
    if photo is not None:
        fields["photo"] = SimpleUploadedFile(name, photo, content_type=content_type)
    return client.post("/reader/readings/", data=fields)  # multipart, as the phone sends a reading with a photo


def _stored_photo(client, world, *, value_step: int = 200) -> ReadingPhoto:
    client.force_login(world.reader)
    _account, meter, last = world.stops[1]
    response = _send(client, meter, last + value_step, photo=photos.png(size=(640, 480)))
    assert response.status_code == 201, response.content
    return ReadingPhoto.objects.get(reading_id=response.json()["id"])


# ---- the reader sends a photo with the reading ----------------------------------------------------------------

@pytest.mark.django_db
def test_a_reading_sent_with_a_photo_keeps_the_photo_as_it_came(client, reader_route, photo_media):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]
    content = photos.png(size=(640, 480))

    response = _send(client, meter, last + 200, photo=content)

    assert response.status_code == 201 and response.json()["status"] == "STORED"
    reading = Reading.objects.get(pk=response.json()["id"])
    photo = reading.photos.get()
    assert response.json()["photo"] == reverse("reading_photo", args=[photo.pk])
    assert (photo.content_type, photo.width, photo.height, photo.uploaded_by) == ("image/png", 640, 480,
                                                                                  reader_route.reader)
    assert (photo_media / photo.file.name).read_bytes() == content
    # the phone resends after a lost answer: one reading, one photo
    again = _send(client, meter, last + 200, photo=content, client_key=reading.client_key)
    assert again.status_code == 200 and again.json()["id"] == reading.pk
    assert reading.photos.count() == 1


@pytest.mark.django_db
def test_a_reading_without_a_photo_is_still_sent_as_json(client, reader_route):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]
    body = {"client_key": str(uuid.uuid4()), "meter": meter.asset_number, "register": "TOTAL",
            "value": str(last + 200), "read_at": timezone.now().isoformat()}

    response = client.post("/reader/readings/", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 201 and response.json()["photo"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("content, name, words", [
    (photos.GIF, "dial.gif", "只接受 JPEG、PNG 或 WebP"),
    (photos.HTML_AS_JPEG, "dial.jpg", "只接受 JPEG、PNG 或 WebP"),
    (photos.truncated_png(), "dial.png", "图片已损坏或不完整"),
])
def test_a_file_that_is_not_a_photo_we_keep_is_refused_and_the_reading_is_not_stored(
        client, reader_route, photo_media, content, name, words):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]

    response = _send(client, meter, last + 200, photo=content, name=name, content_type="image/jpeg")

    assert response.status_code == 400
    assert response.json()["field"] == "photo" and words in response.json()["detail"]
    assert not Reading.objects.filter(meter=meter, value=last + 200).exists()
    assert not photo_media.exists() or not any(p.is_file() for p in photo_media.rglob("*"))


@pytest.mark.django_db
def test_a_photo_over_the_limit_is_refused_in_the_readers_language(client, reader_route, photo_media, settings):
    settings.GRIDCOUNTER_READING_PHOTO_MAX_BYTES = 2048
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]

    response = client.post("/reader/readings/", HTTP_ACCEPT_LANGUAGE="en", data={
        "client_key": str(uuid.uuid4()), "meter": meter.asset_number, "register": "TOTAL",
        "value": str(last + 200), "read_at": timezone.now().isoformat(),
        "photo": SimpleUploadedFile("big.png", photos.noisy_png(), content_type="image/png")})

    assert response.status_code == 400 and response.json()["field"] == "photo"
    assert "is larger than the 2.0\xa0KB allowed" in response.json()["detail"]
    assert not Reading.objects.filter(meter=meter, value=last + 200).exists()


@pytest.mark.django_db
def test_a_reading_that_looks_wrong_keeps_its_photo_only_once_the_reader_has_noted_it(client, reader_route,
                                                                                         photo_media):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[2]
    key = str(uuid.uuid4())

    check = _send(client, meter, last - 100, photo=photos.jpeg(), client_key=key)

    assert check.json()["status"] == "CHECK" and check.json()["photo_required"] is False
    assert not ReadingPhoto.objects.exists()

    stored = _send(client, meter, last - 100, photo=photos.jpeg(), client_key=key, note="METER_FAULT")

    assert stored.status_code == 201 and stored.json()["held"] is True
    reading = Reading.objects.get(client_key=key)
    assert reading.status == "HELD" and reading.photos.get().content_type == "image/jpeg"


@pytest.mark.django_db
def test_when_the_settings_want_a_photo_for_a_flagged_reading_it_is_not_stored_without_one(
        client, reader_route, settings, photo_media):
    settings.GRIDCOUNTER_READING_PHOTO_REQUIRED = "FLAGGED"
    client.force_login(reader_route.reader)
    (_a, meter, last), (_b, plain_meter, plain_last) = reader_route.stops[2], reader_route.stops[1]

    check = _send(client, meter, last - 100)
    refused = _send(client, meter, last - 100, note="METER_FAULT")
    plain = _send(client, plain_meter, plain_last + 200)  # a reading that looks right needs none

    assert check.json()["photo_required"] is True
    assert refused.status_code == 400 and refused.json()["field"] == "photo"
    assert "此示数看起来有误" in refused.json()["detail"]
    assert not Reading.objects.filter(meter=meter, value=last - 100).exists()
    assert plain.status_code == 201
    assert _send(client, meter, last - 100, note="METER_FAULT", photo=photos.png()).status_code == 201


@pytest.mark.django_db
def test_when_the_settings_want_a_photo_always_a_plain_reading_needs_one_too(client, reader_route, settings):
    settings.GRIDCOUNTER_READING_PHOTO_REQUIRED = "ALWAYS"
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]

    refused = _send(client, meter, last + 200)

    assert refused.status_code == 400 and refused.json()["field"] == "photo"
    assert not Reading.objects.filter(meter=meter, value=last + 200).exists()
    assert 'data-photo-required="ALWAYS"' in client.get("/reader/").content.decode()


# ---- who sees the photo, and how it is served ------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("who", ["reader", "auditor", "supervisor"])
def test_the_citys_reader_auditor_and_supervisor_get_the_photo_private_with_its_own_type(
        client, reader_route, photo_media, who):
    photo = _stored_photo(client, reader_route)
    client.force_login(getattr(reader_route, who))

    full = client.get(reverse("reading_photo_image", args=[photo.pk, "full"]))
    thumb = client.get(reverse("reading_photo_image", args=[photo.pk, "thumb"]))
    page = client.get(reverse("reading_photo", args=[photo.pk]))

    assert full.status_code == 200 and full["Content-Type"] == "image/png"
    assert b"".join(full.streaming_content) == (photo_media / photo.file.name).read_bytes()
    assert full["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in full["Cache-Control"] and "private" in full["Cache-Control"]
    assert "default-src 'none'" in full["Content-Security-Policy"]
    assert full["Content-Disposition"].startswith("inline")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert page.status_code == 200 and photo.sha256 in page.content.decode()
    assert "img-src 'self'" in page["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_clerk_is_refused_another_citys_auditor_finds_nothing_and_media_is_not_public(
        client, reader_route, photo_media):
    photo = _stored_photo(client, reader_route)
    other_auditor = org.staff("auditor.other", hall=reader_route.other_hall, roles=(Role.Code.AUDITOR,))
    urls = [reverse("reading_photo", args=[photo.pk]), reverse("reading_photo_image", args=[photo.pk, "full"]),
            reverse("reading_photo_image", args=[photo.pk, "thumb"])]

    client.force_login(reader_route.clerk)
    assert [client.get(u).status_code for u in urls] == [403, 403, 403]
    client.force_login(other_auditor)
    assert [client.get(u).status_code for u in urls] == [404, 404, 404]
    client.logout()
    assert [client.get(u).status_code for u in urls] == [302, 302, 302]
    client.force_login(reader_route.auditor)
    assert client.get(f"/media/{photo.file.name}").status_code == 404
    assert client.get(reverse("reading_photo_image", args=[photo.pk, "other"])).status_code == 404


def _held_bill_with_photo(client, world) -> tuple[Bill, ReadingPhoto]:
    client.force_login(world.reader)
    account, meter, last = world.stops[2]
    key = str(uuid.uuid4())
    _send(client, meter, last - 100, photo=photos.png(size=(640, 480)), client_key=key)
    assert _send(client, meter, last - 100, photo=photos.png(size=(640, 480)), client_key=key,
                 note="METER_FAULT").status_code == 201
    reading = Reading.objects.get(client_key=key)
    run_bills(period=period_of(reading.read_date), as_of=reading.read_date + timedelta(days=1),
              created_at=timezone.now())
    return Bill.objects.get(account=account, status="HELD"), reading.photos.get()


@pytest.mark.django_db
def test_the_auditor_sees_the_photo_beside_the_held_bill_and_in_its_reading_history(
        client, reader_route, photo_media):
    bill, photo = _held_bill_with_photo(client, reader_route)
    client.force_login(reader_route.auditor)
    thumb = reverse("reading_photo_image", args=[photo.pk, "thumb"])

    queue = client.get(reverse("review_queue")).content.decode()
    row = client.get(reverse("review_bill", args=[bill.pk])).content.decode()
    screen = client.get(reverse("account", args=[bill.account.number])).content.decode()

    assert thumb in queue and reverse("reading_photo", args=[photo.pk]) in queue
    assert row.count(thumb) == 2  # beside the held bill, and on its reading in the history
    assert thumb in screen
    # the counter's clerk sees the reading on the customer screen, not the photo
    client.force_login(reader_route.clerk)
    assert thumb not in client.get(reverse("account", args=[bill.account.number])).content.decode()


# ---- the browser: the reader's phone, the auditor's screen ----------------------------------------------------

TEXT = {
    "zh": {"locale": "zh-CN", "save": "保存", "attached": "已附照片", "looks_wrong": "看起来有误",
           "fault": "电能表故障", "save_note": "连同此备注保存", "held": "已发送，待审核", "open": "展开",
           "photo_title": "表计示数照片", "optional": "照片（可选）", "with_photo": "附照片"},
    "en": {"locale": "en-GB", "save": "Save", "attached": "Photo attached", "looks_wrong": "looks wrong",
           "fault": "Meter fault", "save_note": "Save with this note", "held": "held for review", "open": "Open",
           "photo_title": "Photo of the register", "optional": "Photo (optional)", "with_photo": "with photo"},
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_reader_sends_a_photo_with_a_reading_and_the_auditor_opens_it_beside_the_held_bill(
        browser: Browser, live_server, reader_route, photo_media, artifacts_dir, language):
    text = TEXT[language]
    account, meter, last = reader_route.stops[2]
    context, page = phone(browser, base=live_server.url, username="reader.east", password=reader_route.password,
                          locale=text["locale"])
    try:
        if language == "en":
            page.get_by_role("button", name="English").click()
        page.goto(f"{live_server.url}/reader/")
        form = page.locator(f'form.reading[data-meter="{meter.asset_number}"]')
        expect(form.get_by_test_id("reading-photo-button")).to_contain_text(text["optional"])

        # She types the value and takes a photo of the register
        form.get_by_test_id("reading-value").fill(str(last - 300))
        dial = photos.png(size=(640, 480), text=f"{int(last) - 300:06d}")  # the register as the phone sees it
        form.get_by_test_id("reading-photo").set_input_files(
            files=[{"name": "dial.png", "mimeType": "image/png", "buffer": dial}])
        chosen = form.get_by_test_id("reading-photo-chosen")
        expect(chosen).to_contain_text(text["attached"])
        expect(chosen.locator("img")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        form.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / f"reader-photo-chosen-{language}.png"))

        # A value lower than last time: the phone asks her to look again; the photo waits with the reading
        form.get_by_role("button", name=text["save"], exact=True).click()
        state = form.get_by_test_id("reading-state")
        expect(state).to_contain_text(text["looks_wrong"], timeout=10_000)
        expect(state.get_by_test_id("photo-ask")).to_contain_text(text["attached"])
        page.screenshot(path=str(artifacts_dir / f"reader-photo-check-{language}.png"), full_page=True)
        state.get_by_label(text["fault"]).check()
        state.get_by_role("button", name=text["save_note"]).click()
        expect(state).to_contain_text(text["held"], timeout=10_000)
        expect(state).to_contain_text(text["with_photo"])
        page.screenshot(path=str(artifacts_dir / f"reader-photo-sent-{language}.png"))
        reading = Reading.objects.get(meter=meter, value=last - 300)
        assert reading.status == "HELD" and reading.photos.count() == 1
        # nothing of the photo is left waiting on the phone
        assert page.evaluate("JSON.parse(localStorage.getItem('gridcounter.reader.queue.' + "
                             "document.getElementById('reader').dataset.user))") == []
    finally:
        context.close()

    run_bills(period=period_of(reading.read_date), as_of=reading.read_date + timedelta(days=1),
              created_at=timezone.now())
    bill = Bill.objects.get(account=account, status="HELD")

    auditor = browser.new_context(viewport={"width": 1366, "height": 900}, locale=text["locale"])
    page = auditor.new_page()
    try:
        sign_in(page, base=live_server.url, username="auditor.east", password=reader_route.password)
        page.wait_for_url(f"{live_server.url}/")
        if language == "en":
            page.get_by_role("button", name="English").click()
        page.goto(f"{live_server.url}/review/")
        row = page.locator(f'tbody.held-bill[data-account="{account.number}"]')
        thumb = row.get_by_test_id("held-bill-photo").locator("img")
        expect(thumb).to_be_visible()
        assert thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") == 320
        row.get_by_role("button", name=text["open"], exact=True).click()
        expect(row.get_by_test_id("history-photo")).to_have_count(1)
        page.screenshot(path=str(artifacts_dir / f"review-photo-{language}.png"), full_page=True)

        # She opens the photo: the whole picture, with the reading it was sent with
        row.get_by_test_id("held-bill-photo").click()
        expect(page.get_by_role("heading", name=text["photo_title"])).to_be_visible()
        expect(page.get_by_test_id("photo-reading-value")).to_contain_text(f"{last - 300:,}")
        image = page.get_by_test_id("photo-image")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 640
        page.screenshot(path=str(artifacts_dir / f"review-photo-page-{language}.png"), full_page=True)
        assert bill.pk
    finally:
        auditor.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_photo_taken_with_no_network_waits_on_the_phone_and_goes_with_its_reading(
        browser: Browser, live_server, reader_route, photo_media, artifacts_dir):
    _account, meter, last = reader_route.stops[1]
    context, page = phone(browser, base=live_server.url, username="reader.east", password=reader_route.password)
    try:
        page.goto(f"{live_server.url}/reader/")
        form = page.locator(f'form.reading[data-meter="{meter.asset_number}"]')
        expect(page.get_by_test_id("sync-status")).to_have_text("全部读数已发送")

        # Given the phone is offline in the stairwell, she reads the meter and takes its photo
        context.set_offline(True)
        form.get_by_test_id("reading-value").fill(str(last + 205))
        form.get_by_test_id("reading-photo").set_input_files(
            files=[{"name": "dial.jpg", "mimeType": "image/jpeg", "buffer": photos.jpeg(size=(800, 600))}])
        form.get_by_role("button", name="保存", exact=True).click()

        # Then the reading waits with its photo, the photo kept in IndexedDB, and nothing reached the server
        expect(form.get_by_test_id("reading-state")).to_contain_text("等待发送")
        expect(form.get_by_test_id("reading-state")).to_contain_text("附照片")
        expect(form.get_by_test_id("reading-photo-chosen")).to_be_hidden()
        kept = page.evaluate("""() => new Promise(resolve => {
            const open = indexedDB.open('gridcounter-reader-photos-' + document.getElementById('reader').dataset.user);
            open.onsuccess = () => {
                const get = open.result.transaction('photos').objectStore('photos').getAll();
                get.onsuccess = () => resolve(get.result.map(b => b.size));
            };
        })""")
        assert len(kept) == 1 and kept[0] > 0
        page.screenshot(path=str(artifacts_dir / "reader-photo-offline-zh.png"))
        assert not Reading.objects.filter(meter=meter, value=last + 205).exists()

        # When the network returns, the reading goes with its photo, once, and the phone lets go of the photo
        context.set_offline(False)
        expect(form.get_by_test_id("reading-state")).to_contain_text("已发送", timeout=20_000)
        reading = Reading.objects.get(meter=meter, value=last + 205)
        assert reading.photos.get().size_bytes == kept[0]
        left = page.evaluate("""() => new Promise(resolve => {
            const open = indexedDB.open('gridcounter-reader-photos-' + document.getElementById('reader').dataset.user);
            open.onsuccess = () => {
                const count = open.result.transaction('photos').objectStore('photos').count();
                count.onsuccess = () => resolve(count.result);
            };
        })""")
        assert left == 0
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_photo_refused_keeps_the_typed_reading_and_says_why(browser: Browser, live_server, reader_route,
                                                              photo_media, artifacts_dir, settings):
    settings.GRIDCOUNTER_READING_PHOTO_MAX_BYTES = 200_000
    (_a, meter, last), (_b, meter2, last2) = reader_route.stops[1], reader_route.stops[2]
    context, page = phone(browser, base=live_server.url, username="reader.east", password=reader_route.password,
                          locale="en-GB")
    try:
        page.get_by_role("button", name="English").click()
        page.goto(f"{live_server.url}/reader/")
        form = page.locator(f'form.reading[data-meter="{meter.asset_number}"]')

        # A file that is not a picture is refused on the phone, before anything is sent
        form.get_by_test_id("reading-value").fill(str(last + 205))
        form.get_by_test_id("reading-photo").set_input_files(
            files=[{"name": "dial.gif", "mimeType": "image/gif", "buffer": photos.GIF}])
        chosen = form.get_by_test_id("reading-photo-chosen")
        expect(chosen).to_contain_text("photo: only JPEG, PNG or WebP pictures are kept")
        # one over the limit too, with both sizes
        form.get_by_test_id("reading-photo").set_input_files(
            files=[{"name": "dial.png", "mimeType": "image/png", "buffer": photos.noisy_png(size=(300, 300))}])
        expect(chosen).to_contain_text("is larger than the 195 KB allowed")
        expect(form.get_by_test_id("reading-value")).to_have_value(str(last + 205))
        page.screenshot(path=str(artifacts_dir / "reader-photo-refused-en.png"))

        # A photo the phone took for a PNG but the server cannot open: the reading comes back into its box
        form2 = page.locator(f'form.reading[data-meter="{meter2.asset_number}"]')
        form2.get_by_test_id("reading-value").fill(str(last2 + 180))
        form2.get_by_test_id("reading-photo").set_input_files(
            files=[{"name": "dial.png", "mimeType": "image/png", "buffer": photos.truncated_png()}])
        form2.get_by_role("button", name="Save", exact=True).click()
        expect(form2.get_by_test_id("reading-state")).to_contain_text(f"The reading {last2 + 180} was not sent",
                                                                      timeout=10_000)
        expect(form2.get_by_test_id("reading-photo-chosen")).to_contain_text("the picture is damaged or incomplete")
        expect(form2.get_by_test_id("reading-value")).to_have_value(str(last2 + 180))
        form2.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "reader-photo-damaged-en.png"))
        assert not Reading.objects.filter(meter=meter2, value=last2 + 180).exists()

        # Saved again without a photo, it is stored
        form2.get_by_role("button", name="Save", exact=True).click()
        expect(form2.get_by_test_id("reading-state")).to_contain_text("Sent:", timeout=10_000)
        assert Reading.objects.filter(meter=meter2, value=last2 + 180).get().photos.count() == 0
    finally:
        context.close()
