"""The `gridcounter` command as a newcomer meets it: the command list, an unmigrated database, the user's language,
and a new utility set up from a file (`import-org`) so that `import-registry` takes its cities' rows."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GRIDCOUNTER = str(Path(sys.executable).parent / "gridcounter")
ORG_SAMPLE = ROOT / "examples" / "org-sample.csv"
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
REGISTRY_HEADER = ("account,customer_name,id_type,id_number,phone,city,hall,address,building,usage_category,tariff,"
                   "voltage,capacity_kva,demand_kw,household_size,meter,meter_digits,multiplier,installed_on,route,"
                   "reading_day\n")
XIANGYANG_ROW = ("4200000011,王建国,RESIDENT_ID,110105196503122019,13901012345,XY,XY-01,樊城区人民路5号1单元101室,"
                 "人民路5号,RESIDENTIAL,BJ-RES-LT1KV,220V,,,3,XY-0001,6,1,2019-04-12,XY-S01,8\n")


def gridcounter(*args, url: str = "sqlite:///unused.sqlite3", lang: str = "en_US.UTF-8", **extra):
    env = {name: value for name, value in os.environ.items() if name not in LOCALE_VARIABLES}
    env.update(DATABASE_URL=url, LANG=lang, **extra)
    return subprocess.run([GRIDCOUNTER, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_help_lists_the_commands_by_the_names_the_readme_gives_them():
    done = gridcounter("--help")

    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    for name in ("quote", "import-org", "import-registry", "import-readings", "bill-run", "review", "bills", "pay",
                 "ledger-check", "import-intervals", "demo", "seed", "migrate"):
        assert name in listed and len(listed[name].split()) > 2, name  # each with its one-line summary
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in listed:
        assert f"gridcounter {name}" in readme, name
    assert "import_registry" not in done.stdout


def test_a_command_s_help_works_with_its_hyphenated_name():
    done = gridcounter("import-org", "--help")

    assert done.returncode == 0, done.stderr
    assert "companies, cities, halls and staff" in done.stdout


def test_help_follows_the_user_s_language():
    chinese = gridcounter("--help", lang="zh_CN.UTF-8")
    english = gridcounter("--help", lang="de_DE.UTF-8")
    language_wins = gridcounter("--help", lang="en_US.UTF-8", LANGUAGE="zh_CN:en")

    assert "命令：" in chinese.stdout and "按账期计费" in chinese.stdout
    assert "Commands:" in english.stdout and "命令" not in english.stdout
    assert "命令：" in language_wins.stdout


def test_an_unmigrated_database_is_one_line_naming_the_command_to_run(scratch_db):
    url, _connect = scratch_db

    english = gridcounter("bill-run", "--period", "2026-11", url=url)
    chinese = gridcounter("import-registry", str(ORG_SAMPLE), url=url, lang="zh_CN.UTF-8")

    assert english.returncode == 2
    assert english.stdout == ""
    assert len(english.stderr.strip().splitlines()) == 1, english.stderr
    assert "has not been set up" in english.stderr and "gridcounter migrate" in english.stderr
    assert "Traceback" not in english.stderr
    assert chinese.returncode == 2
    assert "尚未初始化" in chinese.stderr and "gridcounter migrate" in chinese.stderr


def test_a_new_utility_set_up_by_import_org_takes_its_registry(scratch_db, tmp_path):
    url, _connect = scratch_db
    registry = tmp_path / "xiangyang.csv"
    registry.write_text(REGISTRY_HEADER + XIANGYANG_ROW, encoding="utf-8")
    assert gridcounter("migrate", "--no-input", "-v", "0", url=url).returncode == 0

    before = gridcounter("import-registry", str(registry), url=url)
    first = gridcounter("import-org", str(ORG_SAMPLE), url=url)
    again = gridcounter("import-org", str(ORG_SAMPLE), url=url, lang="zh_CN.UTF-8")
    after = gridcounter("import-registry", str(registry), url=url)

    assert "line 2, column city: no city with code or name 'XY'" in before.stdout
    assert first.returncode == 0, first.stderr
    assert "created 8, updated 0, unchanged 0, rejected 2" in first.stdout
    assert "line 10, column parent: no city with code 'XX'" in first.stdout
    assert "line 11, column roles: unknown role 'CASHIER'" in first.stdout
    assert "gridcounter changepassword USERNAME" in first.stdout
    assert "新建 0，更新 0，未变 8，拒绝 2" in again.stdout
    assert "第 10 行，parent 列：没有代码为 'XX' 的城市" in again.stdout
    assert "created 1, updated 0, unchanged 0, rejected 0" in after.stdout, after.stdout
