"""A city in a scratch database of its own, prepared, billed and checked by subprocesses.

tests/integration/billrun/crash_script.py does the work (`prepare` seeds a city with `demo.seed_city` and its
readings; `run`, `check`, `bills`, `ledger` …); `script` starts it on a database URL, `finish` waits for it.
`scratch_database` makes the database itself, of the backend under test (fixture `scratch_db`).
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "integration" / "billrun" / "crash_script.py"


def script(url: str, command: str, **kwargs) -> subprocess.Popen:
    """crash_script.py `command` on the database at `url`, running (stdout and stderr piped, as text)."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "gridcounter.config.settings"}
    return subprocess.Popen([sys.executable, str(SCRIPT), command], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finish(proc: subprocess.Popen) -> str:
    """Its standard output, once it has ended well (the end of its standard error otherwise)."""
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


@contextmanager
def scratch_database(folder: Path, name: str) -> Iterator[tuple[str, Callable]]:
    """(URL, connect) of an empty database of the backend under test: a SQLite file in `folder`, or a PostgreSQL
    database `name`_<pid> next to the test database, dropped afterwards. `connect()` opens an autocommit
    connection of the driver."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        path = folder / f"{name}.sqlite3"
        yield f"sqlite:///{path}", lambda: sqlite3.connect(path, timeout=30)
        return
    import psycopg

    name = f"{name}_{os.getpid()}"
    base = f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base}/{name}", lambda: psycopg.connect(f"{base}/{name}", autocommit=True)
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
