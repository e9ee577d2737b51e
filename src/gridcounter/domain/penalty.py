"""The late-payment penalty (电费违约金, 《供电营业规则》 Art. 98): the one rule, with its working, rates as data.

`late_payment_penalty(rules=, category=, arrears=, paid_date=)` is the penalty for paying overdue bills on
`paid_date` (or, for an account not yet paid, accrued to that day). The rates, the 1-yuan minimum, which usage
categories are residential and the cap policy are data (rules/penalty.toml, passed in as `PenaltyRules`).

- **Days charged.** Art. 98: "从逾期之日起计算至交纳日止": from the day after the due date up to and including the day
  of payment. Paid on the due date (or before): nothing; paid the day after: 1 day.
- **On the unpaid remainder.** A part payment on day D reduces the remainder from D + 1: the part itself is charged
  for D, as a payment in full on D is (Art. 98 counts the day of payment). A part paid on or before the due date
  reduces the overdue amount itself.
- **Rates**, per day, from the rates version in force that day: residential categories 1‰; other categories 2‰ on
  the current year's arrears and 3‰ on earlier years'. "Current year" is the calendar year of the day charged: an
  arrears item belongs to the year of its bill's period (`charge_year`, 电费年月); on a day of that year it is
  current-year arrears (当年欠费), on any later day it is arrears carried across a year end (跨年度欠费). So a
  non-residential bill of 2025 still unpaid moves from 2‰ to 3‰ on 1 January 2026.
- **Rounding, named once.** Each segment's amount (remainder × rate × days) is exact (Decimal, no rounding); the
  cap is applied to each bill's exact total; the account's total is rounded once to the fen, ROUND_HALF_UP.
- **Minimum.** When a penalty is due at all (some remainder at least one day late), a rounded total below the
  minimum (1 yuan) is charged as the minimum, even when the cap is lower: the minimum is the Rules', the cap only a
  company policy.
- **Cap** (policy, on or off with its percent): a bill's penalty is at most `percent` of its overdue amount (the
  amount unpaid at the due date), when the penalty is computed to a day on or after the policy's effective date.

Every segment of days with one remainder and one rate is a step of the working, with a sentence in Chinese and
English; so are the cap, the rounding and the minimum when they change the amount.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import pairwise

from gridcounter.domain.billing.sentences import yuan
from gridcounter.domain.invalid_input import InvalidInput

ROUNDING = ROUND_HALF_UP
FEN = Decimal(1)
PER_MILLE = Decimal(1000)
RESIDENTIAL = "RESIDENTIAL"  # the kind of rate: residential
CURRENT_YEAR = "CURRENT_YEAR"  # other categories, the arrears of the day's year (当年欠费)
EARLIER_YEARS = "EARLIER_YEARS"  # other categories, arrears carried across a year end (跨年度欠费)
RATE_KEYS = ("residential_per_mille", "current_year_per_mille", "earlier_years_per_mille")

# code → (Chinese, English) templates of the working's sentences
SENTENCES: dict[str, tuple[str, str]] = {
    "SEGMENT": ("{first} 至 {last}，共 {days} 天：欠费 {remainder} 元 × 每日 {rate}‰（{kind_zh}）× {days} 天 = "
                "{amount} 元。",
                "{first} to {last}, {days} {day_word}: {remainder} yuan unpaid × {rate}‰ a day ({kind_en}) × {days} "
                "{day_word} = {amount} yuan."),
    "CAP": ("{bill_zh}违约金 {uncapped} 元，超过逾期金额 {overdue} 元的 {percent}%，按上限 {cap} 元计。",
            "The penalty on {bill_en}, {uncapped} yuan, is more than {percent} % of its overdue {overdue} yuan: "
            "capped at {cap} yuan."),
    "ROUNDED": ("合计 {exact} 元，四舍五入到分：{rounded} 元。",
                "Total {exact} yuan, rounded half up to the fen: {rounded} yuan."),
    "MINIMUM": ("违约金总额 {rounded} 元不足 {minimum} 元，按 {minimum} 元收取（《供电营业规则》第九十八条）。",
                "The penalty of {rounded} yuan is below {minimum} yuan and is charged as {minimum} yuan (Art. 98 of "
                "the Rules for Electricity Supply Business)."),
    "NONE": ("在交费期限内交清（到期日 {due}），不收违约金。",
             "Paid in full by the due date ({due}): no penalty."),
}
KIND_WORDS = {
    RESIDENTIAL: ("居民用户", "residential"),
    CURRENT_YEAR: ("当年欠费", "current year's arrears"),
    EARLIER_YEARS: ("跨年度欠费", "arrears from an earlier year"),
}


class PenaltyRulesError(ValueError):
    """The penalty rules file is missing a key or holds a value of the wrong kind."""


class InvalidPenaltyInput(InvalidInput):
    """An input of the penalty is out of range. `field` names it (category, amount, due_date, paid_date, part,
    charge_year); the message is in both languages (`text_zh`, `text_en`); str() is `field: English message`."""


@dataclass(frozen=True)
class PenaltyRates:
    """The daily rates (per mille) and the minimum in force from `effective_date`, with their source."""

    effective_date: date
    residential_per_mille: Decimal
    current_year_per_mille: Decimal
    earlier_years_per_mille: Decimal
    minimum_fen: int
    source: str

    def per_mille(self, kind: str) -> Decimal:
        return {RESIDENTIAL: self.residential_per_mille, CURRENT_YEAR: self.current_year_per_mille,
                EARLIER_YEARS: self.earlier_years_per_mille}[kind]


@dataclass(frozen=True)
class CapPolicy:
    """The cap on a bill's penalty as a percent of its overdue amount; `percent` None: no cap."""

    percent: Decimal | None
    effective_date: date
    source: str


