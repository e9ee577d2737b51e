"""The new-connection workflow on a real database: each step one audited use case, every guard tried out of order
and refused with its reason, retries change nothing, documents kept with their checksum."""
from __future__ import annotations

import hashlib
from datetime import date, datetime

import pytest
from django.utils import translation

from gridcounter.application.service import (
    DocumentRefused,
    RequestInputError,
    StepRefused,
    attach_document,
    check_document,
    complete_step,
    lookup_for_applicant,
    open_request,
    requests_of_account,
    steps_due,
    work_due,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation
from gridcounter.data.service.models import ServiceRequest
from gridcounter.domain.business_time import BUSINESS_TZ
from tests.factories import photos, service

pytestmark = pytest.mark.django_db

# Friday 13 February 2026, 10:00 in Beijing: the Spring Festival holiday runs 15–23 February, Saturday 14th is worked
FRIDAY = datetime(2026, 2, 13, 10, 0, tzinfo=BUSINESS_TZ)
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=BUSINESS_TZ)


@pytest.fixture
def world(small_city, photo_media):
    return small_city


def refused(request, code, *, by, now=FRIDAY, **data):
    with pytest.raises(StepRefused) as caught:
        service.step(request, code, by=by, now=now, **data)
    return caught.value


def test_a_request_opened_at_any_hall_of_the_city_has_a_printable_number_and_its_first_step_due(world):
    request = service.residential(clerk=world.clerk_west, now=FRIDAY)

    assert request.number == "DEMO-20260213-0001"
    assert (request.opened_hall, request.city, request.state) == (world.west, world.city, "OPEN")
    assert (request.current_step, request.current_role, request.current_due_date) == (
        "APPLICATION", "CLERK", date(2026, 2, 13))
    second = service.residential(clerk=world.clerk, now=FRIDAY, id_number="110101198001010053")
    assert second.number == "DEMO-20260213-0002" and second.opened_hall == world.east
    event = AuditEvent.objects.get(action="SERVICE_REQUEST_OPENED", object_id=str(request.pk))
    assert (event.username, event.hall_id, event.detail["type"]) == (
        "clerk.west", world.west.pk, "NEW_CONNECTION_RESIDENTIAL")


def test_opening_twice_with_the_same_key_opens_one_request(world):
    first = service.residential(clerk=world.clerk, now=FRIDAY, key="counter-abc")
    again = service.residential(clerk=world.clerk, now=FRIDAY, key="counter-abc")

    assert again.pk == first.pk
    assert ServiceRequest.objects.filter(idempotency_key="counter-abc").count() == 1


def test_a_bad_id_number_is_refused_naming_the_field_in_the_users_language(world):
    with translation.override("zh-hans"), pytest.raises(RequestInputError) as caught:
        service.residential(clerk=world.clerk, now=FRIDAY, id_number="110101199003070014")

    assert caught.value.field == "id_number"
    assert str(caught.value) == "证件号码：110101199003070014 不是该类证件的有效号码。"


def test_a_residential_connection_from_application_to_first_reading(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY, origin_account=world.account)

    request = service.through(request, "FIRST_READING", world=world, now=FRIDAY)

    assert request.state == "DONE" and request.current_step == ""
    account = request.account
    assert (account.tariff_id, account.status, account.city) == ("BJ-RES-LT1KV", Account.Status.ACTIVE, world.city)
    assert account.customer.name == "张新户" and account.premise.address == request.address
    installation = Installation.objects.get(account=account)
    assert (installation.meter.asset_number, installation.installed_date) == ("XN2026000001", date(2026, 2, 13))
    reading = Reading.objects.get(account=account, meter=installation.meter, source="HANDHELD")
    assert reading.value == 3
    steps = list(request.steps.order_by("position").values_list("step", "completed_by__username", "hall__code"))
    assert steps == [("APPLICATION", "clerk.east", "DEMO-E"), ("SURVEY", "installer.east", "DEMO-E"),
                     ("SUPPLY_PLAN", "clerk.east", "DEMO-E"), ("INSTALLATION", "installer.east", "DEMO-E"),
                     ("SIGN_OFF", "reader.east", "DEMO-E"), ("ACCOUNT", "clerk.east", "DEMO-E"),
                     ("ENERGISE", "installer.east", "DEMO-E"), ("FIRST_READING", "reader.east", "DEMO-E")]
    audited = list(AuditEvent.objects.filter(action="SERVICE_STEP_COMPLETED", object_id=str(request.pk))
                   .order_by("id").values_list("detail__step", "username", "channel"))
    assert [a[0] for a in audited] == [s[0] for s in steps] and audited[0][1:] == ("clerk.east", "WEB")
    # the customer screen of the account it was started from, and the new account's, list it
    assert list(requests_of_account(world.account)) == [request]
    assert list(requests_of_account(account)) == [request]


