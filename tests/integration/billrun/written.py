"""What a bill run wrote besides bills and lines, every column: for comparing two runs row for row."""
from django.db import connection


def written_rows(period: str) -> dict[str, list[list]]:
    """The period's bill versions, the bills' journal entries, their postings and their audit events."""
    entries = "SELECT id FROM ledger_journalentry WHERE description = 'Bill ' || %s"
    out = {}
    with connection.cursor() as cursor:
        for table, where in (("billing_historicalbill", "period = %s"),
                             ("ledger_journalentry", f"id IN ({entries})"),
                             ("ledger_posting", f"entry_id IN ({entries})"),
                             ("audit_auditevent", "action = 'LEDGER_ENTRY_POSTED' AND object_id IN "
                                                  f"(SELECT CAST(id AS TEXT) FROM ({entries}) e)")):
            cursor.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", [period])
            out[table] = [list(row) for row in cursor.fetchall()]
    return out
