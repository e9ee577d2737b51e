"""`gridcounter workdays` as staff and scripts run it: the due date as JSON or one line in the user's language, and
one-line refusals with exit 2."""
import json

import pytest

from tests.factories.commands import gridcounter, refusal


def workdays(*args: str, lang: str = "en_US.UTF-8", **environ: str):
    return gridcounter("workdays", *args, lang=lang, **environ)


def test_json_due_date_across_the_2026_spring_festival():
    # Fri 13 Feb 2026: Sat 14 Feb is worked (调休), 15–23 Feb off, then 24, 25, 26, 27 Feb
    done = workdays("--from", "2026-02-13", "--days", "5", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"from": "2026-02-13", "days": 5, "due": "2026-02-27"}


def test_json_due_date_across_national_day_2026_with_its_adjusted_saturday():
    done = workdays("--from", "2026-09-30", "--days", "3", "--json")

    assert json.loads(done.stdout) == {"from": "2026-09-30", "days": 3, "due": "2026-10-10"}


def test_one_line_in_english_and_in_chinese():
    english = workdays("--from", "2026-02-15", "--days", "5")
    chinese = workdays("--from", "2026-02-15", "--days", "5", lang="zh_CN.UTF-8")
    one = workdays("--from", "2026-03-13", "--days", "1")
    same_day = workdays("--from", "2026-10-01", "--days", "0", lang="zh_CN.UTF-8")

    assert english.stdout.strip() == ("5 working days from 2026-02-15, counted from the next working day "
                                      "(2026-02-24): due 2026-02-28.")
    assert chinese.stdout.strip() == "自 2026-02-15 起 5 个工作日（从下一个工作日 2026-02-24 起算）：到期日 2026-02-28。"
    assert one.stdout.strip() == ("1 working day from 2026-03-13, counted from the next working day (2026-03-16): "
                                  "due 2026-03-16.")
    assert same_day.stdout.strip() == "自 2026-10-01 起 0 个工作日：当日到期，即 2026-10-01。"


@pytest.mark.parametrize(("args", "lang", "message"), [
    (["--from", "2026-02-30", "--days", "5"], "en_US.UTF-8", "--from: must be a date written YYYY-MM-DD, not '2026-02-30'"),
    (["--from", "13/02/2026", "--days", "5"], "zh_CN.UTF-8", "--from：应为 YYYY-MM-DD 格式的日期，而不是 '13/02/2026'"),
    (["--from", "2026-02-13", "--days", "-1"], "en_US.UTF-8", "--days: must be a whole number of working days, 0 or more"),
    (["--from", "2026-02-13", "--days", "2.5"], "zh_CN.UTF-8", "--days：应为 0 或更大的整数（工作日数）"),
    (["--from", "2027-03-01", "--days", "1"], "en_US.UTF-8", "--from: the working-day calendar covers 2004 to 2026 only"),
    (["--from", "2003-06-02", "--days", "1"], "zh_CN.UTF-8", "--from：工作日历只收录 2004—2026 年的节假日安排"),
    (["--from", "2026-12-30", "--days", "3"], "en_US.UTF-8", "--days: the working-day calendar covers 2004 to 2026 only; 2027-01-01"),
    (["--days", "3"], "en_US.UTF-8", "the following arguments are required: --from"),
    (["--from", "2026-02-13", "--days", "1", "--bogus"], "en_US.UTF-8", "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args, lang, message):
    assert message in refusal(workdays(*args, "--json", lang=lang), "workdays")


TEST_NOTICE = '''
[[years]]
year = 2027
source = "a test's notice (not the State Council's): 1 January off, Saturday 2 January worked"
days_off = ["2027-01-01"]
weekend_days_worked = ["2027-01-02"]
'''


def test_a_year_entered_in_the_calendar_file_is_counted_on(tmp_path):
    """The package ends with 2026; a 2027 notice entered in the file carries the count into 2027, as it says."""
    calendar = tmp_path / "working-calendar.toml"
    calendar.write_text(TEST_NOTICE, encoding="utf-8")

    without = workdays("--from", "2026-12-30", "--days", "3", "--json")
    entered = workdays("--from", "2026-12-30", "--days", "3", "--json", GRIDCOUNTER_WORKING_CALENDAR=str(calendar))

    assert "2027" in refusal(without, "workdays")
    # Thu 31 Dec 2026, then Sat 2 Jan 2027 (worked) and Mon 4 Jan; Fri 1 Jan is off
    assert json.loads(entered.stdout) == {"from": "2026-12-30", "days": 3, "due": "2027-01-04"}


def test_a_calendar_file_with_a_gap_is_refused_in_one_line(tmp_path):
    calendar = tmp_path / "working-calendar.toml"
    calendar.write_text(TEST_NOTICE.replace("2027", "2028"), encoding="utf-8")

    line = refusal(workdays("--from", "2026-03-02", "--days", "1", GRIDCOUNTER_WORKING_CALENDAR=str(calendar)),
                   "workdays")
    assert "working-day calendar" in line and "2027 first" in line
