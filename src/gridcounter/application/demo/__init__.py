"""The demo city, built step by step; each step is `build_…(*, as_of: date, stdout)` and is idempotent; and
synthetic cities of any size for tests and benchmarks (`seed_city`), from the same generator.

    _registry   organisation, staff and the registry of the demo city (the demo users and their password)
    _readings   two years of readings
    _bills      the bill history, billed by the kernel engine period by period
    _payments   the bill history paid, and today's payments at the halls
    _service    one open new-connection request
    _generator  the deterministic generator of customers, premises, meters and routes
    _bulk       bulk loading of what the generator makes
    _seed       `gridcounter seed`: a synthetic city of any size, streamed in batches
"""
from gridcounter.application.bulk import refresh_statistics
from gridcounter.application.demo._bills import build as build_bills
from gridcounter.application.demo._bulk import allocate_ids, insert_rows, load_generated, prepare_connection
from gridcounter.application.demo._generator import TARIFF_MIX, Generator, RouteSlot
from gridcounter.application.demo._payments import (
    PlannedPayment,
    book_payments,
    payment_actor,
    plan_history,
    plan_today,
    take_today,
)
from gridcounter.application.demo._payments import build as build_payments
from gridcounter.application.demo._readings import build as build_readings
from gridcounter.application.demo._registry import (
    DEMO_PASSWORD,
    DEMO_USERS,
    MODELS,
    is_loaded,
    login_table,
    reading_day,
)
from gridcounter.application.demo._registry import build as build_registry
from gridcounter.application.demo._seed import ACCOUNTS_PER_ROUTE, SeedError, account_prefix, seed_city
from gridcounter.application.demo._service import build as build_service_requests

STEPS = [
    build_registry,
    build_readings,
    build_bills,  # must stay after the readings step
    build_payments,  # after the bills step: pays the bill history, then takes today's payments
    build_service_requests,
]

__all__ = [
    "ACCOUNTS_PER_ROUTE", "DEMO_PASSWORD", "DEMO_USERS", "MODELS", "STEPS", "TARIFF_MIX", "Generator", "PlannedPayment",
    "RouteSlot", "SeedError", "account_prefix", "allocate_ids", "book_payments", "build_bills", "build_payments",
    "build_readings", "build_registry", "build_service_requests", "insert_rows", "is_loaded", "load_generated", "login_table", "payment_actor",
    "plan_history", "plan_today", "prepare_connection", "reading_day", "run", "seed_city", "take_today",
]


def run(*, as_of, stdout) -> None:
    """Run every step in order; each says what it did or that there was nothing to do."""
    for step in STEPS:
        step(as_of=as_of, stdout=stdout)
    refresh_statistics()
