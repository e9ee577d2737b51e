"""On PostgreSQL, indexes that let the counter's search read each field's matches in order and stop early.

Search matches the start of a field and lists the matches in the order of that field. The database's
collation is not "C", so its ordinary indexes can answer neither a LIKE prefix nor that order, and the
``…_like`` (pattern) indexes answer the prefix but not the order: a short prefix (a surname, a region code,
a street) then made the database sort every match in a city of a million accounts. An index on
``column COLLATE "C"`` answers both as one ordered range scan. SQLite compares by code point anyway and its
ordinary column indexes already do this, so nothing happens there.
"""
from django.db import migrations

INDEXES = (
    ("registry_account_number_c", "registry_account", "number"),
    ("registry_meter_asset_number_c", "registry_meter", "asset_number"),
    ("registry_customer_id_number_c", "registry_customer", "id_number"),
    ("registry_customer_phone_c", "registry_customer", "phone"),
    ("registry_customer_name_c", "registry_customer", "name"),
    ("registry_premise_address_c", "registry_premise", "address"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {name} ON {table} (({column} COLLATE "C"))')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_installation_meter_no_overlap")]

    operations = [migrations.RunPython(create, drop)]
