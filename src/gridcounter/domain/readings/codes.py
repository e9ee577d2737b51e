"""Reading-validation rule codes, each with a plain reason in Chinese and English, and the Finding they make.

The domain cannot use Django's gettext, so both sentences are kept here as data. A sentence is a
``str.format`` template over the finding's numbers; the numbers are what the reason explains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Code(StrEnum):
    DECREASE = "DECREASE"
    ROLLOVER = "ROLLOVER"
    SPIKE = "SPIKE"
    HIGH = "HIGH"
    LOW = "LOW"
    ZERO_STREAK = "ZERO_STREAK"
    OFF_SCHEDULE = "OFF_SCHEDULE"
    MISSED = "MISSED"
    INACTIVE_METER = "INACTIVE_METER"
    DUPLICATE = "DUPLICATE"
    ESTIMATE_STREAK = "ESTIMATE_STREAK"
    SWAP_SUSPECTED = "SWAP_SUSPECTED"


class Severity(StrEnum):
    INFO = "INFO"  # noted, nothing to do (a meter rollover)
    WARNING = "WARNING"  # someone should look, the reading can still be billed
    ERROR = "ERROR"  # the reading is implausible: held for review when the code is blocking


SEVERITY: dict[Code, Severity] = {
    Code.DECREASE: Severity.ERROR,
    Code.ROLLOVER: Severity.INFO,
    Code.SPIKE: Severity.ERROR,
    Code.HIGH: Severity.ERROR,
    Code.LOW: Severity.ERROR,
    Code.ZERO_STREAK: Severity.WARNING,
    Code.OFF_SCHEDULE: Severity.WARNING,
    Code.MISSED: Severity.ERROR,
    Code.INACTIVE_METER: Severity.ERROR,
    Code.DUPLICATE: Severity.ERROR,
    Code.ESTIMATE_STREAK: Severity.ERROR,
    Code.SWAP_SUSPECTED: Severity.ERROR,
}

# (zh, en) templates; placeholders are keys of Finding.numbers
REASONS: dict[Code, tuple[str, str]] = {
    Code.DECREASE: (
        "本次示数 {curr} 低于上次示数 {prev}，且不是表计翻转（{digits} 位表翻转需走字 {rollover_kwh} 千瓦时，超出合理上限 {limit_kwh} 千瓦时）。",
        "The reading {curr} is lower than the previous reading {prev}, and a rollover of the {digits}-digit "
        "dial is not plausible (it would mean {rollover_kwh} kWh, above the plausible {limit_kwh} kWh).",
    ),
    Code.ROLLOVER: (
        "表计示数翻转：上次 {prev}，本次 {curr}，{digits} 位表走字 {kwh} 千瓦时，属合理范围，已接受。",
        "Meter rollover: previous {prev}, now {curr}; the {digits}-digit dial went round, {kwh} kWh, "
        "which is plausible and accepted.",
    ),
    Code.SPIKE: (
        "用电量 {kwh} 千瓦时是该户平常 {days} 天用量 {expected_kwh} 千瓦时的 {ratio} 倍（限 {limit} 倍），疑似小数点错位或抄错数字。",
        "Consumption of {kwh} kWh is {ratio} times the account's usual {expected_kwh} kWh for {days} days "
        "(limit {limit}×): looks like a shifted decimal point or a mistyped digit.",
    ),
    Code.HIGH: (
        "用电量 {kwh} 千瓦时高于该户同期正常水平 {expected_kwh} 千瓦时的 {ratio} 倍（上限 {limit} 倍，{basis}）。",
        "Consumption of {kwh} kWh is {ratio} times the account's expected {expected_kwh} kWh "
        "(upper limit {limit}×, {basis_en}).",
    ),
    Code.LOW: (
        "用电量 {kwh} 千瓦时仅为该户同期正常水平 {expected_kwh} 千瓦时的 {ratio} 倍（下限 {limit} 倍，{basis}）。",
        "Consumption of {kwh} kWh is only {ratio} times the account's expected {expected_kwh} kWh "
        "(lower limit {limit}×, {basis_en}).",
    ),
    Code.ZERO_STREAK: (
        "在用户户连续 {cycles} 个抄表周期零电量，已派发现场核查。",
        "Zero consumption for {cycles} reading cycles in a row on an active account: an on-site check is ordered.",
    ),
    Code.OFF_SCHEDULE: (
        "抄表日期 {read_date} 偏离抄表例日 {fixed_date} 达 {days_off} 天（允许 ±{limit} 天）。",
        "Read on {read_date}, {days_off} days from the fixed reading day {fixed_date} (±{limit} days allowed).",
    ),
    Code.MISSED: (
        "抄表例日 {fixed_date} 无示数（漏抄）。",
        "No reading for the fixed reading day {fixed_date} (missed reading).",
    ),
    Code.INACTIVE_METER: (
        "表计 {meter} 在 {read_date} 未安装在任何户号上，示数无法归户。",
        "Meter {meter} was not installed on any account on {read_date}; the reading belongs to no account.",
    ),
    Code.DUPLICATE: (
        "同一表计、计度器、时刻已有不同示数 {other_value}，本次示数 {value} 待审核。",
        "A different reading {other_value} already exists for the same meter, register and time; "
        "this reading {value} is held for review.",
    ),
    Code.ESTIMATE_STREAK: (
        "已连续估抄 {estimates} 次（上限 {limit} 次），不再估抄，已派发现场抄表。",
        "Already {estimates} estimates in a row (limit {limit}); no further estimate, an on-site reading is ordered.",
    ),
    Code.SWAP_SUSPECTED: (
        "疑似与同楼户号 {other_account} 表计错接（串户）：互换后两户用量偏差 {swapped_kwh} 千瓦时，远小于现状 {straight_kwh} 千瓦时。",
        "Meter possibly swapped with account {other_account} in the same building: swapped, the two accounts' "
        "usage is off by {swapped_kwh} kWh instead of {straight_kwh} kWh.",
    ),
}


# (zh, en) without numbers: for a reading whose stored findings carry only the code.
SHORT_REASONS: dict[str, tuple[str, str]] = {
    "DECREASE": ("示数低于上次示数，且不是表计翻转。", "The reading is lower than the previous one and is not a meter rollover."),
    "SPIKE": ("用电量是该户平常用量的许多倍，疑似小数点错位或抄错数字。",
              "Consumption is many times the account's usual: looks like a shifted decimal point or a mistyped digit."),
    "HIGH": ("用电量高于该户同期正常水平。", "Consumption is above the account's usual level for the season."),
    "LOW": ("用电量低于该户同期正常水平。", "Consumption is below the account's usual level for the season."),
    "ZERO_STREAK": ("连续多个抄表周期零电量，已派发现场核查。",
                    "Zero consumption for several cycles in a row: an on-site check is ordered."),
    "OFF_SCHEDULE": ("抄表日期偏离抄表例日。", "Read too far from the route's fixed reading day."),
    "MISSED": ("抄表例日无示数（漏抄）。", "No reading for the fixed reading day (missed reading)."),
    "INACTIVE_METER": ("表计当时未安装在该户号上。", "The meter was not installed on this account at that time."),
    "DUPLICATE": ("同一表计、计度器、时刻已有不同示数。", "A different reading exists for the same meter, register and time."),
    "ESTIMATE_STREAK": ("连续估抄已达上限，已派发现场抄表。",
                        "Too many estimates in a row: an on-site reading is ordered instead."),
    "SWAP_SUSPECTED": ("疑似与同楼另一户表计错接（串户）。",
                       "Meter possibly swapped with another account's in the same building."),
}


def _plain(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return value


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    numbers: dict = field(default_factory=dict)
    reason_zh: str = ""
    reason_en: str = ""

    def reason(self, language: str) -> str:
        """The reason in ``language`` (a Django language code): Chinese for zh*, English otherwise."""
        return self.reason_zh if (language or "").lower().startswith("zh") else self.reason_en

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "numbers": self.numbers,
                "reason_zh": self.reason_zh, "reason_en": self.reason_en}


def finding(code: Code | str, **numbers) -> Finding:
    """A finding for ``code`` with its numbers and both sentences filled in."""
    code = Code(code)
    plain = {k: _plain(v) for k, v in numbers.items()}
    zh, en = REASONS[code]
    return Finding(
        code=code.value,
        severity=SEVERITY[code].value,
        numbers={k: (str(v) if isinstance(v, Decimal) else v) for k, v in plain.items()},
        reason_zh=zh.format(**plain),
        reason_en=en.format(**plain),
    )


def finding_from_dict(data: dict) -> Finding:
    return Finding(code=data["code"], severity=data.get("severity", ""), numbers=data.get("numbers", {}),
                   reason_zh=data.get("reason_zh", ""), reason_en=data.get("reason_en", ""))
