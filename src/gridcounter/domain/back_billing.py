"""Back-billing (退补电量) after a meter test: the kWh to make up or refund under Art. 80 and Art. 81, with the working.

Both rules take the kWh recorded (as billed) over the period since the last test or installation and return the
make-up: positive when the customer was billed too little and pays more (补收), negative when billed too much and is
refunded (退还). Each result carries its working: the inputs, every intermediate number, and the formula in words
and numbers in Chinese and English, citing the article (the texts and the period fractions are data, see
rules/back-billing.toml, passed in as a `BackBillingRule`).

- **Art. 80, meter error** (`meter_error_make_up`): a meter with a relative error of P % records
  recorded = true × (1 + P/100), so true = recorded ÷ (1 + P/100); the make-up is (true − recorded) × the rule's
  period fraction (½: the error is corrected over half the time since the last test or installation). A slow meter
  (P < 0) gives a make-up, a fast one (P > 0) a refund.
- **Art. 81, wrong multiplier** (`multiplier_make_up`): kWh billed with a multiplier (the instrument transformers'
  ratio, e.g. 300/5) other than the one installed (600/5) are scaled by factor = actual ÷ used − 1, over the whole
  period (fraction 1): 600/5 used as 300/5 → factor 1, the customer pays as much again; 300/5 used as 600/5 →
  factor −½, half is refunded.

Rounding, named once: every kWh is rounded to 0.01 kWh, ROUND_HALF_UP (half away from zero, so a fast meter's
refund mirrors a slow meter's make-up), at each step that the working prints, so that the printed working adds up.
The ratio factor is kept exact (a fraction) until the make-up is rounded.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

from gridcounter.domain.billing.sentences import WORDS, kwh_text
from gridcounter.domain.invalid_input import InvalidInput

KWH = Decimal("0.01")
ROUNDING = ROUND_HALF_UP
MIN_ERROR_PERCENT = Decimal(-100)  # exclusive: a meter that records nothing has no error to correct by
MAX_ERROR_PERCENT = Decimal(100)  # inclusive: a meter recording more than twice the true use is a typing error
ART80 = "ART80"
ART81 = "ART81"
RULE_KEYS = ("article", "article_zh", "regulation_zh", "regulation_en", "title_zh", "title_en", "period_fraction",
             "period_zh", "period_en", "source")
_RATIO = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class BackBillingRulesError(ValueError):
    """The back-billing rules file is missing a rule or a key, or holds a value of the wrong kind."""


class InvalidBackBillingInput(InvalidInput):
    """An input of a back-billing calculation is out of range. `field` names it; the message is in both languages
    (`text_zh`, `text_en`); str() is `field: English message`."""


@dataclass(frozen=True)
class BackBillingRule:
    """One article's rule: how much of the period it corrects, and how it is cited."""

    code: str  # ART80, ART81
    article: str  # "80"
    article_zh: str  # "第八十条"
    regulation_zh: str
    regulation_en: str
    title_zh: str
    title_en: str
    period_fraction: Fraction  # share of the time since the last test or installation that is corrected
    period_zh: str
    period_en: str
    source: str


def rules_from_mapping(data: Mapping) -> dict[str, BackBillingRule]:
    """The rules of the parsed rules file (see rules/back-billing.toml), by code. Raises BackBillingRulesError
    naming the rule and key."""
    rules = data.get("rules") if isinstance(data, Mapping) else None
    if not isinstance(rules, Mapping):
        raise BackBillingRulesError("back-billing rules: missing [rules]")
    out = {}
    for code in (ART80, ART81):
        entry = rules.get(code)
        if not isinstance(entry, Mapping):
            raise BackBillingRulesError(f"back-billing rules: missing [rules.{code}]")
        values = {}
        for key in RULE_KEYS:
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise BackBillingRulesError(f"back-billing rules: [rules.{code}] {key} must be a non-empty string")
            values[key] = value.strip()
        try:
            fraction = Fraction(values.pop("period_fraction"))
        except (ValueError, ZeroDivisionError):
            fraction = None
        if fraction is None or not 0 < fraction <= 1:
            raise BackBillingRulesError(f"back-billing rules: [rules.{code}] period_fraction must be a fraction "
                                        "above 0 and at most 1, such as \"1/2\"")
        out[code] = BackBillingRule(code=code, period_fraction=fraction, **values)
    return out


@dataclass(frozen=True)
class Ratio:
    """An instrument transformers' ratio as written on the nameplate, e.g. 300/5 (a multiplier of 60)."""

    primary: int
    secondary: int

    @property
    def value(self) -> Fraction:
        return Fraction(self.primary, self.secondary)

    def __str__(self) -> str:
        return f"{self.primary}/{self.secondary}"


