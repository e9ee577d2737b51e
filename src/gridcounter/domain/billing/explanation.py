"""Self-explaining bills: reason codes, each with its numbers and a plain sentence in Chinese and English.

The domain cannot use Django's translation machinery, so both languages are held here as data; a bill stores
`{"code", "numbers", "text_zh", "text_en"}` per reason and the interfaces pick the sentence of the request's
language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from gridcounter.domain.tariffs.rating import TierStatus

from .sentences import WORDS, Words, kwh_text, render, yuan
from .shock import PeriodFigures, ShockAssessment, percent_change

# Every code a bill can carry, in the order they are shown.
CODES = (
    "CORRECTION_DIFFERENCE", "BILL_SHOCK", "USAGE_VS_PREVIOUS", "USAGE_VS_LAST_YEAR", "SEASONAL",
    "DAYS_IN_PERIOD", "TIER_STATUS", "PRICE_CHANGE", "CATEGORY_CHANGE", "INTERVAL_DATA", "ESTIMATED", "METER_EXCHANGE",
    "CATCH_UP", "ROLLOVER",
)


def reason_envelope(code, numbers, text_zh, text_en) -> dict:
    """The one spelling of a stored reason: `{"code", "numbers", "text_zh", "text_en"}`. `Reason.as_dict` fills it
    with Python values, `explanation_frame` with Polars expressions (then JSON-encoded as a struct)."""
    return {"code": code, "numbers": numbers, "text_zh": text_zh, "text_en": text_en}


@dataclass(frozen=True)
class Reason:
    code: str
    numbers: dict
    text_zh: str
    text_en: str

    def as_dict(self) -> dict:
        return reason_envelope(self.code, self.numbers, self.text_zh, self.text_en)


@dataclass(frozen=True)
class CategoryChange:
    change_date: date
    from_category: str
    to_category: str
    from_tariff: str
    to_tariff: str


@dataclass(frozen=True)
class PriceChange:
    change_date: date
    tariff_id: str
    from_version: str = ""
    to_version: str = ""


@dataclass(frozen=True)
class MeterExchange:
    exchange_date: date
    old_meter: str
    new_meter: str


@dataclass(frozen=True)
class CatchUp:
    estimated_cycles: int
    settled_kwh: Decimal


@dataclass(frozen=True)
class HoldFinding:
    """A reading-validation finding that stops the bill (its own sentences come from the validation rules)."""

    code: str
    numbers: dict
    reason_zh: str
    reason_en: str


@dataclass(frozen=True)
class IntervalFacts:
    """Usage taken from 15-minute AMI intervals instead of the register (validated, filled and binned)."""

    expected: int  # intervals in the period
    actual: int  # intervals received
    estimated: int  # missing intervals filled by interpolation
    missing: int  # missing intervals left unfilled
    kwh_by_period: dict  # CRITICAL_PEAK / PEAK / FLAT / VALLEY (time of use) or TOTAL → Decimal kWh
    estimated_kwh: Decimal = Decimal(0)
    codes: tuple[str, ...] = ()  # every interval finding, blocking or not
    held: bool = False  # a blocking finding: nothing trustworthy to rate


@dataclass(frozen=True)
class Correction:
    replaces_bill_id: int
    old_amount_fen: int
    new_amount_fen: int
    old_kwh: Decimal
    reason: str = ""


@dataclass
class BillContext:
    """Everything a bill's explanation states. Built by the bill draft; all numbers, no I/O."""

    period: str
    start_date: date
    end_date: date
    kwh: Decimal
    amount_fen: int
    previous: PeriodFigures | None = None
    last_year: PeriodFigures | None = None
    tier: TierStatus | None = None
    price_changes: list[PriceChange] = field(default_factory=list)
    category_changes: list[CategoryChange] = field(default_factory=list)
    estimated_registers: list[str] = field(default_factory=list)  # current reading is an estimate
    estimated_previous: list[str] = field(default_factory=list)  # previous reading was an estimate
    meter_exchange: MeterExchange | None = None
    catch_up: CatchUp | None = None
    rolled_over: list[str] = field(default_factory=list)
    holds: list[HoldFinding] = field(default_factory=list)
    shock: ShockAssessment | None = None
    intervals: IntervalFacts | None = None
    correction: Correction | None = None
    rated: bool = True  # False: held with no trustworthy usage (missed, decreased or swapped readings)

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days