def test_each_step_is_due_by_its_limit_counted_from_the_next_working_day(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)

    request = service.through(request, "SURVEY", world=world, now=FRIDAY)

    # the supply plan has 2 working days from Friday 13 Feb: Saturday 14th (worked), then Tuesday 24th after the
    # Spring Festival holiday
    assert (request.current_step, request.current_due_date) == ("SUPPLY_PLAN", date(2026, 2, 24))
    later = service.step(request, "SUPPLY_PLAN", by=world.clerk, now=MONDAY).step
    assert later.due_date == date(2026, 2, 24) and not later.on_time


def test_a_retried_step_changes_nothing_and_is_audited_once(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)
    service.through(request, "SUPPLY_PLAN", world=world, now=FRIDAY)
    data = {"meter": "XN2026000009", "meter_digits": "6", "reading": "0"}

    first = service.step(request, "INSTALLATION", by=world.installer, now=FRIDAY, **data)
    again = service.step(request, "INSTALLATION", by=world.installer, now=FRIDAY, **data)

    assert first.created and not again.created and again.step.pk == first.step.pk
    assert again.request.current_step == "SIGN_OFF"
    assert AuditEvent.objects.filter(action="SERVICE_STEP_COMPLETED", object_id=str(request.pk),
                                     detail__step="INSTALLATION").count() == 1


# --- every guard, tried out of order ----------------------------------------------------------------------------

def test_no_energising_before_the_installation_is_complete(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)
    service.through(request, "SURVEY", world=world, now=FRIDAY)

    with translation.override("en"):
        refusal = refused(request, "ENERGISE", by=world.installer)

    assert refusal.code == "INSTALLATION_NOT_COMPLETE"
    assert str(refusal) == "the meter installation is not complete yet; “Energised” must wait for it"
    assert refusal.refusal.text_zh == "计量装置尚未装好（“装表”未完成），不能办理“送电”。"
    assert ServiceRequest.objects.get(pk=request.pk).current_step == "SUPPLY_PLAN"
    event = AuditEvent.objects.get(action="SERVICE_STEP_REFUSED", object_id=str(request.pk))
    assert (event.username, event.detail["code"]) == ("installer.east", "INSTALLATION_NOT_COMPLETE")


def test_no_energising_before_the_reader_has_signed_off(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "INSTALLATION", world=world,
                              now=FRIDAY)

    refusal = refused(request, "ENERGISE", by=world.installer)

    assert refusal.code == "READER_NOT_SIGNED_OFF"
    assert "抄表员尚未签认" in refusal.refusal.text_zh


def test_no_energising_before_an_account_with_a_tariff_exists(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "SIGN_OFF", world=world, now=FRIDAY)

    refusal = refused(request, "ENERGISE", by=world.installer)

    assert refusal.code == "NO_ACCOUNT_WITH_TARIFF"
    assert "no account with a tariff" in refusal.refusal.text_en
    assert Account.objects.filter(customer__id_number=service.APPLICANT_ID).count() == 0


def test_no_account_without_a_meter_installation_on_record(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "SUPPLY_PLAN", world=world,
                              now=FRIDAY)

    refusal = refused(request, "ACCOUNT", by=world.clerk, tariff_id="BJ-RES-LT1KV")

    assert refusal.code == "NO_METER_INSTALLATION"
    assert refusal.refusal.text_en == ("there is no meter installation on record; “Account created” needs one")
    assert Account.objects.filter(customer__id_number=service.APPLICANT_ID).count() == 0


def test_no_first_reading_before_the_supply_is_energised(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "ACCOUNT", world=world, now=FRIDAY)

    assert refused(request, "FIRST_READING", by=world.reader, reading="1").code == "NOT_ENERGISED"


def test_no_step_without_its_documents(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)
    service.attach(request, kind="ID", by=world.clerk, now=FRIDAY)

    with translation.override("en"):
        refusal = refused(request, "APPLICATION", by=world.clerk)

    assert refusal.code == "DOCUMENTS_MISSING"
    assert str(refusal) == ("“Application accepted” needs its documents: proof of the address or signed promise "
                            "(one document plus a promise)")
    # one document plus a signed promise (一证受理) is enough
    service.attach(request, kind="PROMISE", by=world.clerk, now=FRIDAY)
    assert service.step(request, "APPLICATION", by=world.clerk, now=FRIDAY).created


def test_no_step_by_the_wrong_role(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "APPLICATION", world=world,
                              now=FRIDAY)

    refusal = refused(request, "SURVEY", by=world.clerk)

    assert refusal.code == "WRONG_ROLE" and refusal.refusal.text_en == "“Site survey” is for the installer to complete"


def test_no_step_by_another_citys_staff(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)
    service.attach(request, kind="ID", by=world.clerk, now=FRIDAY)
    service.attach(request, kind="ADDRESS_PROOF", by=world.clerk, now=FRIDAY)

    refusal = refused(request, "APPLICATION", by=world.other_clerk)

    assert refusal.code == "OTHER_CITY"
    assert ServiceRequest.objects.get(pk=request.pk).current_step == "APPLICATION"