POSTING_POINTS = ("payment", "none")


@dataclass(frozen=True)
class PostingPolicy:
    """When the penalty becomes a charge on the ledger: "payment" (posted when a payment clears an overdue bill,
    accrued to that day) or "none" (shown as accrued, never charged: a company that does not collect it)."""

    point: str
    effective_date: date
    source: str

    @property
    def charges(self) -> bool:
        return self.point == "payment"


@dataclass(frozen=True)
class PenaltyRules:
    """The rates versions (oldest first), the residential and other usage categories, the cap and posting policies."""

    rates: tuple[PenaltyRates, ...]
    residential_categories: frozenset[str]
    other_categories: frozenset[str]
    cap: CapPolicy
    posting: PostingPolicy = PostingPolicy(point="payment", effective_date=date.min, source="")

    def rates_on(self, day: date) -> PenaltyRates | None:
        """The version in force on `day`, or None before the first."""
        in_force = None
        for version in self.rates:
            if version.effective_date <= day:
                in_force = version
        return in_force

    def with_cap(self, percent: Decimal | None) -> PenaltyRules:
        """These rules with the cap set to `percent` (None: off), as `gridcounter penalty --cap` asks."""
        return replace(self, cap=replace(self.cap, percent=percent, effective_date=date.min,
                                         source="given for this calculation"))

    @property
    def categories(self) -> frozenset[str]:
        return self.residential_categories | self.other_categories


def _text(entry: Mapping, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PenaltyRulesError(f"penalty rules: {where} {key} must be a non-empty string")
    return value.strip()


def _decimal(entry: Mapping, key: str, where: str) -> Decimal:
    text = _text(entry, key, where)
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise PenaltyRulesError(f"penalty rules: {where} {key} must be a number of 0 or more, written as a string")
    return value


def _date(entry: Mapping, key: str, where: str) -> date:
    value = entry.get(key)
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_text(entry, key, where))
    except ValueError:
        raise PenaltyRulesError(f"penalty rules: {where} {key} must be a date YYYY-MM-DD") from None