def usage_vs_previous(ctx: BillContext) -> Reason | None:
    prev = ctx.previous
    if prev is None:
        return None
    change = percent_change(new=ctx.kwh, old=prev.kwh)
    numbers = {"kwh": str(ctx.kwh), "previous_kwh": str(prev.kwh), "previous_period": prev.period,
               "change_pct": None if change is None else str(change)}
    if change is None:
        zh, en = render("USAGE_VS_PREVIOUS.nothing_before", kwh=kwh_text(ctx.kwh), previous_period=prev.period)
    else:
        zh, en = render("USAGE_VS_PREVIOUS", kwh=kwh_text(ctx.kwh), previous_period=prev.period,
                        previous_kwh=kwh_text(prev.kwh), more_less=_more_less(change), change=abs(change))
    return Reason("USAGE_VS_PREVIOUS", numbers, zh, en)


def _more_less(value: Decimal) -> Words:
    return WORDS["more" if value >= 0 else "less"]


def usage_vs_last_year(ctx: BillContext) -> Reason | None:
    ly = ctx.last_year
    if ly is None:
        return None
    change = percent_change(new=ctx.kwh, old=ly.kwh)
    numbers = {"kwh": str(ctx.kwh), "last_year_kwh": str(ly.kwh), "last_year_period": ly.period,
               "change_pct": None if change is None else str(change)}
    if change is None:
        zh, en = render("USAGE_VS_LAST_YEAR.nothing_before", last_year_period=ly.period)
    else:
        zh, en = render("USAGE_VS_LAST_YEAR", last_year_period=ly.period, last_year_kwh=kwh_text(ly.kwh),
                        more_less=_more_less(change), change=abs(change))
    return Reason("USAGE_VS_LAST_YEAR", numbers, zh, en)


def seasonal(ctx: BillContext) -> Reason | None:
    if ctx.shock is None or not ctx.shock.seasonal or ctx.previous is None or ctx.last_year is None:
        return None
    vs_prev = percent_change(new=ctx.kwh, old=ctx.previous.kwh)
    vs_ly = percent_change(new=ctx.kwh, old=ctx.last_year.kwh)
    numbers = {"change_vs_previous_pct": None if vs_prev is None else str(vs_prev),
               "change_vs_last_year_pct": None if vs_ly is None else str(vs_ly),
               "last_year_kwh": str(ctx.last_year.kwh)}
    vs_ly_text = WORDS["level"] if vs_ly is None else Words(*render(
        "SEASONAL.vs_last_year", more_less=_more_less(vs_ly), change=abs(vs_ly)))
    zh, en = render("SEASONAL", vs_previous="" if vs_prev is None else f"{abs(vs_prev)}%", vs_last_year=vs_ly_text)
    return Reason("SEASONAL", numbers, zh, en)


def days_in_period(ctx: BillContext) -> Reason:
    numbers = {"days": ctx.days, "start_date": ctx.start_date.isoformat(), "end_date": ctx.end_date.isoformat()}
    last_day = date.fromordinal(ctx.end_date.toordinal() - 1)
    zh, en = render("DAYS_IN_PERIOD", start_date=ctx.start_date.isoformat(), last_day=last_day.isoformat(),
                    days=ctx.days)
    if ctx.previous is not None and ctx.previous.days and ctx.previous.days != ctx.days:
        numbers["previous_days"] = ctx.previous.days
        more_zh, more_en = render("DAYS_IN_PERIOD.previous_days", previous_days=ctx.previous.days)
        zh, en = zh + more_zh, en + more_en
    return Reason("DAYS_IN_PERIOD", numbers, zh, en)


def tier_reason(ctx: BillContext) -> Reason | None:
    tier = ctx.tier
    if tier is None:
        return None
    numbers = {"ytd_kwh": str(tier.ytd_kwh), "tier": tier.tier,
               "next_threshold_kwh": None if tier.next_threshold_kwh is None else str(tier.next_threshold_kwh),
               "remaining_kwh": None if tier.remaining_kwh is None else str(tier.remaining_kwh),
               "crossed": tier.crossed}
    numbers["basis"] = tier.basis
    parts = [render("TIER_STATUS.monthly" if tier.basis == "MONTHLY" else "TIER_STATUS.annual",
                    kwh=kwh_text(tier.ytd_kwh), tier=tier.tier)]
    if tier.remaining_kwh is not None:
        parts.append(render("TIER_STATUS.remaining", next_tier=tier.tier + 1,
                            next_threshold=kwh_text(tier.next_threshold_kwh), remaining=kwh_text(tier.remaining_kwh)))
    else:
        parts.append(render("TIER_STATUS.top"))
    if tier.crossed:
        parts.append(render("TIER_STATUS.crossed"))
    return Reason("TIER_STATUS", numbers, "".join(p[0] for p in parts), "".join(p[1] for p in parts))


