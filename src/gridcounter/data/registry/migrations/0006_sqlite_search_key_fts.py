"""SQLite: the index of the search keys that PostgreSQL's trigram indexes (``registry.0005_search_keys``) are.

For each of ``registry_customer`` and ``registry_premise`` an FTS5 table with the trigram tokenizer over its
``search_key`` (external content: the table holds no copy of the text, only the index, and reads the key from
the row by its id), filled from the rows already there (``rebuild``) and kept in step by triggers after every
insert, every delete and every update that changes the key; the bulk writers' executemany fires them like any
insert. A LIKE on the FTS table with three or more characters in a row (no wildcard) is answered by the index;
see ``interfaces.web.search.key_match``. The historical tables (simple-history) get none: nobody searches them.
Nothing on PostgreSQL.

A later migration that makes SQLite rebuild one of these tables (most field changes do: new table, copy, drop the
old one) drops its triggers with it and must create them again (``_statements`` without the first two);
``tests/integration/test_search_index_sqlite.py`` fails when they are missing.
"""
from django.db import migrations

TABLES = ("registry_customer", "registry_premise")


def _statements(table: str) -> list[str]:
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(search_key, content='{table}', content_rowid='id', "
        f"tokenize='trigram')",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search_key) VALUES (new.id, new.search_key); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_key) VALUES ('delete', old.id, old.search_key); END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF search_key ON {table} "
        f"WHEN old.search_key IS NOT new.search_key BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_key) VALUES ('delete', old.id, old.search_key); "
        f"INSERT INTO {fts}(rowid, search_key) VALUES (new.id, new.search_key); END",
    ]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in TABLES:
        for statement in _statements(table):
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in TABLES:
        fts = f"{table}_fts"
        for trigger in ("ai", "ad", "au"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {fts}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0005_search_keys")]

    operations = [migrations.RunPython(create, drop)]
