"""`gridcounter quote` as a user runs it: JSON on stdout, one-line errors on stderr, exit code 2 on a bad argument."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GRIDCOUNTER = Path(sys.executable).parent / "gridcounter"
TARIFF_DIR = Path(__file__).resolve().parents[3] / "tariffs"


def quote(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "GRIDCOUNTER_TARIFF_DIRS"}
    environment.update(env or {})
    return subprocess.run([str(GRIDCOUNTER), "quote", *args], capture_output=True, text=True, env=environment,
                          timeout=60)


def test_json_quote_of_a_beijing_tier_crossing():
    # ytd 2800 + 200 kWh: 80 × 0.4883 = 39.06; 120 × 0.5383 = 64.60; total 103.66
    done = quote("--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "200", "--ytd-kwh", "2800", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["tariff"] == "BJ-RES-LT1KV"
    assert out["period"] == {"start_date": "2024-11-01", "end_date": "2024-12-01", "days": 30}
    assert out["total"] == "103.66"
    assert [(line["quantity"], line["unit_price"], line["amount"]) for line in out["lines"]] == [
        ("80.00", "0.4883", "39.06"), ("120.00", "0.5383", "64.60")]
    assert out["lines"][0]["description"] == "电度电费 第一档"
    assert out["lines"][0]["description_en"] == "Energy, tier 1"
    assert out["facts"]["tiers"]["tier_reached"] == 2
    assert out["facts"]["tiers"]["kwh_to_next_threshold"] == "1800.00"


def test_two_part_quote_with_days_and_power_factor():
    # 10 days: basic 400 × 30 × 10/30 = 4000.00; energy 96 + 60 + 24 = 180.00;
    # cos φ = 300/√(300² + 97.5²) = 0.951 → 0.95 → −0.75 % of 4180.00 = −31.35; total 4148.65
    done = quote("--tariff", "DEMO-LI-2P", "--period", "2024-10", "--days", "10", "--peak", "100", "--flat", "100",
                 "--valley", "100", "--capacity-kva", "400", "--kvarh", "97.5", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["period"]["end_date"] == "2024-10-11"
    assert [line["amount"] for line in out["lines"]] == ["96.00", "60.00", "24.00", "4000.00", "-31.35"]
    assert out["total"] == "4148.65"
    assert out["facts"]["power_factor"]["cos_phi"] == "0.95"


def test_table_output_without_json():
    done = quote("--tariff", "SH-RES-TOU", "--period", "2024-11", "--peak", "200", "--valley", "100",
                 "--ytd-kwh", "3000")
    assert done.returncode == 0, done.stderr
    assert "Energy, tier 2, peak" in done.stdout
    assert "163.10" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--tariff", "NOPE", "--period", "2024-11", "--kwh", "1"], "--tariff: unknown tariff 'NOPE'"),
    (["--tariff", "BJ-RES-LT1KV", "--period", "2024-13", "--kwh", "1"], "--period: must be a month written YYYY-MM"),
    (["--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "abc"], "argument --kwh: not a number: 'abc'"),
    (["--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "-5"], "--kwh: must not be negative"),
    (["--tariff", "BJ-RES-LT1KV", "--period", "2024-11"], "--kwh: give kwh, or the peak/flat/valley readings"),
    (["--period", "2024-11", "--kwh", "1"], "the following arguments are required: --tariff"),
    (["--tariff", "SC-GC-TOU", "--period", "2024-11", "--kwh", "1"], "--kwh: tariff SC-GC-TOU is time-of-use only"),
    (["--tariff", "SC-GC-TOU", "--period", "2024-10", "--peak", "1", "--critical-peak", "1"],
     "--critical-peak: critical-peak kWh given"),
    (["--tariff", "SH-RES-TOU", "--period", "2024-10", "--peak", "1", "--flat", "1"], "--flat: tariff SH-RES-TOU has no flat"),
    (["--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "1", "--days", "0"], "--days: must be a whole number"),
    (["--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "1", "--bogus"], "unrecognized arguments: --bogus"),
    (["--tariff", "DEMO-LI-2P", "--period", "2024-11", "--peak", "1", "--demand-kw", "5"], "--contract-demand-kw: is required"),
])
def test_bad_arguments_give_one_line_on_stderr_and_exit_2(args, message):
    done = quote(*args, "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("gridcounter quote: error: ")
    assert message in done.stderr


def test_an_extra_tariff_file_can_be_quoted(tmp_path):
    # a test tariff at 0.5000 flat: 123.45 × 0.5 = 61.725 → 61.73
    extra = tmp_path / "test.toml"
    extra.write_text('id = "TEST-FLAT"\nname = "测试"\nname_en = "Test"\nprovince = "测试"\n'
                     'usage_categories = ["RESIDENTIAL"]\n[[versions]]\neffective_from = 2024-01-01\n'
                     'source = "test"\n[versions.energy]\nuntimed = [0.5000]\n', encoding="utf-8")
    done = quote("--tariff", "TEST-FLAT", "--tariff-file", str(extra), "--period", "2024-11", "--kwh", "123.45",
                 "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == "61.73"


def test_a_broken_extra_file_is_named_in_the_error(tmp_path):
    extra = tmp_path / "broken.toml"
    extra.write_text('id = "TEST-BROKEN"\n', encoding="utf-8")
    done = quote("--tariff", "TEST-BROKEN", "--tariff-file", str(extra), "--period", "2024-11", "--kwh", "1")
    assert done.returncode == 2
    assert "broken.toml: usage_categories: is required" in done.stderr and done.stderr.count("\n") == 1


def test_tariff_folders_come_from_the_environment(tmp_path):
    (tmp_path / "rules").mkdir()
    done = quote("--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "1",
                 env={"GRIDCOUNTER_TARIFF_DIRS": str(tmp_path)})
    assert done.returncode == 2
    assert "unknown tariff 'BJ-RES-LT1KV' (known: none)" in done.stderr
    done = quote("--tariff", "BJ-RES-LT1KV", "--period", "2024-11", "--kwh", "1", "--json",
                 env={"GRIDCOUNTER_TARIFF_DIRS": os.pathsep.join([str(tmp_path), str(TARIFF_DIR)])})
    assert done.returncode == 0 and json.loads(done.stdout)["total"] == "0.49"