def penalty_rules_from_mapping(data: Mapping) -> PenaltyRules:
    """The rules of the parsed rules file (see rules/penalty.toml). Raises PenaltyRulesError naming the key."""
    if not isinstance(data, Mapping):
        raise PenaltyRulesError("penalty rules: not a table")
    categories = data.get("categories")
    if not isinstance(categories, Mapping):
        raise PenaltyRulesError("penalty rules: missing [categories]")
    lists = {}
    for key in ("residential", "other"):
        codes = categories.get(key)
        if not isinstance(codes, list) or not all(isinstance(code, str) and code for code in codes):
            raise PenaltyRulesError(f"penalty rules: [categories] {key} must be a list of usage category codes")
        lists[key] = frozenset(codes)
    both = lists["residential"] & lists["other"]
    if both:
        raise PenaltyRulesError(f"penalty rules: [categories] {', '.join(sorted(both))} is both residential and other")
    versions = data.get("rates")
    if not isinstance(versions, list) or not versions:
        raise PenaltyRulesError("penalty rules: missing [[rates]]")
    rates = []
    for number, entry in enumerate(versions, start=1):
        where = f"[[rates]] #{number}"
        if not isinstance(entry, Mapping):
            raise PenaltyRulesError(f"penalty rules: {where} is not a table")
        minimum = _decimal(entry, "minimum_yuan", where)
        if minimum != minimum.quantize(Decimal("0.01"), rounding=ROUNDING):
            raise PenaltyRulesError(f"penalty rules: {where} minimum_yuan has at most two decimals")
        rates.append(PenaltyRates(effective_date=_date(entry, "effective_date", where),
                                  **{key: _decimal(entry, key, where) for key in RATE_KEYS},
                                  minimum_fen=int(minimum * 100), source=_text(entry, "source", where)))
    rates.sort(key=lambda version: version.effective_date)
    if len({version.effective_date for version in rates}) != len(rates):
        raise PenaltyRulesError("penalty rules: two [[rates]] versions have the same effective_date")
    cap = data.get("cap")
    if not isinstance(cap, Mapping):
        raise PenaltyRulesError("penalty rules: missing [cap]")
    if not isinstance(cap.get("enabled"), bool):
        raise PenaltyRulesError("penalty rules: [cap] enabled must be true or false")
    percent = _decimal(cap, "percent", "[cap]")
    if not 0 < percent <= 100:
        raise PenaltyRulesError("penalty rules: [cap] percent must be above 0 and at most 100")
    posting = data.get("posting")
    if not isinstance(posting, Mapping):
        raise PenaltyRulesError("penalty rules: missing [posting]")
    if posting.get("point") not in POSTING_POINTS:
        raise PenaltyRulesError(f"penalty rules: [posting] point must be one of {', '.join(POSTING_POINTS)}")
    return PenaltyRules(rates=tuple(rates), residential_categories=lists["residential"],
                        other_categories=lists["other"],
                        cap=CapPolicy(percent=percent if cap["enabled"] else None,
                                      effective_date=_date(cap, "effective_date", "[cap]"),
                                      source=_text(cap, "source", "[cap]")),
                        posting=PostingPolicy(point=posting["point"],
                                              effective_date=_date(posting, "effective_date", "[posting]"),
                                              source=_text(posting, "source", "[posting]")))


@dataclass(frozen=True)
class PartPayment:
    """Money paid towards a bill before it is paid in full: `amount_fen` on `paid_date`."""

    paid_date: date
    amount_fen: int


@dataclass(frozen=True)
class Arrears:
    """One bill: its amount, due date, the year of its period (电费年月) and the parts paid towards it."""

    amount_fen: int
    due_date: date
    charge_year: int
    parts: tuple[PartPayment, ...] = ()
    label: str = ""  # how the working names it ("bill 2025-12"); empty: "the bill"


@dataclass(frozen=True)
class Segment:
    """Days with one remainder and one rate: `first`..`last` inclusive."""

    first: date
    last: date
    remainder_fen: int
    kind: str
    per_mille: Decimal
    label: str = ""
    rates_effective_date: date | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def amount_fen(self) -> Decimal:
        """remainder × rate × days, exact (fen, not rounded)."""
        return Decimal(self.remainder_fen) * self.per_mille * self.days / PER_MILLE


@dataclass(frozen=True)
class Penalty:
    """The penalty in fen and its working: one dict per step, each with its numbers and `text_zh`, `text_en`."""

    penalty_fen: int
    working: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """As `gridcounter penalty --json` prints it."""
        return {"penalty": yuan_plain(self.penalty_fen), "working": [dict(step) for step in self.working]}


