"""Fast loading of generated rows: ids allocated up front, then executemany (SQLite) or COPY (PostgreSQL).

Only for the demo and synthetic cities: rows go in without per-row history (one audit event records the load).
"""
from __future__ import annotations

from gridcounter.application.bulk import allocate_ids, insert_rows, prepare_connection

__all__ = ["allocate_ids", "insert_rows", "load_generated", "prepare_connection"]


def load_generated(batch: list, *, models_by_name: dict) -> dict[str, int]:
    """Insert a batch of generator output (customers, premises, meters, accounts, installations), linked by id."""
    Customer, Premise, Account, Meter, Installation = (models_by_name[n] for n in
                                                       ("customer", "premise", "account", "meter", "installation"))
    n = len(batch)
    meters = [m for g in batch for m in g.meters]
    customer_ids = allocate_ids(Customer, n)
    premise_ids = allocate_ids(Premise, n)
    account_ids = allocate_ids(Account, n)
    meter_ids = iter(allocate_ids(Meter, len(meters)))
    installation_ids = iter(allocate_ids(Installation, len(meters)))
    customers, premises, accounts, meter_rows, installations = [], [], [], [], []
    for g, customer_id, premise_id, account_id in zip(batch, customer_ids, premise_ids, account_ids, strict=True):
        customers.append({**g.customer, "id": customer_id})
        premises.append({**g.premise, "id": premise_id})
        accounts.append({**g.account, "id": account_id, "customer_id": customer_id, "premise_id": premise_id})
        for meter, installation in zip(g.meters, g.installations, strict=True):
            meter_id = next(meter_ids)
            meter_rows.append({**meter, "id": meter_id})
            installations.append({**installation, "id": next(installation_ids), "meter_id": meter_id,
                                  "account_id": account_id})
    insert_rows(Customer, customers)
    insert_rows(Premise, premises)
    insert_rows(Meter, meter_rows)
    insert_rows(Account, accounts)
    insert_rows(Installation, installations)
    return {"accounts": n, "meters": len(meter_rows)}
