"""`gridcounter penalty` as staff and scripts run it: the penalty and its working as JSON, the working as sentences
in the user's language, the rules from the file the settings name, and one-line refusals naming the option."""
import json
from pathlib import Path

import pytest

from tests.factories.commands import gridcounter, refusal

RULES_FILE = Path(__file__).resolve().parents[3] / "rules" / "penalty.toml"


def penalty(*args: str, lang: str = "en_US.UTF-8", **environ: str):
    return gridcounter("penalty", *args, lang=lang, **environ)


def test_non_residential_across_a_year_end_with_a_part_payment_as_json():
    done = penalty("--category", "GENERAL_COMMERCIAL", "--amount", "1000", "--due", "2025-12-25",
                   "--paid", "2026-01-10", "--part", "2026-01-05:400.00", "--json")

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["penalty"] == "36.00"
    assert [(s["from"], s["to"], s["days"], s["remainder"], s["rate_per_mille"], s["amount"])
            for s in out["working"] if s["step"] == "SEGMENT"] == [
        ("2025-12-26", "2025-12-31", 6, "1000.00", "2", "12.00"),
        ("2026-01-01", "2026-01-05", 5, "1000.00", "3", "15.00"),
        ("2026-01-06", "2026-01-10", 5, "600.00", "3", "9.00")]
    assert out["working"][1]["text_zh"] == ("2026-01-01 至 2026-01-05，共 5 天：欠费 1,000.00 元 × 每日 3‰（跨年度欠费）"
                                            "× 5 天 = 15.00 元。")


def test_residential_paid_on_time_and_the_day_after():
    on_time = json.loads(penalty("--category", "RESIDENTIAL", "--amount", "300", "--due", "2026-03-20",
                                 "--paid", "2026-03-20", "--json").stdout)
    next_day = json.loads(penalty("--category", "RESIDENTIAL", "--amount", "3000", "--due", "2026-03-20",
                                  "--paid", "2026-03-21", "--json").stdout)

    assert on_time["penalty"] == "0.00" and [s["step"] for s in on_time["working"]] == ["NONE"]
    assert next_day["penalty"] == "3.00" and next_day["working"][0]["days"] == 1


def test_the_minimum_and_the_cap_and_cap_given_on_the_command_line():
    small = json.loads(penalty("--category", "RESIDENTIAL", "--amount", "50", "--due", "2026-03-20",
                               "--paid", "2026-03-21", "--json").stdout)
    args = ["--category", "LARGE_INDUSTRY", "--amount", "1000", "--due", "2024-01-20", "--paid", "2025-12-20", "--json"]
    capped = json.loads(penalty(*args).stdout)
    uncapped = json.loads(penalty(*args, "--cap", "off").stdout)
    tenth = json.loads(penalty(*args, "--cap", "10").stdout)

    assert small["penalty"] == "1.00" and small["working"][-1]["step"] == "MINIMUM"
    assert (capped["penalty"], uncapped["penalty"], tenth["penalty"]) == ("300.00", "1754.00", "100.00")


def test_the_period_year_makes_a_december_bill_due_in_january_last_year_s_arrears():
    args = ["--category", "AGRICULTURE", "--amount", "1000", "--due", "2026-01-20", "--paid", "2026-01-30", "--json"]

    assert json.loads(penalty(*args).stdout)["penalty"] == "20.00"
    assert json.loads(penalty(*args, "--period-year", "2025").stdout)["penalty"] == "30.00"


def test_the_working_as_sentences_in_the_user_s_language():
    args = ["--category", "GENERAL_COMMERCIAL", "--amount", "1000", "--due", "2026-03-20", "--paid", "2026-03-30",
            "--part", "2026-03-25:400"]
    english = penalty(*args)
    chinese = penalty(*args, lang="zh_CN.UTF-8")

    assert english.returncode == 0 and chinese.returncode == 0
    assert english.stdout.splitlines() == [
        "2026-03-21 to 2026-03-25, 5 days: 1,000.00 yuan unpaid × 2‰ a day (current year's arrears) × 5 days = "
        "10.00 yuan.",
        "2026-03-26 to 2026-03-30, 5 days: 600.00 yuan unpaid × 2‰ a day (current year's arrears) × 5 days = "
        "6.00 yuan.",
        "Total 16.00 yuan, rounded half up to the fen: 16.00 yuan.",
        "Penalty: 16.00 yuan."]
    assert chinese.stdout.splitlines() == [
        "2026-03-21 至 2026-03-25，共 5 天：欠费 1,000.00 元 × 每日 2‰（当年欠费）× 5 天 = 10.00 元。",
        "2026-03-26 至 2026-03-30，共 5 天：欠费 600.00 元 × 每日 2‰（当年欠费）× 5 天 = 6.00 元。",
        "合计 16.00 元，四舍五入到分：16.00 元。",
        "电费违约金：16.00 元。"]


