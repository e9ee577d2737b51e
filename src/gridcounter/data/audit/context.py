"""Who is acting, from which hall, and why: carried to every history row and audit event of a change."""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

CHANNELS = ("WEB", "API", "CLI", "SYSTEM", "GATEWAY", "BANK")  # a page, the REST API, a command, a job, a payment
# gateway, a bank's result file


@dataclass(frozen=True)
class Actor:
    user: Any = None  # a StaffUser, or None for a system job
    hall: Any = None  # the Hall acted from
    reason: str = ""
    channel: str = "SYSTEM"  # one of CHANNELS
    name: str = ""  # who acts when no staff user does: the system account that ran a command

    @property
    def username(self) -> str:
        """The name recorded for this actor: the staff user's username, else `name`."""
        return getattr(self.user, "username", "") or self.name

    @property
    def user_id(self):
        return getattr(self.user, "pk", None)

    @property
    def hall_id(self):
        return getattr(self.hall, "pk", None)


SYSTEM = Actor(reason="system job", channel="SYSTEM")

_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("gridcounter_actor", default=None)


def current_actor() -> Actor:
    return _current.get() or SYSTEM


@contextmanager
def acting_as(actor: Actor):
    """Every change made inside is attributed to ``actor`` (history rows and audit events)."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
