"""Shared test set-up: the factories' fixtures; unit tests are marked nodb; the browser runs Debian's chromium."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

pytest_plugins = ["tests.factories.fixtures"]  # every world a test builds (tests/factories/), registered once

# screenshots and pictures; scripts/test gives the SQLite and the PostgreSQL run a folder each, as they run at once
ARTIFACTS = Path(os.environ.get("GRIDCOUNTER_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# GRIDCOUNTER_TEST_SHARD=heavy|rest runs one part of the suite (scripts/test runs the PostgreSQL tests as two such
# processes at once, each on a test database of its own): "heavy" is the folders whose tests start processes, kill
# them and bill whole cities; "rest" is everything else.
HEAVY = ("/tests/integration/billrun/", "/tests/integration/imports/", "/tests/integration/cli/",
         "/tests/integration/ledger/")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/unit/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.nodb)
    shard = os.environ.get("GRIDCOUNTER_TEST_SHARD")
    if shard:
        assert shard in ("heavy", "rest"), f"GRIDCOUNTER_TEST_SHARD={shard}: heavy or rest"
        def is_heavy(item):
            return any(part in str(item.fspath).replace(os.sep, "/") for part in HEAVY)

        keep = [item for item in items if is_heavy(item) == (shard == "heavy")]
        config.hook.pytest_deselected(items=[item for item in items if is_heavy(item) != (shard == "heavy")])
        items[:] = keep


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A shard's test database is its own (test_<name>_<shard>), so that two shards can run at once."""
    shard = os.environ.get("GRIDCOUNTER_TEST_SHARD")
    if shard:
        from django.conf import settings

        db = settings.DATABASES["default"]
        if db["ENGINE"].endswith("postgresql"):
            test = db.setdefault("TEST", {})
            test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{shard}"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the site's default language (Chinese), whatever an earlier test activated."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(scope="session", autouse=True)
def _one_request_at_a_time_on_a_shared_sqlite_connection():
    """The live server on an in-memory SQLite test database: one request at a time.

    Django's live server hands its threads the test's one in-memory SQLite connection (the database lives in it).
    Two requests at once on that one connection (an htmx search still answering while the clerk presses Enter)
    interleave their transactions' savepoints ("no such savepoint"), so a request fails for a reason no clerk can
    meet: the running app gives each request a connection of its own. On that shared connection the server's threads
    take turns at the application; PostgreSQL and a file database keep their threads free.
    """
    import threading

    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.test import testcases

    class TurnTakingWSGIServer(ThreadedWSGIServer):
        def set_app(self, application):
            if not self.connections_override:
                return super().set_app(application)
            turn = threading.Lock()

            def one_at_a_time(environ, start_response):
                with turn:
                    return application(environ, start_response)

            return super().set_app(one_at_a_time)

    testcases.LiveServerThread.server_class = TurnTakingWSGIServer
