"""The factories' pytest fixtures, registered once by tests/conftest.py (`pytest_plugins`).

Each fixture builds one world of tests.factories.cities; the worlds of the counter (`small_city` and those built
on it) request no database themselves: HTTP tests mark ``django_db``, browser tests ``django_db(transaction=True)``
so that the live server thread sees the rows.
"""
from __future__ import annotations

import pytest
from django.utils import timezone

from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import Role

from . import cities, org, scratch


@pytest.fixture
def scratch_db(tmp_path):
    """(URL, connect) of an empty scratch database of the backend under test, for subprocesses to work on."""
    with scratch.scratch_database(tmp_path, "scratch") as made:
        yield made


@pytest.fixture
def city(db) -> cities.CityForBilling:
    """The billing and bill-run tests' city: route R15 on the 15th, a reader and an auditor; no account yet."""
    return cities.city_for_billing()


@pytest.fixture
def town(db) -> cities.ReadingTown:
    """The readings tests' town: a city with a route on the 15th and a neighbouring city."""
    return cities.reading_town()


@pytest.fixture
def staff(town):
    """make(username, hall=None, roles=(METER_READER,)): a member of staff of the town (its hall by default)."""
    def make(username, *, hall=None, roles=(Role.Code.METER_READER,)):
        return org.staff(username, hall=hall or town.hall, roles=tuple(roles))

    return make


@pytest.fixture
def two_cities(db):
    """Hangzhou and Ningbo, their halls, staff and an account each (cities.two_cities)."""
    return cities.two_cities()


@pytest.fixture(name="org")
def registry_org(db) -> dict:
    """The registry tests' organisation with the demo city's codes (cities.registry_org)."""
    return cities.registry_org()


@pytest.fixture
def actor(org):  # noqa: F811 (the fixture named org, not the module)
    """The registry tests' clerk at the city hall, changing the registry for a test."""
    return Actor(user=org["clerk"], hall=org["halls"]["city"], reason="test change", channel="WEB")


@pytest.fixture
def small_city():
    """The counter's Demo City and Other City (cities.small_city), as of today."""
    return cities.small_city(today=timezone.localdate())


@pytest.fixture
def review_routes(small_city):
    return cities.review_routes(small_city)


@pytest.fixture
def reader_route(small_city):
    return cities.reader_route(small_city)


@pytest.fixture
def held_out_city(db):
    return cities.held_out_city()


@pytest.fixture
def paying_city(db):
    return cities.paying_city()


@pytest.fixture
def photo_media(settings, tmp_path):
    """MEDIA_ROOT in the test's own folder: the photos a test stores are never left in the working tree."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
