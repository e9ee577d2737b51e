"""Search that finds people: any part of a name or address, pinyin and initials, one wrong character, a masked
phone, and the clerk's city only (the counter's search over HTTP, both databases)."""
from __future__ import annotations

import io
from datetime import date

import pytest

from gridcounter.application import registry as use_cases
from gridcounter.application.demo import seed_city
from gridcounter.data.registry.models import Account
from gridcounter.domain.search_keys import customer_search_key
from gridcounter.interfaces.web.search import find_accounts
from tests.factories import registry

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def estate(small_city):
    """李涵丽 at 阳光小区 of Demo City, and a 李涵丽 of the same estate's name in Other City."""
    ours = registry.account(city=small_city.city, hall=small_city.east, number="1100077001", name="李涵丽",
                            address="示范市朝阳区阳光小区3栋2单元501", building="3栋", phone="13812345678")
    theirs = registry.account(city=small_city.other_city, hall=small_city.other_hall, number="2200077002",
                              name="李涵丽", address="邻市朝阳区阳光小区1栋101", phone="13700001111")
    return small_city, ours, theirs


def results(client, user, typed: str, language: str = "en") -> str:
    client.force_login(user)
    return client.get("/search/", {"q": typed}, HTTP_ACCEPT_LANGUAGE=language, **HTMX).content.decode()


@pytest.mark.parametrize("typed", ["涵丽", "阳光小区", "lihanli", "hanli", "lhl", "LHL", "ｌｉｈａｎｌｉ", "li hanli",
                                   "3栋2单元"])
def test_the_clerk_finds_the_customer_by_a_part_prefixes_cannot_reach(client, estate, typed):
    city, ours, _theirs = estate
    assert ours.number in results(client, city.clerk, typed)


def test_the_estate_without_its_district_says_it_matched_part_of_the_address(client, estate):
    city, ours, _theirs = estate
    page = results(client, city.clerk, "阳光小区")
    assert "matched part of the address" in page


def test_one_wrong_character_in_a_three_character_name_still_finds_the_customer(client, estate):
    city, ours, _theirs = estate
    for typo in ("李涵力", "王涵丽", "李寒丽"):
        page = results(client, city.clerk, typo)
        assert ours.number in page, typo
        assert "matched a similar name" in page


def test_one_wrong_character_in_two_is_another_name(client, estate):
    city, ours, _theirs = estate
    assert ours.number not in results(client, city.clerk, "涵力")


def test_phone_numbers_are_masked_in_the_results(client, estate):
    city, ours, _theirs = estate
    page = results(client, city.clerk, "1381234", language="zh-hans")
    assert ours.number in page
    assert "138****5678" in page
    assert "13812345678" not in page


def test_the_clerk_never_finds_a_customer_of_another_city(client, estate):
    city, ours, theirs = estate
    for typed in ("阳光小区", "lhl", "李涵力"):
        page = results(client, city.clerk, typed)
        assert ours.number in page and theirs.number not in page
    assert theirs.number in results(client, city.other_clerk, "阳光小区")
    assert ours.number not in results(client, city.other_clerk, "阳光小区")


def test_a_renamed_customer_is_found_by_the_new_name(client, estate):
    city, ours, _theirs = estate
    use_cases.change_customer(customer=ours.customer, changes={"name": "李佳怡"}, actor=registry.ACTOR)
    assert ours.number in results(client, city.clerk, "jiayi")
    assert ours.number not in results(client, city.clerk, "hanli")


def test_customers_written_by_the_bulk_seed_are_found_by_given_name_and_initials(small_city):
    seed_city(accounts=40, city_code="SEEDT", as_of=date(2026, 11, 28), stdout=io.StringIO())
    seeded = Account.objects.filter(city__code="SEEDT").select_related("customer")
    account = next(a for a in seeded if len(a.customer.name) == 3)
    initials = customer_search_key(account.customer.name).split()[2]
    for typed in (account.customer.name[1:], initials):
        numbers = [hit.account.number for hit in find_accounts(user=small_city.admin, query=typed)]
        assert account.number in numbers, typed
