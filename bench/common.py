"""What the bench scripts share: the project's root, Django set up on a database, a process's peak memory."""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)  # the bench runs the checkout's code, installed or not


def setup_django(database_url: str | None = None) -> None:
    """Django with the project's settings, on `database_url` when given (else DATABASE_URL or the default)."""
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    import django

    django.setup()


def peak_mib(children: int = 0) -> float:
    """This process's peak resident memory (ru_maxrss), in MiB, plus `children` times the largest peak of the child
    processes it has waited for (a SQLite bill run's reading processes), as if all those peaks came at once."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if children:
        peak += children * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 1024
