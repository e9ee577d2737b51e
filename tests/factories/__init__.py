"""Factories: the worlds the tests build, made through the application's use cases, by area.

    org       companies, cities, halls, staff with their roles (made directly: no use case creates them)
    registry  customers, premises, accounts, meters, installations, exchanges, routes (the registry's use cases)
    readings  a reading submitted (`submit_reading`) or a history laid down as it stands (direct, documented)
    billing   a bill as issued (direct, documented), the snapshot of a run's bills and the rows it wrote, to compare
              two runs
    cities    the composed worlds: the billing tests' city, the readings tests' town, two cities (ledger, access,
              payments API), the registry's organisation, the counter's small city and the worlds built on it, the
              held-out city, the paying demo city
    scratch   a city in a scratch database, prepared and billed by subprocesses (the crash and read-ahead tests)
    browser   signing in in a real browser
    fixtures  the pytest fixtures, one per world, registered once by tests/conftest.py (`pytest_plugins`)

Tests import these modules (`from tests.factories import registry`), never another test module. No test counts
rows of the whole database: a count is of the test's own world (its city, accounts or meters).

What it costs (SQLite, this 2-core machine while other work ran on it): 100 metered accounts take 1.0 s through
the five registry use cases against 0.4 s written with the ORM; 570 monthly readings of 30 accounts take 0.8 s
written directly against 38 s through `submit_reading` (about 65 ms each: priors, swap check, audit event). The
bill-run tests alone lay down about 900 history readings per test, so histories keep the direct path (readings.py).
"""