def price_change(ctx: BillContext) -> list[Reason]:
    out = []
    for change in ctx.price_changes:
        numbers = {"change_date": change.change_date.isoformat(), "tariff": change.tariff_id,
                   "from_version": change.from_version, "to_version": change.to_version}
        zh, en = render("PRICE_CHANGE", change_date=change.change_date.isoformat(), tariff=change.tariff_id)
        out.append(Reason("PRICE_CHANGE", numbers, zh, en))
    return out


def category_change(ctx: BillContext) -> list[Reason]:
    out = []
    for change in ctx.category_changes:
        numbers = {"change_date": change.change_date.isoformat(), "from_category": change.from_category,
                   "to_category": change.to_category, "from_tariff": change.from_tariff,
                   "to_tariff": change.to_tariff}
        zh, en = render("CATEGORY_CHANGE", **numbers)
        out.append(Reason("CATEGORY_CHANGE", numbers, zh, en))
    return out


TOU_NAMES = {"CRITICAL_PEAK": Words("尖峰", "critical peak"), "PEAK": Words("高峰", "peak"),
             "FLAT": Words("平段", "flat"), "VALLEY": Words("低谷", "valley"), "TOTAL": Words("合计", "in all")}


def interval_data(ctx: BillContext) -> Reason | None:
    """The usage came from 15-minute interval data: how many intervals, and the kWh of each time-of-use period."""
    iv = ctx.intervals
    if iv is None:
        return None
    parts = [(name, Decimal(iv.kwh_by_period[name])) for name in TOU_NAMES if name in iv.kwh_by_period
             and not (name == "CRITICAL_PEAK" and Decimal(iv.kwh_by_period[name]) == 0)]
    numbers = {"expected_intervals": iv.expected, "actual_intervals": iv.actual, "estimated_intervals": iv.estimated,
               "missing_intervals": iv.missing, "kwh": {name: str(kwh) for name, kwh in parts},
               "codes": list(iv.codes)}
    rendered = [render("INTERVAL_DATA.total_part" if name == "TOTAL" else "INTERVAL_DATA.part",
                       name=TOU_NAMES[name], kwh=kwh_text(kwh)) for name, kwh in parts]
    joined = Words(*(WORDS["parts"].of(lang).join(r[lang] for r in rendered) for lang in (0, 1)))
    zh, en = render("INTERVAL_DATA", expected=iv.expected, actual=iv.actual, parts=joined)
    return Reason("INTERVAL_DATA", numbers, zh, en)


def estimated(ctx: BillContext) -> Reason:
    if ctx.intervals is not None:
        return _estimated_intervals(ctx.intervals)
    regs = sorted(set(ctx.estimated_registers))
    prev_regs = sorted(set(ctx.estimated_previous))
    numbers = {"estimated_registers": regs, "estimated_previous_registers": prev_regs,
               "is_estimate": bool(regs)}
    if regs:
        zh, en = render("ESTIMATED", registers=_listed(regs))
    else:
        zh, en = render("ESTIMATED.actual")
    return Reason("ESTIMATED", numbers, zh, en)


def _listed(items: list[str]) -> Words:
    return Words(*(WORDS["list"].of(lang).join(items) for lang in (0, 1)))


def _estimated_intervals(iv: IntervalFacts) -> Reason:
    numbers = {"estimated_intervals": iv.estimated, "expected_intervals": iv.expected,
               "estimated_kwh": str(iv.estimated_kwh), "estimated_registers": [], "estimated_previous_registers": [],
               "is_estimate": iv.estimated > 0}
    if iv.estimated:
        zh, en = render("ESTIMATED.intervals", estimated=iv.estimated, expected=iv.expected,
                        kwh=kwh_text(iv.estimated_kwh))
    else:
        zh, en = render("ESTIMATED.intervals_measured")
    return Reason("ESTIMATED", numbers, zh, en)


def meter_exchange(ctx: BillContext) -> Reason | None:
    ex = ctx.meter_exchange
    if ex is None:
        return None
    numbers = {"exchange_date": ex.exchange_date.isoformat(), "old_meter": ex.old_meter, "new_meter": ex.new_meter}
    zh, en = render("METER_EXCHANGE", **numbers)
    return Reason("METER_EXCHANGE", numbers, zh, en)


