"""Accounts, meters and installations through the use cases: overlaps refused, exchanges clean, all audited."""
from datetime import date

import pytest

from gridcounter.application import registry
from gridcounter.application.registry import (
    AccountAlreadyMetered,
    InvalidRegistryData,
    MeterAlreadyInstalled,
    NotInstalled,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.registry.models import Account

pytestmark = pytest.mark.django_db


def make_account(org, actor, number, *, tariff="BJ-RES-LT1KV", flat="101"):
    customer = registry.create_customer(name=f"客户{number[-2:]}", id_type="PASSPORT", id_number=f"E{number}",
                                        phone="13901012345", actor=actor)
    premise = registry.create_premise(city=org["city"], address=f"城区光华里3号楼1单元{flat}室",
                                      building="城区光华里3号楼", actor=actor)
    return registry.create_account(number=number, customer=customer, premise=premise, home_hall=org["halls"]["city"],
                                   usage_category="RESIDENTIAL", tariff_id=tariff, voltage="LV_220V",
                                   household_size=3, actor=actor)


def make_meter(actor, asset, registers=("TOTAL",)):
    return registry.create_meter(asset_number=asset, digits=6, multiplier=1, registers=list(registers), actor=actor)


def test_a_meter_serving_one_account_cannot_be_installed_at_another(org, actor):
    a = make_account(org, actor, "3300000101", flat="101")
    b = make_account(org, actor, "3300000102", flat="102")
    meter = make_meter(actor, "M-1")
    registry.install_meter(account=a, meter=meter, installed_date=date(2024, 1, 1), initial_readings={"TOTAL": "0"},
                           actor=actor)

    with pytest.raises(MeterAlreadyInstalled) as refusal:
        registry.install_meter(account=b, meter=meter, installed_date=date(2024, 6, 1), initial_readings={},
                               actor=actor)

    assert "M-1" in str(refusal.value) and "3300000101" in str(refusal.value)
    assert not b.installations.exists()


def test_an_account_gets_one_active_meter_per_register_set(org, actor):
    account = make_account(org, actor, "3300000103")
    registry.install_meter(account=account, meter=make_meter(actor, "M-2"), installed_date=date(2024, 1, 1),
                           initial_readings={}, actor=actor)

    with pytest.raises(AccountAlreadyMetered):
        registry.install_meter(account=account, meter=make_meter(actor, "M-3"), installed_date=date(2023, 6, 1),
                               initial_readings={}, actor=actor)
    # a separate reactive-energy meter measures other registers: allowed alongside
    registry.install_meter(account=account, meter=make_meter(actor, "M-4", ["REACTIVE"]),
                           installed_date=date(2024, 2, 1), initial_readings={}, actor=actor)
    assert account.installations.count() == 2


def test_exchange_produces_two_installations_that_meet_without_overlapping(org, actor):
    account = make_account(org, actor, "3300000104")
    old, new = make_meter(actor, "M-OLD"), make_meter(actor, "M-NEW")
    registry.install_meter(account=account, meter=old, installed_date=date(2020, 3, 1),
                           initial_readings={"TOTAL": "0"}, actor=actor)

    removed, installed = registry.exchange_meter(
        account=account, old_meter=old, new_meter=new, exchange_date=date(2024, 5, 10),
        final_readings={"TOTAL": "8123.5"}, initial_readings={"TOTAL": "0"}, actor=actor)

    assert (removed.installed_date, removed.removed_date) == (date(2020, 3, 1), date(2024, 5, 10))
    assert (installed.installed_date, installed.removed_date) == (date(2024, 5, 10), None)
    assert removed.final_readings == {"TOTAL": "8123.5"}
    assert [i.meter.asset_number for i in registry.active_installations(account=account, on_date=date(2024, 5, 9))] \
        == ["M-OLD"]
    assert [i.meter.asset_number for i in registry.active_installations(account=account, on_date=date(2024, 5, 10))] \
        == ["M-NEW"]
    # the old meter is free again after the exchange day, and may serve another account
    other = make_account(org, actor, "3300000105", flat="105")
    registry.install_meter(account=other, meter=old, installed_date=date(2024, 7, 1), initial_readings={},
                           actor=actor)
    event = AuditEvent.objects.filter(action="METER_EXCHANGED", object_id=str(account.pk)).get()
    assert event.username == "t_clerk" and event.hall_id == org["halls"]["city"].pk
    assert event.reason == "test change"


def test_a_failed_exchange_leaves_the_old_meter_installed(org, actor):
    account = make_account(org, actor, "3300000106")
    busy_account = make_account(org, actor, "3300000107", flat="107")
    old, busy = make_meter(actor, "M-A"), make_meter(actor, "M-BUSY")
    registry.install_meter(account=account, meter=old, installed_date=date(2020, 1, 1), initial_readings={},
                           actor=actor)
    registry.install_meter(account=busy_account, meter=busy, installed_date=date(2020, 1, 1), initial_readings={},
                           actor=actor)

    with pytest.raises(MeterAlreadyInstalled):
        registry.exchange_meter(account=account, old_meter=old, new_meter=busy, exchange_date=date(2024, 1, 1),
                                final_readings={}, initial_readings={}, actor=actor)

    assert account.installations.get().removed_date is None


def test_retried_install_and_removal_change_nothing(org, actor):
    account = make_account(org, actor, "3300000108")
    meter = make_meter(actor, "M-R")
    first = registry.install_meter(account=account, meter=meter, installed_date=date(2024, 1, 1),
                                   initial_readings={}, actor=actor)
    again = registry.install_meter(account=account, meter=meter, installed_date=date(2024, 1, 1),
                                   initial_readings={}, actor=actor)
    assert again.pk == first.pk
    registry.remove_meter(account=account, meter=meter, removed_date=date(2024, 9, 1), final_readings={}, actor=actor)
    registry.remove_meter(account=account, meter=meter, removed_date=date(2024, 9, 1), final_readings={}, actor=actor)
    assert account.installations.get().removed_date == date(2024, 9, 1)
    with pytest.raises(NotInstalled):
        registry.remove_meter(account=account, meter=meter, removed_date=date(2024, 10, 1), final_readings={},
                              actor=actor)


def test_change_account_keeps_the_earlier_version_with_who_and_why(org, actor):
    account = make_account(org, actor, "3300000109")

    diff = registry.change_account(account=account, changes={"tariff_id": "SH-RES-TOU", "household_size": 5},
                                   actor=actor)

    assert diff == {"tariff_id": ["BJ-RES-LT1KV", "SH-RES-TOU"], "household_size": [3, 5]}
    versions = list(Account.history.filter(id=account.pk).order_by("history_date"))
    assert [v.tariff_id for v in versions] == ["BJ-RES-LT1KV", "SH-RES-TOU"]
    assert versions[-1].history_user_id == org["clerk"].pk
    assert versions[-1].history_hall_id == org["halls"]["city"].pk
    assert versions[-1].history_change_reason == "test change"
    # the same change again is a no-op: no new version
    assert registry.change_account(account=account, changes={"tariff_id": "SH-RES-TOU"}, actor=actor) == {}
    assert Account.history.filter(id=account.pk).count() == 2


def test_change_account_refuses_a_tariff_of_another_usage_category(org, actor):
    account = make_account(org, actor, "3300000110")
    with pytest.raises(InvalidRegistryData) as refusal:
        registry.change_account(account=account, changes={"tariff_id": "DEMO-LI-2P"}, actor=actor)
    assert refusal.value.field == "tariff_id"
    with pytest.raises(InvalidRegistryData):
        registry.change_account(account=account, changes={"number": "1"}, actor=actor)
    account.refresh_from_db()
    assert account.tariff_id == "BJ-RES-LT1KV"


def test_create_account_checks_number_and_duplicates(org, actor):
    make_account(org, actor, "3300000111")
    with pytest.raises(registry.DuplicateAccountNumber):
        make_account(org, actor, "3300000111", flat="999")
    with pytest.raises(InvalidRegistryData) as refusal:
        make_account(org, actor, "33-1", flat="998")
    assert refusal.value.field == "number"
