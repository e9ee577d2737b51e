"""An import killed with SIGKILL part-way leaves a batch that counts exactly what it wrote; run again, it finishes.
An interval import killed while it writes its parts leaves neither parts in place nor database rows.

The import is the real command (`gridcounter import-readings` / `import-registry`) in a subprocess on a scratch
database of the backend under test (fixture `scratch_db`), killed once its batch has committed a few chunks.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("import_script.py")


def env(url: str, folder: Path) -> dict:
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "gridcounter.config.settings",
            "IMPORT_DIR": str(folder), "PYTHONPATH": str(ROOT / "src")}


def helper(url: str, folder: Path, command: str) -> dict | None:
    done = subprocess.run([sys.executable, str(SCRIPT), command], env=env(url, folder), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if command == "check" else None


def gridcounter(url: str, folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gridcounter.interfaces.cli.main", *args],
                            env=env(url, folder), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def lines_done(connect) -> int:
    conn = connect()
    try:
        row = conn.execute("SELECT MAX(lines_done) FROM imports_importbatch").fetchone()
        return row[0] or 0
    except Exception:  # noqa: BLE001 - the batch table is being created, or locked for a moment
        return 0
    finally:
        conn.close()


def kill_part_way(proc: subprocess.Popen, connect, *, after_line: int) -> None:
    deadline = time.monotonic() + 300
    while lines_done(connect) < after_line:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def file_rows(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


@pytest.mark.parametrize("kind,command", [("READINGS", "import-readings"), ("REGISTRY", "import-registry")])
def test_a_killed_import_leaves_true_counts_and_the_same_file_again_finishes_it(scratch_db, tmp_path, kind, command):
    url, connect = scratch_db
    helper(url, tmp_path, "prepare")
    name = "readings.csv" if kind == "READINGS" else "registry.csv"
    rows = file_rows(tmp_path / name)

    run = gridcounter(url, tmp_path, command, name, "--chunk-rows", "20", "--json")
    kill_part_way(run, connect, after_line=100)

    [stopped] = [b for b in helper(url, tmp_path, "check")["batches"] if b["kind"] == kind]
    assert not stopped["completed"] and 100 <= stopped["lines_done"] - 1 < rows
    assert stopped["total"] == stopped["lines_done"] - 1  # every line up to the last committed one, no more
    assert stopped["rejected"] == stopped["rejected_rows"] > 0
    written = stopped["readings"] if kind == "READINGS" else helper(url, tmp_path, "check")["accounts"]
    assert stopped["created"] == written

    again = gridcounter(url, tmp_path, command, name, "--json")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    summary = json.loads(out)

    [finished] = [b for b in helper(url, tmp_path, "check")["batches"] if b["kind"] == kind]
    assert finished["completed"] and finished["total"] == rows  # the same batch, finished
    assert finished["created"] + finished["unchanged"] + finished["updated"] + finished["rejected"] == rows
    bad = sum(1 for n in range(1, rows + 1) if (n % 25 == 0))
    assert finished["rejected"] == finished["rejected_rows"] == bad and finished["created"] == rows - bad
    if kind == "READINGS":
        assert finished["readings"] == rows - bad and summary["created"] == rows - bad
    else:
        assert helper(url, tmp_path, "check")["accounts"] == rows - bad and summary["created"] == rows - bad


def test_an_interval_import_killed_while_writing_its_parts_leaves_nothing_and_a_rerun_sweeps_and_finishes(
        scratch_db, tmp_path):
    url, _connect = scratch_db
    helper(url, tmp_path, "prepare")
    dataset = tmp_path / "dataset"
    run = subprocess.Popen([sys.executable, str(SCRIPT), "intervals-slow"], env=env(url, tmp_path), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in run.stdout:
        if line.startswith("STAGED"):
            os.kill(run.pid, signal.SIGKILL)
            break
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL

    assert list(dataset.glob("period=*/route=*/.part-*.tmp"))  # written aside ...
    assert not list(dataset.glob("period=*/route=*/part-*.parquet"))  # ... none in place
    after_kill = helper(url, tmp_path, "check")
    assert after_kill["meters_sending"] == 0 and after_kill["interval_events"] == 0

    again = gridcounter(url, tmp_path, "import-intervals", "intervals.csv", "--dir", str(dataset), "--json")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["swept"]["removed"] >= 1 and summary["rejected"] == 0 and summary["rows"] == 40 * 96
    placed = list(dataset.glob("period=*/route=*/part-*.parquet"))
    assert len(placed) == len(summary["written"]) and not list(dataset.glob("period=*/route=*/.part-*.tmp"))
    finished = helper(url, tmp_path, "check")
    assert finished["meters_sending"] == 40 and finished["interval_events"] == 1