def catch_up(ctx: BillContext) -> Reason | None:
    cu = ctx.catch_up
    if cu is None:
        return None
    numbers = {"estimated_cycles": cu.estimated_cycles, "settled_kwh": str(cu.settled_kwh)}
    zh, en = render("CATCH_UP", cycles=cu.estimated_cycles, kwh=kwh_text(cu.settled_kwh))
    return Reason("CATCH_UP", numbers, zh, en)


def rollover(ctx: BillContext) -> Reason | None:
    if not ctx.rolled_over:
        return None
    regs = sorted(set(ctx.rolled_over))
    zh, en = render("ROLLOVER", registers=_listed(regs))
    return Reason("ROLLOVER", {"registers": regs}, zh, en)


def holds(ctx: BillContext) -> list[Reason]:
    return [Reason(f.code, {**f.numbers, "hold": True}, *render("HOLD", reason=Words(f.reason_zh, f.reason_en)))
            for f in ctx.holds]


def bill_shock(ctx: BillContext) -> Reason | None:
    shock = ctx.shock
    if shock is None or not shock.is_shock:
        return None
    numbers = {"amount_fen": ctx.amount_fen, "baseline_fen": shock.baseline_fen, "basis": shock.basis,
               "increase_pct": str(shock.increase_pct), "threshold_pct": str(shock.threshold_pct), "hold": True}
    basis = WORDS["SAME_PERIOD_LAST_YEAR" if shock.basis == "SAME_PERIOD_LAST_YEAR" else "RECENT_AVERAGE"]
    zh, en = render("BILL_SHOCK", amount=yuan(ctx.amount_fen), basis=basis, baseline=yuan(shock.baseline_fen),
                    increase=shock.increase_pct)
    return Reason("BILL_SHOCK", numbers, zh, en)


def correction(ctx: BillContext) -> Reason | None:
    c = ctx.correction
    if c is None:
        return None
    diff = c.new_amount_fen - c.old_amount_fen
    numbers = {"replaces_bill_id": c.replaces_bill_id, "old_amount_fen": c.old_amount_fen,
               "new_amount_fen": c.new_amount_fen, "difference_fen": diff, "old_kwh": str(c.old_kwh),
               "new_kwh": str(ctx.kwh)}
    zh, en = render("CORRECTION_DIFFERENCE", bill=c.replaces_bill_id, old_amount=yuan(c.old_amount_fen),
                    old_kwh=kwh_text(c.old_kwh), new_amount=yuan(c.new_amount_fen), new_kwh=kwh_text(ctx.kwh),
                    direction=WORDS["more_to_pay" if diff >= 0 else "to_be_credited"], difference=yuan(abs(diff)))
    if c.reason:
        more_zh, more_en = render("CORRECTION_DIFFERENCE.reason", reason=c.reason)
        zh, en = zh + more_zh, en + more_en
    return Reason("CORRECTION_DIFFERENCE", numbers, zh, en)


def explain(ctx: BillContext) -> list[Reason]:
    """All reasons that apply to the bill, most important first."""
    if not ctx.rated:  # nothing was rated: the holds say why; usage figures would only mislead
        reasons: list[Reason | None] = [correction(ctx), *holds(ctx), days_in_period(ctx), interval_data(ctx),
                                        estimated(ctx), meter_exchange(ctx)]
        return [r for r in reasons if r is not None]
    reasons = [
        correction(ctx), bill_shock(ctx), *holds(ctx), usage_vs_previous(ctx), usage_vs_last_year(ctx),
        seasonal(ctx), days_in_period(ctx), tier_reason(ctx), *price_change(ctx), *category_change(ctx),
        interval_data(ctx), estimated(ctx), meter_exchange(ctx), catch_up(ctx), rollover(ctx),
    ]
    return [r for r in reasons if r is not None]


def explaining_codes(ctx: BillContext) -> set[str]:
    """Facts (other than more usage) that explain a higher bill, for the bill-shock rule."""
    codes = set()
    if ctx.tier is not None and ctx.tier.crossed:
        codes.add("TIER_CROSSED")
    if ctx.price_changes:
        codes.add("PRICE_CHANGE")
    if ctx.category_changes:
        codes.add("CATEGORY_CHANGE")
    if ctx.estimated_registers or ctx.estimated_previous or (ctx.intervals is not None and ctx.intervals.estimated):
        codes.add("ESTIMATED")
    if ctx.catch_up is not None:
        codes.add("CATCH_UP")
    if ctx.meter_exchange is not None:
        codes.add("METER_EXCHANGE")
    return codes