def yuan_plain(fen: int) -> str:
    """Fen as yuan for JSON: 12345 → '123.45' (no grouping)."""
    return f"{fen // 100}.{fen % 100:02d}" if fen >= 0 else "-" + yuan_plain(-fen)


def exact_yuan(fen: Decimal) -> str:
    """Exact fen as yuan for the working: at least two decimals, more only when exact needs them (1,234.5678)."""
    value = (Decimal(fen) / 100).normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    whole, _, decimals = format(abs(value), "f").partition(".")
    return f"{sign}{int(whole):,}.{decimals}"


def _day_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _refuse(field_name: str, zh: str, en: str):
    raise InvalidPenaltyInput(field=field_name, text_zh=zh, text_en=en)


def _check(*, rules: PenaltyRules, category: str, arrears: Sequence[Arrears], paid_date: date) -> None:
    if category not in rules.categories:
        known = ", ".join(sorted(rules.categories))
        _refuse("category", f"未知的用电类别 {category!r}，应为：{known}",
                f"unknown usage category {category!r}; one of {known}")
    for item in arrears:
        if not isinstance(item.amount_fen, int) or isinstance(item.amount_fen, bool) or item.amount_fen <= 0:
            _refuse("amount", "欠费金额应大于零", "must be greater than zero")
        if item.charge_year > item.due_date.year:
            _refuse("charge_year", f"电费年份 {item.charge_year} 不能晚于到期日 {item.due_date}",
                    f"the bill's year {item.charge_year} cannot be after its due date {item.due_date}")
        for part in item.parts:
            if not isinstance(part.amount_fen, int) or isinstance(part.amount_fen, bool) or part.amount_fen <= 0:
                _refuse("part", "部分交费金额应大于零", "a part payment must be greater than zero")
            if part.paid_date > paid_date:
                _refuse("part", f"部分交费日 {part.paid_date} 晚于交清日 {paid_date}",
                        f"a part paid on {part.paid_date} is after the day of payment in full, {paid_date}")
        parts = sum(part.amount_fen for part in item.parts)
        if parts > item.amount_fen:
            _refuse("part", f"部分交费合计 {yuan(parts)} 元，超过欠费金额 {yuan(item.amount_fen)} 元",
                    f"the parts add up to {yuan(parts)} yuan, more than the amount of {yuan(item.amount_fen)} yuan")


def _segments(*, rules: PenaltyRules, residential: bool, item: Arrears, paid_date: date) -> list[Segment]:
    """The days from the day after the due date through `paid_date`, cut wherever the remainder (the day after a
    part payment), the rate kind (1 January) or the rates version (its effective date) changes."""
    start = item.due_date + timedelta(days=1)
    if paid_date < start:
        return []
    cuts = {start, paid_date + timedelta(days=1)}
    cuts.update(part.paid_date + timedelta(days=1) for part in item.parts)
    cuts.update(date(year, 1, 1) for year in range(start.year + 1, paid_date.year + 1))
    cuts.update(version.effective_date for version in rules.rates)
    bounds = sorted(cut for cut in cuts if start <= cut <= paid_date + timedelta(days=1))
    segments = []
    for first, after in pairwise(bounds):
        remainder = item.amount_fen - sum(part.amount_fen for part in item.parts if part.paid_date < first)
        if remainder <= 0:
            break
        version = rules.rates_on(first)
        if version is None:
            continue  # before the first rates version: nothing to charge
        kind = RESIDENTIAL if residential else CURRENT_YEAR if first.year <= item.charge_year else EARLIER_YEARS
        segments.append(Segment(first=first, last=after - timedelta(days=1), remainder_fen=remainder, kind=kind,
                                per_mille=version.per_mille(kind), label=item.label,
                                rates_effective_date=version.effective_date))
    return segments


