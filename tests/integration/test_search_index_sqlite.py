"""SQLite's index of the search keys (migration registry.0006): FTS5 trigram tables over the customers' and
premises' keys, there after migrate, following every new, changed and removed customer or premise (the bulk seed's
too), and read by the counter's search, which finds the same accounts as reading the key column would."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from django.db import connection
from django.db.models import F, Value

from gridcounter.application import registry as use_cases
from gridcounter.application.access import scoped_accounts
from gridcounter.application.demo import seed_city
from gridcounter.data.registry.models import Customer
from gridcounter.interfaces.web.search import LIMIT, Like, field_probe, find_accounts, key_match, key_patterns
from tests.factories import registry

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's trigram indexes serve it there")]

FTS_TABLES = ("registry_customer_fts", "registry_premise_fts")


def fts_ids(table: str, pattern: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT rowid FROM {table} WHERE search_key LIKE %s", [pattern])
        return {row[0] for row in cursor.fetchall()}


def check_index(table: str) -> None:
    """Raises when the FTS index does not hold exactly the keys of the table's rows."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


def numbers(user, typed: str) -> list[str]:
    return [hit.account.number for hit in find_accounts(user=user, query=typed)]


@pytest.fixture
def estate(small_city):
    ours = registry.account(city=small_city.city, hall=small_city.east, number="1100077001", name="李涵丽",
                            address="示范市朝阳区阳光小区3栋2单元501", building="3栋")
    return small_city, ours


def test_migrate_leaves_an_fts_table_and_its_triggers_for_each_search_key():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, type, sql FROM sqlite_master WHERE name LIKE 'registry_%_fts%'")
        found = {name: (kind, sql) for name, kind, sql in cursor.fetchall()}
    for table in FTS_TABLES:
        assert "VIRTUAL TABLE" in found[table][1] and "trigram" in found[table][1]
        assert {f"{table}_ai", f"{table}_ad", f"{table}_au"} <= set(found)
    assert not any("historical" in name for name in found)  # the history tables are not indexed


def test_a_new_customer_and_premise_are_in_the_index_and_found(estate):
    city, ours = estate
    assert ours.customer_id in fts_ids("registry_customer_fts", "% lihanli %")
    assert ours.premise_id in fts_ids("registry_premise_fts", "%阳光小区%")
    assert ours.number in numbers(city.clerk, "hanli")
    assert ours.number in numbers(city.clerk, "阳光小区")
    for table in FTS_TABLES:
        check_index(table)


def test_a_renamed_customer_is_found_by_the_new_name_not_the_old(estate):
    city, ours = estate
    use_cases.change_customer(customer=ours.customer, changes={"name": "王佳怡"}, actor=registry.ACTOR)
    assert ours.customer_id in fts_ids("registry_customer_fts", "%jiayi%")
    assert ours.customer_id not in fts_ids("registry_customer_fts", "%hanli%")
    assert ours.number in numbers(city.clerk, "jiayi")
    assert ours.number in numbers(city.clerk, "佳怡")
    assert ours.number not in numbers(city.clerk, "hanli")
    assert ours.number not in numbers(city.clerk, "涵丽")
    check_index("registry_customer_fts")


def test_a_premise_moved_to_another_building_is_found_by_the_new_one_not_the_old(estate):
    city, ours = estate
    assert ours.number in numbers(city.clerk, "3栋")
    use_cases.change_premise(premise=ours.premise, building="9栋", actor=registry.ACTOR)
    assert ours.number in numbers(city.clerk, "9栋")
    assert ours.number not in numbers(city.clerk, "3栋")
    check_index("registry_premise_fts")


def test_a_deleted_customer_leaves_the_index(small_city):
    gone = registry.customer(name="赵明远")
    assert gone.pk in fts_ids("registry_customer_fts", "%mingyuan%")
    Customer.objects.filter(pk=gone.pk).delete()
    assert gone.pk not in fts_ids("registry_customer_fts", "%mingyuan%")
    check_index("registry_customer_fts")


def test_saving_a_customer_unchanged_leaves_the_index_as_it_was(estate):
    _city, ours = estate
    customer = Customer.objects.get(pk=ours.customer_id)
    customer.phone = "13812345678"
    customer.save()
    assert ours.customer_id in fts_ids("registry_customer_fts", "% lihanli %")
    check_index("registry_customer_fts")


def test_the_bulk_seed_rows_are_in_the_index(small_city):
    seed_city(accounts=40, city_code="SEEDT", as_of=date(2026, 11, 28), stdout=io.StringIO())
    for table in FTS_TABLES:
        check_index(table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM registry_customer_fts WHERE search_key LIKE '% %'")
        indexed = cursor.fetchone()[0]
    assert indexed == Customer.objects.exclude(search_key="").count()


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(row[-1] for row in cursor.fetchall())


@pytest.mark.parametrize("typed", ["涵丽", "hl", "hanli", "阳光小区", "李涵力"])
def test_each_key_probe_reads_the_fts_index(estate, typed):
    city, _ours = estate
    scope = scoped_accounts(city.clerk)
    for _code, path, pattern in key_patterns(typed):
        steps = plan(key_match(scope, path, pattern).values_list("id", "number")[:LIMIT])
        table = "registry_customer_fts" if path.startswith("customer") else "registry_premise_fts"
        # the FTS index answers the LIKE (L), leading or by the account's key (=L) as the statistics choose
        assert re.search(rf"SCAN {table} VIRTUAL TABLE INDEX 0:=?L", steps), (pattern, steps)


def test_the_meter_probe_joins_the_meters_so_that_it_may_start_from_their_index(estate):
    """A left join would fix the order: every account of the city first (with a city's statistics, the planner
    starts from the meters' asset number index instead)."""
    city, _ours = estate
    probe = field_probe(scope=scoped_accounts(city.clerk), path="installations__meter__asset_number", text="E00")
    assert "LEFT OUTER JOIN" not in str(probe.query)
    assert "LEFT-JOIN" not in plan(probe)


@pytest.mark.parametrize("typed", ["li", "hl", "wang", "小区", "市朝阳", "李涵力", "1号", "a%b", "5_", "a\\b"])
def test_the_index_finds_the_accounts_the_key_column_does(small_city, typed):
    seed_city(accounts=60, city_code="SEEDT", as_of=date(2026, 11, 28), stdout=io.StringIO())
    registry.account(city=small_city.city, hall=small_city.east, number="1100077009", name="李涵丽",
                     address="示范市a%b路5_号a\\b", building="1号")
    scope = scoped_accounts(small_city.admin)
    for _code, path, pattern in key_patterns(typed):
        by_index = set(key_match(scope, path, pattern).values_list("id", flat=True))
        by_column = set(scope.filter(Like(F(path), Value(pattern))).values_list("id", flat=True))
        assert by_index == by_column, pattern
