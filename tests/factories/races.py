"""Races at named points: run another use case, in another thread on its own connection, at a step of this one.

    with run_after("gridcounter.application.billrun._batch._after_posting", lambda: other.start()):
        billrun.run_bills(...)

`run_before` / `run_after` wrap the named function (the real one runs; the callback runs once, before or after
its first call). `Concurrently` runs a call in a thread and waits until it has finished or is blocked on a
PostgreSQL lock (pg_stat_activity), so a test knows which of the two interleavings it made.
"""
from __future__ import annotations

import pkgutil
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from unittest import mock

from django.db import connection, connections


@contextmanager
def _wrapped(target: str, callback: Callable[[], None], *, before: bool):
    original = pkgutil.resolve_name(target)
    fired = False

    def wrapper(*args, **kwargs):
        nonlocal fired
        if before and not fired:
            fired = True
            callback()
        result = original(*args, **kwargs)
        if not before and not fired:
            fired = True
            callback()
        return result

    with mock.patch(target, wrapper):
        yield
    assert fired, f"{target} was never called"


def run_before(target: str, callback: Callable[[], None]):
    """Call `callback` just before the first call of the function named `target` (a dotted path)."""
    return _wrapped(target, callback, before=True)


def run_after(target: str, callback: Callable[[], None]):
    """Call `callback` just after the first call of the function named `target` returns."""
    return _wrapped(target, callback, before=False)


class Concurrently:
    """`call` in its own thread and database connection; `start()` returns "done" or "blocked" (on a lock)."""

    def __init__(self, call: Callable[[], object]):
        self.call = call
        self.result: object = None
        self.error: BaseException | None = None
        self.pid: int | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self._started.set()
            self.result = self.call()
        except BaseException as error:  # noqa: BLE001 — the test inspects it
            self.error = error
        finally:
            self._started.set()
            connections.close_all()

    def start(self, timeout: float = 20) -> str:
        """Begin and wait until the call has finished or waits on a lock: "done" or "blocked"."""
        self.begin()
        return self.settle(timeout)

    def begin(self) -> None:
        """Start the thread and return at once (with its connection open)."""
        self._thread.start()
        self._started.wait(20)

    def settle(self, timeout: float = 20) -> str:
        """Wait until the call has finished ("done") or waits on a lock ("blocked")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                return "done"
            if self._waiting_on_lock():
                return "blocked"
            time.sleep(0.02)
        raise AssertionError(f"the concurrent call neither finished nor waited on a lock in {timeout} s")

    def _waiting_on_lock(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [self.pid])
            row = cursor.fetchone()
        return bool(row) and row[0] == "Lock"

    def join(self, timeout: float = 60):
        """The call's result; re-raises its exception."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the concurrent call did not finish"
        if self.error is not None:
            raise self.error
        return self.result
