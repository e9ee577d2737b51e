"""`gridcounter back-bill` as staff and scripts run it: the make-up and its working as JSON, the working as a
sentence in the user's language, and one-line refusals naming the option, with exit 2."""
import json
from pathlib import Path

import pytest

from tests.factories.commands import gridcounter, refusal


def back_bill(*args: str, lang: str = "en_US.UTF-8", **environ: str):
    return gridcounter("back-bill", *args, lang=lang, **environ)


def test_art80_worked_example_as_json():
    done = back_bill("--rule", "ART80", "--error-percent", "-10", "--recorded-kwh", "900000", "--json")

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["rule"] == "ART80"
    assert out["make_up_kwh"] == "50000.00"
    assert out["working"]["numbers"]["true_kwh"] == "1000000.00"
    assert out["working"]["numbers"]["period_fraction"] == "1/2"
    assert out["working"]["article"] == "80"
    assert "应补收 50,000 千瓦时" in out["working"]["text_zh"]
    assert "50,000 kWh more to pay" in out["working"]["text_en"]


def test_art80_fast_meter_is_a_negative_make_up():
    done = back_bill("--rule", "ART80", "--error-percent", "+10", "--recorded-kwh", "1100000", "--json")

    out = json.loads(done.stdout)
    assert out["make_up_kwh"] == "-50000.00" and out["working"]["direction"] == "TO_BE_CREDITED"


def test_art81_wrong_multiplier_both_ways_as_json():
    short = json.loads(back_bill("--rule", "ART81", "--used-ratio", "300/5", "--actual-ratio", "600/5",
                                 "--recorded-kwh", "12000", "--json").stdout)
    over = json.loads(back_bill("--rule", "ART81", "--used-ratio", "600/5", "--actual-ratio", "300/5",
                                "--recorded-kwh", "12000", "--json").stdout)

    assert (short["rule"], short["make_up_kwh"], short["working"]["numbers"]["factor"]) == ("ART81", "12000.00", "1")
    assert (over["make_up_kwh"], over["working"]["numbers"]["factor"]) == ("-6000.00", "-0.5")


def test_the_working_as_a_sentence_in_the_user_s_language():
    english = back_bill("--rule", "ART80", "--error-percent", "-10", "--recorded-kwh", "900000")
    chinese = back_bill("--rule", "ART80", "--error-percent", "-10", "--recorded-kwh", "900000", lang="zh_CN.UTF-8")

    assert english.returncode == 0 and chinese.returncode == 0
    assert english.stdout.startswith("Under Art. 80 of the Rules for Electricity Supply Business")
    assert "50,000 kWh more to pay." in english.stdout and "千瓦时" not in english.stdout
    assert chinese.stdout.startswith("依据《供电营业规则》第八十条")
    assert "应补收 50,000 千瓦时。" in chinese.stdout


def test_the_rules_come_from_the_file_the_settings_name(tmp_path):
    rules = Path(__file__).resolve().parents[3] / "rules" / "back-billing.toml"
    edited = tmp_path / "back-billing.toml"
    edited.write_text(rules.read_text(encoding="utf-8").replace('period_fraction = "1/2"', 'period_fraction = "1/4"'),
                      encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text("[rules.ART80]\narticle = \"80\"\n", encoding="utf-8")

    quarter = back_bill("--rule", "ART80", "--error-percent", "-10", "--recorded-kwh", "900000", "--json",
                        GRIDCOUNTER_BACK_BILLING_RULES=str(edited))
    refused = back_bill("--rule", "ART80", "--error-percent", "-10", "--recorded-kwh", "900000",
                        GRIDCOUNTER_BACK_BILLING_RULES=str(broken))

    assert json.loads(quarter.stdout)["make_up_kwh"] == "25000.00"
    assert refused.returncode == 2 and "back-billing rules:" in refused.stderr and "article_zh" in refused.stderr


ART80_OK = ["--rule", "ART80", "--error-percent", "-10"]
ART81_OK = ["--rule", "ART81", "--used-ratio", "300/5", "--actual-ratio", "600/5"]


@pytest.mark.parametrize(("args", "lang", "message"), [
    (["--rule", "ART80", "--error-percent", "0", "--recorded-kwh", "1"], "en_US.UTF-8",
     "--error-percent: must be above -100 and at most 100, and not 0"),
    (["--rule", "ART80", "--error-percent", "-100", "--recorded-kwh", "1"], "zh_CN.UTF-8",
     "--error-percent：误差百分数应大于 -100"),
    (["--rule", "ART80", "--error-percent", "ten", "--recorded-kwh", "1"], "en_US.UTF-8",
     "--error-percent: must be a number, not 'ten'"),
    ([*ART80_OK, "--recorded-kwh", "-5"], "en_US.UTF-8", "--recorded-kwh: must not be negative"),
    ([*ART80_OK, "--recorded-kwh", "5.001"], "en_US.UTF-8", "--recorded-kwh: has at most two decimals"),
    (["--rule", "ART80", "--recorded-kwh", "1"], "en_US.UTF-8", "--error-percent: is required with --rule ART80"),
    (["--rule", "ART80", "--error-percent", "-10", "--used-ratio", "300/5", "--recorded-kwh", "1"], "zh_CN.UTF-8",
     "--used-ratio：仅适用于 --rule ART81"),
    (["--rule", "ART81", "--used-ratio", "300/5", "--recorded-kwh", "1"], "en_US.UTF-8",
     "--actual-ratio: is required with --rule ART81"),
    (["--rule", "ART81", "--used-ratio", "300:5", "--actual-ratio", "600/5", "--recorded-kwh", "1"], "en_US.UTF-8",
     "--used-ratio: must be a ratio of two positive whole numbers such as 300/5, not '300:5'"),
    (["--rule", "ART81", "--used-ratio", "300/5", "--actual-ratio", "0/5", "--recorded-kwh", "1"], "zh_CN.UTF-8",
     "--actual-ratio：应为两个正整数之比"),
    (["--rule", "ART81", "--used-ratio", "300/5", "--actual-ratio", "600/10", "--recorded-kwh", "1"], "en_US.UTF-8",
     "--actual-ratio: is the same multiplier as the one used (300/5)"),
    ([*ART81_OK], "en_US.UTF-8", "the following arguments are required: --recorded-kwh"),
    (["--rule", "ART82", "--recorded-kwh", "1"], "en_US.UTF-8", "argument --rule: invalid choice: 'ART82'"),
])
def test_bad_input_is_one_line_naming_the_option_and_exit_2(args, lang, message):
    assert message in refusal(back_bill(*args, "--json", lang=lang), "back-bill")