def parse_ratio(text: str, *, field: str) -> Ratio:
    """'300/5' → Ratio(300, 5): two positive whole numbers. Raises InvalidBackBillingInput naming `field`."""
    match = _RATIO.match(str(text))
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise InvalidBackBillingInput(
            field=field, text_zh=f"应为两个正整数之比，如 300/5，而不是 {text!r}",
            text_en=f"must be a ratio of two positive whole numbers such as 300/5, not {text!r}")
    return Ratio(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class BackBilling:
    """A back-billing result: the kWh to make up (negative: to refund) and how it was reached."""

    rule: BackBillingRule
    make_up_kwh: Decimal
    numbers: dict  # every input and intermediate number, as plain strings
    text_zh: str
    text_en: str

    @property
    def direction(self) -> str:
        return "MORE_TO_PAY" if self.make_up_kwh > 0 else "TO_BE_CREDITED" if self.make_up_kwh < 0 else "NONE"

    def as_dict(self) -> dict:
        """As the CLI prints it and the workflow will store it."""
        return {
            "rule": self.rule.code,
            "make_up_kwh": format(self.make_up_kwh, "f"),
            "working": {
                "article": self.rule.article,
                "regulation_zh": self.rule.regulation_zh,
                "regulation_en": self.rule.regulation_en,
                "direction": self.direction,
                "numbers": dict(self.numbers),
                "text_zh": self.text_zh,
                "text_en": self.text_en,
                "source": self.rule.source,
            },
        }


def meter_error_make_up(*, rule: BackBillingRule, error_percent: Decimal, recorded_kwh: Decimal) -> BackBilling:
    """Art. 80: the make-up for a meter whose error is `error_percent` % (negative: slow, positive: fast), which
    recorded `recorded_kwh` since its last test or installation. Raises InvalidBackBillingInput."""
    error = _finite(error_percent, field="error_percent")
    if not MIN_ERROR_PERCENT < error <= MAX_ERROR_PERCENT or error == 0:
        raise InvalidBackBillingInput(
            field="error_percent",
            text_zh=f"误差百分数应大于 {MIN_ERROR_PERCENT}、不超过 {MAX_ERROR_PERCENT} 且不为 0（慢为负，快为正），"
                    f"而不是 {error}",
            text_en=f"must be above {MIN_ERROR_PERCENT} and at most {MAX_ERROR_PERCENT}, and not 0 (negative for a "
                    f"slow meter, positive for a fast one), not {error}")
    recorded = _kwh_input(recorded_kwh)
    true_kwh = (recorded * 100 / (100 + error)).quantize(KWH, rounding=ROUNDING)
    difference = true_kwh - recorded
    make_up = _times(difference, rule.period_fraction)
    slow = error < 0
    numbers = {"error_percent": format(error.normalize(), "f"), "recorded_kwh": format(recorded, "f"),
               "true_kwh": format(true_kwh, "f"), "difference_kwh": format(difference, "f"),
               "period_fraction": str(rule.period_fraction), "make_up_kwh": format(make_up, "f")}
    error_text = _signed(error.normalize())
    one_plus = f"1 {'−' if slow else '+'} {format(abs(error).normalize(), 'f')}"
    direction = WORDS["more_to_pay" if make_up >= 0 else "to_be_credited"]
    zh = (f"依据《{rule.regulation_zh}》{rule.article_zh}（{rule.title_zh}）：电能表误差 {error_text}%"
          f"（{'偏慢' if slow else '偏快'}），以“0”误差为基准，实际用电量 = 抄见电量 {kwh_text(recorded)} 千瓦时 ÷ "
          f"（{one_plus}%）= {kwh_text(true_kwh)} 千瓦时，相差 {kwh_text(abs(difference))} 千瓦时；退补时间按"
          f"{rule.period_zh}计算，{kwh_text(abs(difference))} × {rule.period_fraction} = {kwh_text(abs(make_up))} 千瓦时，"
          f"应{direction.zh} {kwh_text(abs(make_up))} 千瓦时。")
    en = (f"Under Art. {rule.article} of the {rule.regulation_en} ({rule.title_en}): the meter's error is "
          f"{error_text} % ({'slow' if slow else 'fast'}). Corrected to zero error, the true consumption is the "
          f"recorded {kwh_text(recorded)} kWh ÷ ({one_plus} %) = {kwh_text(true_kwh)} kWh, "
          f"{kwh_text(abs(difference))} kWh {'more' if slow else 'less'} than recorded. The correction covers "
          f"{rule.period_en}: {kwh_text(abs(difference))} × {rule.period_fraction} = {kwh_text(abs(make_up))} kWh "
          f"{direction.en}.")
    return BackBilling(rule=rule, make_up_kwh=make_up, numbers=numbers, text_zh=zh, text_en=en)


def multiplier_make_up(*, rule: BackBillingRule, used: Ratio, actual: Ratio, recorded_kwh: Decimal) -> BackBilling:
    """Art. 81: the make-up for `recorded_kwh` billed with the multiplier `used` where `actual` is installed
    (factor = actual ÷ used − 1). Raises InvalidBackBillingInput."""
    for name, ratio in (("used_ratio", used), ("actual_ratio", actual)):
        if not isinstance(ratio, Ratio) or ratio.primary <= 0 or ratio.secondary <= 0:
            raise InvalidBackBillingInput(field=name, text_zh="应为两个正整数之比，如 300/5",
                                          text_en="must be a ratio of two positive whole numbers such as 300/5")
    if used.value == actual.value:
        raise InvalidBackBillingInput(
            field="actual_ratio", text_zh=f"与误用倍率 {used} 相同，没有需要退补的电量",
            text_en=f"is the same multiplier as the one used ({used}): there is nothing to correct")
    recorded = _kwh_input(recorded_kwh)
    factor = actual.value / used.value - 1
    make_up = _times(recorded, factor * rule.period_fraction)
    numbers = {"used_ratio": str(used), "actual_ratio": str(actual), "used_multiplier": _number(used.value),
               "actual_multiplier": _number(actual.value), "factor": _number(factor),
               "recorded_kwh": format(recorded, "f"), "period_fraction": str(rule.period_fraction),
               "make_up_kwh": format(make_up, "f")}
    direction = WORDS["more_to_pay" if make_up >= 0 else "to_be_credited"]
    used_m, actual_m, factor_text = _number(used.value), _number(actual.value), _number(factor)
    exact = _exact(factor)
    zh = (f"依据《{rule.regulation_zh}》{rule.article_zh}（{rule.title_zh}）：计费误用倍率 {used}（{used_m} 倍），"
          f"实际应为 {actual}（{actual_m} 倍）；以实际倍率为基准，退补系数 = 实际倍率 ÷ 误用倍率 − 1 = "
          f"{actual_m} ÷ {used_m} − 1 = {factor_text}；退补时间为{rule.period_zh}，抄见电量 {kwh_text(recorded)} "
          f"千瓦时 × {exact} = {_signed_kwh(make_up)} 千瓦时，应{direction.zh} {kwh_text(abs(make_up))} 千瓦时。")
    en = (f"Under Art. {rule.article} of the {rule.regulation_en} ({rule.title_en}): the bills used the multiplier "
          f"{used} ({used_m}) where {actual} ({actual_m}) is installed. Based on the actual multiplier, the factor is "
          f"actual ÷ used − 1 = {actual_m} ÷ {used_m} − 1 = {factor_text}, over {rule.period_en}: the recorded "
          f"{kwh_text(recorded)} kWh × {exact} = {_signed_kwh(make_up)} kWh, {kwh_text(abs(make_up))} kWh "
          f"{direction.en}.")
    return BackBilling(rule=rule, make_up_kwh=make_up, numbers=numbers, text_zh=zh, text_en=en)


def _finite(value, *, field: str) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError(f"{field} is a Decimal, never a float or a bool")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise InvalidBackBillingInput(field=field, text_zh=f"应为数字，而不是 {value!r}",
                                      text_en=f"must be a number, not {value!r}")
    return number


def _kwh_input(value) -> Decimal:
    kwh = _finite(value, field="recorded_kwh")
    if kwh < 0:
        raise InvalidBackBillingInput(field="recorded_kwh", text_zh=f"抄见电量不能为负数：{kwh}",
                                      text_en=f"must not be negative, not {kwh}")
    if kwh != kwh.quantize(KWH, rounding=ROUNDING):
        raise InvalidBackBillingInput(field="recorded_kwh", text_zh=f"最多两位小数：{kwh}",
                                      text_en=f"has at most two decimals (0.01 kWh), not {kwh}")
    return kwh.quantize(KWH, rounding=ROUNDING)


def _times(kwh: Decimal, fraction: Fraction) -> Decimal:
    """kWh × an exact fraction, rounded once to 0.01 kWh half up."""
    return (kwh * fraction.numerator / fraction.denominator).quantize(KWH, rounding=ROUNDING)


def _number(value: Fraction) -> str:
    """A multiplier or factor for the working: exact when it has a short decimal (60, 1, -0.5), else the fraction
    with its value to six places (1/3 ≈ 0.333333)."""
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    if decimal == decimal.quantize(Decimal("0.000001"), rounding=ROUNDING):
        return format(decimal.normalize(), "f")
    return f"{value} ≈ {format(decimal.quantize(Decimal('0.000001'), rounding=ROUNDING), 'f')}"


def _exact(value: Fraction) -> str:
    """A factor exactly: its short decimal (1, -0.5) or its fraction (1/3)."""
    text = _number(value)
    return text.split(" ≈ ")[0]


def _signed(value: Decimal) -> str:
    return f"+{format(value, 'f')}" if value > 0 else format(value, "f")


def _signed_kwh(value: Decimal) -> str:
    return f"-{kwh_text(-value)}" if value < 0 else kwh_text(value)