def test_the_rules_come_from_the_file_the_settings_name(tmp_path):
    text = RULES_FILE.read_text(encoding="utf-8")
    edited = tmp_path / "penalty.toml"
    edited.write_text(text.replace('percent = "30"', 'percent = "20"'), encoding="utf-8")
    missing = tmp_path / "missing-category.toml"
    missing.write_text(text.replace(', "SHARED_METER_RESIDENTIAL"', ""), encoding="utf-8")
    args = ["--category", "LARGE_INDUSTRY", "--amount", "1000", "--due", "2024-01-20", "--paid", "2025-12-20"]

    twenty = penalty(*args, "--json", GRIDCOUNTER_PENALTY_RULES=str(edited))
    refused = penalty(*args, GRIDCOUNTER_PENALTY_RULES=str(missing))

    assert json.loads(twenty.stdout)["penalty"] == "200.00"
    assert "penalty rules: [categories] does not place SHARED_METER_RESIDENTIAL" in refusal(refused, "penalty")


OK = ["--category", "RESIDENTIAL", "--amount", "100", "--due", "2026-03-20", "--paid", "2026-03-30"]


@pytest.mark.parametrize(("args", "lang", "message"), [
    (["--category", "STREET", *OK[2:]], "en_US.UTF-8", "--category: unknown usage category 'STREET'; one of "
     "AGRICULTURE, GENERAL_COMMERCIAL, LARGE_INDUSTRY, RESIDENTIAL, SHARED_METER_RESIDENTIAL"),
    (["--category", "STREET", *OK[2:]], "zh_CN.UTF-8", "--category：未知的用电类别 'STREET'"),
    ([*OK[:2], "--amount", "100.005", *OK[4:]], "en_US.UTF-8",
     "--amount: has more than two decimals (the smallest unit is one fen), not '100.005'"),
    ([*OK[:2], "--amount", "-5", *OK[4:]], "zh_CN.UTF-8", "--amount：应大于零，而不是 '-5'"),
    ([*OK[:2], "--amount", "0", *OK[4:]], "en_US.UTF-8", "--amount: must be greater than zero, not '0'"),
    ([*OK[:2], "--amount", "ten", *OK[4:]], "en_US.UTF-8", "--amount: must be an amount in yuan such as 123.45"),
    ([*OK[:4], "--due", "2026-02-30", *OK[6:]], "en_US.UTF-8",
     "--due: must be a date written YYYY-MM-DD, not '2026-02-30'"),
    ([*OK[:6], "--paid", "30/03/2026"], "zh_CN.UTF-8", "--paid：应为 YYYY-MM-DD 格式的日期，而不是 '30/03/2026'"),
    ([*OK, "--part", "2026-03-25"], "en_US.UTF-8", "--part: must be written YYYY-MM-DD:AMOUNT"),
    ([*OK, "--part", "2026-03-25:0.001"], "en_US.UTF-8", "--part: has more than two decimals"),
    ([*OK, "--part", "2026-03-25:60", "--part", "2026-03-26:50"], "en_US.UTF-8",
     "--part: the parts add up to 110.00 yuan, more than the amount of 100.00 yuan"),
    ([*OK, "--part", "2026-03-25:60", "--part", "2026-03-26:50"], "zh_CN.UTF-8",
     "--part：部分交费合计 110.00 元，超过欠费金额 100.00 元"),
    ([*OK, "--part", "2026-04-01:10"], "en_US.UTF-8",
     "--part: a part paid on 2026-04-01 is after the day of payment in full, 2026-03-30"),
    ([*OK, "--cap", "0"], "en_US.UTF-8", "--cap: must be a percent above 0 and at most 100, or 'off', not '0'"),
    ([*OK, "--cap", "lots"], "zh_CN.UTF-8", "--cap：应为大于 0、不超过 100 的百分数"),
    ([*OK, "--period-year", "2027"], "en_US.UTF-8",
     "--period-year: the bill's year 2027 cannot be after its due date 2026-03-20"),
    ([*OK, "--period-year", "25"], "en_US.UTF-8", "--period-year: must be a year such as 2025, not '25'"),
    (OK[:6], "en_US.UTF-8", "the following arguments are required: --paid"),
])
def test_bad_input_is_one_line_naming_the_option_and_exit_2(args, lang, message):
    assert message in refusal(penalty(*args, "--json", lang=lang), "penalty")


def test_listed_in_gridcounter_help_in_both_languages():
    english = gridcounter("--help")
    chinese = gridcounter("--help", lang="zh_CN.UTF-8")

    assert "penalty" in english.stdout and "the late-payment penalty on an overdue bill" in english.stdout
    assert "逾期电费的电费违约金及其计算过程（第九十八条）" in chinese.stdout
