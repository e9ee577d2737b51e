"""The `gridcounter` command run as a user runs it (a subprocess, in a chosen language), and its one-line refusals."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GRIDCOUNTER = Path(sys.executable).parent / "gridcounter"
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
UNSET = ("GRIDCOUNTER_BACK_BILLING_RULES", "GRIDCOUNTER_PENALTY_RULES", "GRIDCOUNTER_WORKING_CALENDAR")


def gridcounter(command: str, *args: str, lang: str = "en_US.UTF-8", **environ: str) -> subprocess.CompletedProcess:
    """`gridcounter COMMAND ARGS` with the user's locale `lang` (and no other locale variable), `environ` added."""
    env = {name: value for name, value in os.environ.items() if name not in LOCALE_VARIABLES + UNSET}
    env.update(LANG=lang, DATABASE_URL=f"sqlite:///unused-by-{command}.sqlite3", **environ)
    return subprocess.run([str(GRIDCOUNTER), command, *args], capture_output=True, text=True, env=env, timeout=120)


def refusal(done: subprocess.CompletedProcess, command: str) -> str:
    """The one line a refused command wrote to stderr, having checked that it wrote nothing else and exited 2."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"gridcounter {command}"), done.stderr
    return done.stderr.strip()