def test_no_step_ahead_of_its_turn(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)

    refusal = refused(request, "SUPPLY_PLAN", by=world.clerk)

    assert refusal.code == "STEP_OUT_OF_ORDER"
    assert refusal.refusal.text_zh == "须先办结“受理申请”，才能办理“答复供电方案”。"


def test_a_high_voltage_connection_has_the_design_review_and_inspections(world, db):
    manager = world.account_manager
    request = service.residential(clerk=manager, now=FRIDAY, request_type="NEW_CONNECTION_HIGH_VOLTAGE",
                                  capacity_kva="630", id_type="USCC", id_number="91110000600037341L",
                                  applicant_name="示范机械厂")
    service.through(request, "SURVEY", world=world, now=FRIDAY)
    service.step(request, "SUPPLY_PLAN", by=manager, now=FRIDAY)

    refusal = refused(request, "INSTALLATION", by=world.installer, meter="HV1", reading="0")
    assert refusal.code == "NOT_INSPECTED"
    assert refused(request, "DESIGN_REVIEW", by=manager).code == "DOCUMENTS_MISSING"
    service.attach(request, kind="DESIGN", by=manager, now=FRIDAY)
    request = service.step(request, "DESIGN_REVIEW", by=manager, now=FRIDAY).request
    assert (request.current_step, request.current_due_date) == ("INTERIM_INSPECTION", date(2026, 2, 25))


# --- documents ----------------------------------------------------------------------------------------------

def test_a_document_is_kept_under_media_root_with_its_checksum_type_and_size(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)
    content = photos.jpeg(text="ID")

    document = service.attach(request, kind="ID", by=world.clerk, now=FRIDAY, content=content, name="id.jpg")
    again, created = attach_document(request=request, kind="ID", document=check_document(content=content),
                                     original_name="id.jpg", actor=service.actor(world.clerk), now=FRIDAY)

    assert not created and again.pk == document.pk
    assert (document.sha256, document.content_type, document.size_bytes, document.step) == (
        hashlib.sha256(content).hexdigest(), "image/jpeg", len(content), "APPLICATION")
    with document.file.open("rb") as stored:
        assert stored.read() == content
    assert AuditEvent.objects.filter(action="SERVICE_DOCUMENT_ATTACHED", object_id=str(request.pk)).count() == 1


@pytest.mark.parametrize("content, code", [(b"PK\x03\x04word", "TYPE"), (b"", "EMPTY"),
                                           (b"%PDF-" + b"0" * 2048, "TOO_LARGE")])
def test_a_document_we_do_not_keep_is_refused(world, settings, content, code):
    settings.GRIDCOUNTER_SERVICE_DOCUMENT_MAX_BYTES = 1024

    with pytest.raises(DocumentRefused) as caught:
        check_document(content=content)

    assert caught.value.code == code


# --- look-ups and lists ---------------------------------------------------------------------------------------

def test_the_applicant_finds_the_request_by_number_and_id_number_only(world):
    request = service.residential(clerk=world.clerk, now=FRIDAY)

    assert lookup_for_applicant(number=request.number, id_number=service.APPLICANT_ID.lower()) == request
    assert lookup_for_applicant(number=request.number, id_number="110101198001010053") is None
    assert lookup_for_applicant(number="DEMO-20260213-9999", id_number=service.APPLICANT_ID) is None


def test_the_installers_work_and_the_overdue_steps_of_the_city(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "APPLICATION", world=world,
                              now=FRIDAY)
    elsewhere = open_request(request_type="NEW_CONNECTION_RESIDENTIAL", hall=world.other_hall,
                             applicant_name="赵", id_type="RESIDENT_ID", id_number="110101198001010053",
                             address="邻市", actor=service.actor(world.other_clerk), now=FRIDAY)[0]

    assert list(work_due(city_id=world.city.pk, role="INSTALLER")) == [request]
    # the survey was due Saturday 14 Feb; on 2 March it is late, the other city's is not listed
    due = list(steps_due(city_id=world.city.pk, as_of=MONDAY.date(), within=MONDAY.date()))
    assert due == [request] and elsewhere not in due


def test_the_installation_refuses_a_meter_installed_elsewhere(world):
    request = service.through(service.residential(clerk=world.clerk, now=FRIDAY), "SUPPLY_PLAN", world=world,
                              now=FRIDAY)

    with pytest.raises(RequestInputError) as caught:
        complete_step(request=request, step="INSTALLATION", actor=service.actor(world.installer), now=FRIDAY,
                      data={"meter": world.new_meter.asset_number, "reading": "0"})

    assert caught.value.field == "meter"
    assert ServiceRequest.objects.get(pk=request.pk).current_step == "INSTALLATION"