def _segment_step(segment: Segment) -> dict:
    slots = {"first": segment.first.isoformat(), "last": segment.last.isoformat(), "days": segment.days,
             "remainder": yuan(segment.remainder_fen), "rate": _day_text(segment.per_mille),
             "amount": exact_yuan(segment.amount_fen), "kind_zh": KIND_WORDS[segment.kind][0],
             "kind_en": KIND_WORDS[segment.kind][1], "day_word": "day" if segment.days == 1 else "days"}
    zh, en = SENTENCES["SEGMENT"]
    prefix_zh, prefix_en = (f"{segment.label}：", f"{segment.label}: ") if segment.label else ("", "")
    return {"step": "SEGMENT", "bill": segment.label, "from": slots["first"], "to": slots["last"],
            "days": segment.days, "remainder": yuan_plain(segment.remainder_fen), "rate_kind": segment.kind,
            "rate_per_mille": slots["rate"], "rates_in_force_from": segment.rates_effective_date.isoformat(),
            "amount": _plain(segment.amount_fen),
            "text_zh": prefix_zh + zh.format(**slots), "text_en": prefix_en + en.format(**slots)}


def late_payment_penalty(*, rules: PenaltyRules, category: str, arrears: Sequence[Arrears],
                         paid_date: date) -> Penalty:
    """The penalty for paying `arrears` (an account's overdue bills) in full on `paid_date`, with its working.

    `category` is the account's usage category (a code of rules' categories). Raises InvalidPenaltyInput naming
    the field: unknown category, an amount not above zero, a bill's year after its due date, a part payment not
    above zero, after `paid_date`, or parts adding up to more than the bill.
    """
    _check(rules=rules, category=category, arrears=arrears, paid_date=paid_date)
    residential = category in rules.residential_categories
    capped = rules.cap.percent is not None and paid_date >= rules.cap.effective_date
    working: list[dict] = []
    total = Decimal(0)
    due_at_all = False
    for item in arrears:
        segments = _segments(rules=rules, residential=residential, item=item, paid_date=paid_date)
        working.extend(_segment_step(segment) for segment in segments)
        exact = sum((segment.amount_fen for segment in segments), Decimal(0))
        due_at_all = due_at_all or bool(segments)
        if segments and capped:
            overdue = item.amount_fen - sum(part.amount_fen for part in item.parts if part.paid_date <= item.due_date)
            cap = Decimal(overdue) * rules.cap.percent / 100
            if exact > cap:
                bill_zh, bill_en = (item.label, item.label) if item.label else ("本笔电费", "the bill")
                slots = {"uncapped": exact_yuan(exact), "overdue": yuan(overdue),
                         "percent": _day_text(rules.cap.percent), "cap": exact_yuan(cap), "bill_zh": bill_zh,
                         "bill_en": bill_en}
                zh, en = SENTENCES["CAP"]
                working.append({"step": "CAP", "bill": item.label, "uncapped": _plain(exact),
                                "overdue": yuan_plain(overdue), "cap_percent": slots["percent"], "cap": _plain(cap),
                                "source": rules.cap.source, "text_zh": zh.format(**slots),
                                "text_en": en.format(**slots)})
                exact = cap
        total += exact
    if not due_at_all:
        due = min((item.due_date for item in arrears), default=paid_date)
        zh, en = SENTENCES["NONE"]
        working.append({"step": "NONE", "due": due.isoformat(), "text_zh": zh.format(due=due.isoformat()),
                        "text_en": en.format(due=due.isoformat())})
        return Penalty(penalty_fen=0, working=working)
    rounded = int(total.quantize(FEN, rounding=ROUNDING))
    zh, en = SENTENCES["ROUNDED"]
    slots = {"exact": exact_yuan(total), "rounded": yuan(rounded)}
    working.append({"step": "ROUNDED", "exact": _plain(total), "rounded": yuan_plain(rounded),
                    "text_zh": zh.format(**slots), "text_en": en.format(**slots)})
    minimum = rules.rates_on(paid_date).minimum_fen
    if rounded < minimum:
        zh, en = SENTENCES["MINIMUM"]
        slots = {"rounded": yuan(rounded), "minimum": yuan(minimum)}
        working.append({"step": "MINIMUM", "rounded": yuan_plain(rounded), "minimum": yuan_plain(minimum),
                        "source": rules.rates_on(paid_date).source, "text_zh": zh.format(**slots),
                        "text_en": en.format(**slots)})
        rounded = minimum
    return Penalty(penalty_fen=rounded, working=working)


def _plain(fen: Decimal) -> str:
    """Exact fen as plain yuan for JSON, at least two decimals: Decimal('2345.55') → '23.4555'."""
    return exact_yuan(fen).replace(",", "")
