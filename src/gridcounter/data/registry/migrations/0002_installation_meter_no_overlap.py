"""On PostgreSQL the database itself refuses two installations of one meter over overlapping dates.

The use cases check the same rule (with row locks) on every backend; this constraint is the backstop
against writes that bypass them. SQLite has no exclusion constraints, so nothing happens there.
"""
from django.db import migrations

CONSTRAINT = "registry_installation_meter_no_overlap"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"ALTER TABLE registry_installation ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
        "(meter_id WITH =, daterange(installed_date, removed_date, '[)') WITH &&)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE registry_installation DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
