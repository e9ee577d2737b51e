"""A city in a scratch database of its own, prepared, billed and checked by subprocesses.

tests/integration/billrun/crash_script.py does the work (`prepare` seeds a city with `demo.seed_city` and its
readings; `run`, `check`, `bills`, `ledger` …); `script` starts it on a database URL, `finish` waits for it.
"""
from __future__ import annotations

import os
import subprocess
import sys
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
