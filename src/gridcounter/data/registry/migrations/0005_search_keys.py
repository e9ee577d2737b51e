"""Search keys for customers and premises (name, given name, pinyin, initials; address, building), filled for
the rows already there, and on PostgreSQL the trigram indexes that answer "contains" and "a word starts with"
on them (``pg_trgm``, GIN). SQLite has no such index; there the search reads the key column.
"""
from django.db import migrations, models

from gridcounter.domain.search_keys import customer_search_key, premise_search_key

INDEXES = (
    ("registry_customer_search_key_trgm", "registry_customer"),
    ("registry_premise_search_key_trgm", "registry_premise"),
)
BATCH = 5000


def fill(apps, schema_editor):
    for model_name, key in (("Customer", lambda r: customer_search_key(r["name"])),
                            ("Premise", lambda r: premise_search_key(r["address"], r["building"]))):
        model = apps.get_model("registry", model_name)
        fields = ["id", "name"] if model_name == "Customer" else ["id", "address", "building"]
        last = 0
        while True:
            rows = list(model.objects.filter(id__gt=last).order_by("id").values(*fields)[:BATCH])
            if not rows:
                break
            for row in rows:
                row["search_key"] = key(row)
            model.objects.bulk_update([model(id=r["id"], search_key=r["search_key"]) for r in rows], ["search_key"])
            last = rows[-1]["id"]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (search_key gin_trgm_ops)")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def field():
    return models.CharField(blank=True, default="", editable=False, max_length=600, verbose_name="search key")


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_meter_sends_intervals")]

    operations = [
        migrations.AddField(model_name="customer", name="search_key", field=field()),
        migrations.AddField(model_name="historicalcustomer", name="search_key", field=field()),
        migrations.AddField(model_name="historicalpremise", name="search_key", field=field()),
        migrations.AddField(model_name="premise", name="search_key", field=field()),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
