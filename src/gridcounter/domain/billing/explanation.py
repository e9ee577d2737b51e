"""Self-explaining bills: reason codes, each with its numbers and a plain sentence in Chinese and English.

The domain cannot use Django's translation machinery, so both languages are held here as data; a bill stores
`{"code", "numbers", "text_zh", "text_en"}` per reason and the interfaces pick the sentence of the request's
language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from gridcounter.domain.tariffs.rating import TierStatus

from .shock import PeriodFigures, ShockAssessment, percent_change

# Every code a bill can carry, in the order they are shown.
CODES = (
    "CORRECTION_DIFFERENCE", "BILL_SHOCK", "USAGE_VS_PREVIOUS", "USAGE_VS_LAST_YEAR", "SEASONAL",
    "DAYS_IN_PERIOD", "TIER_STATUS", "PRICE_CHANGE", "CATEGORY_CHANGE", "INTERVAL_DATA", "ESTIMATED", "METER_EXCHANGE",
    "CATCH_UP", "ROLLOVER",
)


@dataclass(frozen=True)
class Reason:
    code: str
    numbers: dict
    text_zh: str
    text_en: str

    def as_dict(self) -> dict:
        return {"code": self.code, "numbers": self.numbers, "text_zh": self.text_zh, "text_en": self.text_en}


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


def yuan(fen: int) -> str:
    """123456 -> '1,234.56' (exact: fen are integers; thousands grouped, as the counter's screens show money)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def kwh_text(value: Decimal) -> str:
    """kWh for a sentence: two decimals at most, none when whole, thousands grouped (12345.5 → '12,345.50')."""
    q = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{q.to_integral_value():,}" if q == q.to_integral_value() else f"{q:,f}"


def _more_less(value: Decimal, zh: bool) -> str:
    if zh:
        return "增加" if value >= 0 else "减少"
    return "more" if value >= 0 else "less"


def usage_vs_previous(ctx: BillContext) -> Reason | None:
    prev = ctx.previous
    if prev is None:
        return None
    change = percent_change(new=ctx.kwh, old=prev.kwh)
    numbers = {"kwh": str(ctx.kwh), "previous_kwh": str(prev.kwh), "previous_period": prev.period,
               "change_pct": None if change is None else str(change)}
    if change is None:
        zh = f"本期用电 {kwh_text(ctx.kwh)} 千瓦时，上期（{prev.period}）用电为 0。"
        en = f"You used {kwh_text(ctx.kwh)} kWh; the previous period ({prev.period}) had no usage."
    else:
        zh = (f"本期用电 {kwh_text(ctx.kwh)} 千瓦时，比上期（{prev.period}，{kwh_text(prev.kwh)} 千瓦时）"
              f"{_more_less(change, True)} {abs(change)}%。")
        en = (f"You used {kwh_text(ctx.kwh)} kWh, {abs(change)}% {_more_less(change, False)} than the previous "
              f"period ({prev.period}, {kwh_text(prev.kwh)} kWh).")
    return Reason("USAGE_VS_PREVIOUS", numbers, zh, en)


def usage_vs_last_year(ctx: BillContext) -> Reason | None:
    ly = ctx.last_year
    if ly is None:
        return None
    change = percent_change(new=ctx.kwh, old=ly.kwh)
    numbers = {"kwh": str(ctx.kwh), "last_year_kwh": str(ly.kwh), "last_year_period": ly.period,
               "change_pct": None if change is None else str(change)}
    if change is None:
        zh = f"去年同期（{ly.period}）用电为 0。"
        en = f"The same period last year ({ly.period}) had no usage."
    else:
        zh = (f"与去年同期（{ly.period}，{kwh_text(ly.kwh)} 千瓦时）相比{_more_less(change, True)} {abs(change)}%。")
        en = (f"That is {abs(change)}% {_more_less(change, False)} than the same period last year "
              f"({ly.period}, {kwh_text(ly.kwh)} kWh).")
    return Reason("USAGE_VS_LAST_YEAR", numbers, zh, en)


def seasonal(ctx: BillContext) -> Reason | None:
    if ctx.shock is None or not ctx.shock.seasonal or ctx.previous is None or ctx.last_year is None:
        return None
    vs_prev = percent_change(new=ctx.kwh, old=ctx.previous.kwh)
    vs_ly = percent_change(new=ctx.kwh, old=ctx.last_year.kwh)
    numbers = {"change_vs_previous_pct": None if vs_prev is None else str(vs_prev),
               "change_vs_last_year_pct": None if vs_ly is None else str(vs_ly),
               "last_year_kwh": str(ctx.last_year.kwh)}
    vs_prev_text = "" if vs_prev is None else f"{abs(vs_prev)}%"
    vs_ly_text = "持平" if vs_ly is None else f"{_more_less(vs_ly, True)} {abs(vs_ly)}%"
    vs_ly_en = "level" if vs_ly is None else f"{abs(vs_ly)}% {_more_less(vs_ly, False)}"
    zh = (f"季节性用电：本期比上期高 {vs_prev_text}，但与去年同期相当（{vs_ly_text}），"
          f"常见于夏季空调或冬季取暖。")
    en = (f"Seasonal usage: {vs_prev_text} higher than the previous period but in line with the same period "
          f"last year ({vs_ly_en}), as is usual with summer air-conditioning or winter heating.")
    return Reason("SEASONAL", numbers, zh, en)


def days_in_period(ctx: BillContext) -> Reason:
    numbers = {"days": ctx.days, "start_date": ctx.start_date.isoformat(), "end_date": ctx.end_date.isoformat()}
    last_day = date.fromordinal(ctx.end_date.toordinal() - 1)
    zh = f"本期自 {ctx.start_date.isoformat()} 至 {last_day.isoformat()}，共 {ctx.days} 天。"
    en = f"This period runs from {ctx.start_date.isoformat()} to {last_day.isoformat()}: {ctx.days} days."
    if ctx.previous is not None and ctx.previous.days and ctx.previous.days != ctx.days:
        numbers["previous_days"] = ctx.previous.days
        zh += f"上期为 {ctx.previous.days} 天。"
        en += f" The previous period had {ctx.previous.days} days."
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
    if tier.basis == "MONTHLY":
        zh = f"本期用电 {kwh_text(tier.ytd_kwh)} 千瓦时，处于第 {tier.tier} 档"
        en = f"This period's usage is {kwh_text(tier.ytd_kwh)} kWh, in tier {tier.tier}"
    else:
        zh = f"今年累计用电 {kwh_text(tier.ytd_kwh)} 千瓦时，处于第 {tier.tier} 档"
        en = f"Your usage so far this year is {kwh_text(tier.ytd_kwh)} kWh, in tier {tier.tier}"
    if tier.remaining_kwh is not None:
        zh += f"，距第 {tier.tier + 1} 档（{kwh_text(tier.next_threshold_kwh)} 千瓦时）还有 {kwh_text(tier.remaining_kwh)} 千瓦时。"
        en += (f"; {kwh_text(tier.remaining_kwh)} kWh remain before tier {tier.tier + 1} starts above "
               f"{kwh_text(tier.next_threshold_kwh)} kWh.")
    else:
        zh += "（最高档）。"
        en += " (the top tier)."
    if tier.crossed:
        zh += "本期用电跨入了更高一档，超出部分按更高电价计费。"
        en += " This bill crossed into a higher tier; the usage above the threshold is charged at the higher price."
    return Reason("TIER_STATUS", numbers, zh, en)


def price_change(ctx: BillContext) -> list[Reason]:
    out = []
    for change in ctx.price_changes:
        numbers = {"change_date": change.change_date.isoformat(), "tariff": change.tariff_id,
                   "from_version": change.from_version, "to_version": change.to_version}
        zh = (f"电价于 {change.change_date.isoformat()} 调整（{change.tariff_id}），"
              f"本期按调整前后的天数分段计费。")
        en = (f"The price of {change.tariff_id} changed on {change.change_date.isoformat()}; this period is "
              f"charged in two parts, pro rata by day.")
        out.append(Reason("PRICE_CHANGE", numbers, zh, en))
    return out


def category_change(ctx: BillContext) -> list[Reason]:
    out = []
    for change in ctx.category_changes:
        numbers = {"change_date": change.change_date.isoformat(), "from_category": change.from_category,
                   "to_category": change.to_category, "from_tariff": change.from_tariff,
                   "to_tariff": change.to_tariff}
        zh = (f"用电类别于 {change.change_date.isoformat()} 由 {change.from_category}（{change.from_tariff}）"
              f"变更为 {change.to_category}（{change.to_tariff}），本期按天数分段计费。")
        en = (f"The usage category changed on {change.change_date.isoformat()} from {change.from_category} "
              f"({change.from_tariff}) to {change.to_category} ({change.to_tariff}); this period is charged in "
              f"parts, pro rata by day.")
        out.append(Reason("CATEGORY_CHANGE", numbers, zh, en))
    return out


TOU_NAMES = {"CRITICAL_PEAK": ("尖峰", "critical peak"), "PEAK": ("高峰", "peak"), "FLAT": ("平段", "flat"),
             "VALLEY": ("低谷", "valley"), "TOTAL": ("合计", "in all")}


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
    zh_parts = "，".join(f"{TOU_NAMES[name][0]} {kwh_text(kwh)} 千瓦时" for name, kwh in parts)
    en_parts = ", ".join(f"{TOU_NAMES[name][1]} {kwh_text(kwh)} kWh" if name != "TOTAL"
                         else f"{kwh_text(kwh)} kWh in all" for name, kwh in parts)
    zh = (f"本期用电取自智能电表的15分钟间隔数据（应有 {iv.expected} 个间隔，收到 {iv.actual} 个），"
          f"按电价时段归集：{zh_parts}。")
    en = (f"Your usage comes from the meter's 15-minute interval data ({iv.actual} of {iv.expected} intervals "
          f"received), added up by the tariff's time-of-use periods: {en_parts}.")
    return Reason("INTERVAL_DATA", numbers, zh, en)


def estimated(ctx: BillContext) -> Reason:
    if ctx.intervals is not None:
        return _estimated_intervals(ctx.intervals)
    regs = sorted(set(ctx.estimated_registers))
    prev_regs = sorted(set(ctx.estimated_previous))
    numbers = {"estimated_registers": regs, "estimated_previous_registers": prev_regs,
               "is_estimate": bool(regs)}
    if regs:
        zh = f"本期读数为估算（{'、'.join(regs)}），下次实抄后多退少补。"
        en = (f"This bill uses an estimated reading ({', '.join(regs)}); the next actual reading settles "
              f"the difference.")
    else:
        zh = "本期读数为实抄读数。"
        en = "This bill uses actual meter readings."
    return Reason("ESTIMATED", numbers, zh, en)


def _estimated_intervals(iv: IntervalFacts) -> Reason:
    numbers = {"estimated_intervals": iv.estimated, "expected_intervals": iv.expected,
               "estimated_kwh": str(iv.estimated_kwh), "estimated_registers": [], "estimated_previous_registers": [],
               "is_estimate": iv.estimated > 0}
    if iv.estimated:
        zh = (f"本期有 {iv.estimated} 个15分钟间隔缺数，已按前后实测值线性插值估算（共 {kwh_text(iv.estimated_kwh)} "
              f"千瓦时），本账单为估算账单。")
        en = (f"{iv.estimated} of the period's {iv.expected} 15-minute intervals were missing and were interpolated "
              f"from the measured ones around them ({kwh_text(iv.estimated_kwh)} kWh): this bill is an estimate.")
    else:
        zh = "本期全部15分钟间隔均为实测数据。"
        en = "Every 15-minute interval of this period was measured."
    return Reason("ESTIMATED", numbers, zh, en)


def meter_exchange(ctx: BillContext) -> Reason | None:
    ex = ctx.meter_exchange
    if ex is None:
        return None
    numbers = {"exchange_date": ex.exchange_date.isoformat(), "old_meter": ex.old_meter, "new_meter": ex.new_meter}
    zh = (f"电能表于 {ex.exchange_date.isoformat()} 更换（旧表 {ex.old_meter}，新表 {ex.new_meter}），"
          f"本期用电 = 旧表止码 − 上期读数 + 新表本期读数 − 新表起码。")
    en = (f"The meter was exchanged on {ex.exchange_date.isoformat()} (old {ex.old_meter}, new {ex.new_meter}); "
          f"usage = old meter's final − previous reading + new meter's reading − its initial reading.")
    return Reason("METER_EXCHANGE", numbers, zh, en)


def catch_up(ctx: BillContext) -> Reason | None:
    cu = ctx.catch_up
    if cu is None:
        return None
    numbers = {"estimated_cycles": cu.estimated_cycles, "settled_kwh": str(cu.settled_kwh)}
    zh = (f"此前 {cu.estimated_cycles} 期为估抄，本期实抄后补算差额 {kwh_text(cu.settled_kwh)} 千瓦时。")
    en = (f"The previous {cu.estimated_cycles} period(s) were estimated; this actual reading settles "
          f"{kwh_text(cu.settled_kwh)} kWh of difference.")
    return Reason("CATCH_UP", numbers, zh, en)


def rollover(ctx: BillContext) -> Reason | None:
    if not ctx.rolled_over:
        return None
    regs = sorted(set(ctx.rolled_over))
    zh = f"电能表示数走满一圈后归零（{'、'.join(regs)}），已按满码计算。"
    en = f"The meter register passed its last digit and started again from zero ({', '.join(regs)}); counted in full."
    return Reason("ROLLOVER", {"registers": regs}, zh, en)


def holds(ctx: BillContext) -> list[Reason]:
    return [
        Reason(f.code, {**f.numbers, "hold": True},
               f"暂缓发行，待审核：{f.reason_zh}", f"Held for review: {f.reason_en}")
        for f in ctx.holds
    ]


def bill_shock(ctx: BillContext) -> Reason | None:
    shock = ctx.shock
    if shock is None or not shock.is_shock:
        return None
    numbers = {"amount_fen": ctx.amount_fen, "baseline_fen": shock.baseline_fen, "basis": shock.basis,
               "increase_pct": str(shock.increase_pct), "threshold_pct": str(shock.threshold_pct), "hold": True}
    basis_zh = "去年同期" if shock.basis == "SAME_PERIOD_LAST_YEAR" else "近期平均"
    basis_en = "the same period last year" if shock.basis == "SAME_PERIOD_LAST_YEAR" else "your recent average"
    zh = (f"电费突增：本期 {yuan(ctx.amount_fen)} 元，比{basis_zh}（{yuan(shock.baseline_fen)} 元）高 "
          f"{shock.increase_pct}%，且无阶梯、调价或估抄等原因；暂缓发行，先告知客户并核查。")
    en = (f"Bill shock: {yuan(ctx.amount_fen)} yuan is {shock.increase_pct}% above {basis_en} "
          f"({yuan(shock.baseline_fen)} yuan) with no tier, price or estimate to explain it; held until the "
          f"customer has been told and the readings checked.")
    return Reason("BILL_SHOCK", numbers, zh, en)


def correction(ctx: BillContext) -> Reason | None:
    c = ctx.correction
    if c is None:
        return None
    diff = c.new_amount_fen - c.old_amount_fen
    numbers = {"replaces_bill_id": c.replaces_bill_id, "old_amount_fen": c.old_amount_fen,
               "new_amount_fen": c.new_amount_fen, "difference_fen": diff, "old_kwh": str(c.old_kwh),
               "new_kwh": str(ctx.kwh)}
    direction_zh = "补收" if diff >= 0 else "退还"
    direction_en = "more to pay" if diff >= 0 else "to be credited"
    zh = (f"本账单更正第 {c.replaces_bill_id} 号账单：原 {yuan(c.old_amount_fen)} 元（{kwh_text(c.old_kwh)} 千瓦时），"
          f"现 {yuan(c.new_amount_fen)} 元（{kwh_text(ctx.kwh)} 千瓦时），{direction_zh} {yuan(abs(diff))} 元。")
    en = (f"This bill corrects bill {c.replaces_bill_id}: was {yuan(c.old_amount_fen)} yuan "
          f"({kwh_text(c.old_kwh)} kWh), now {yuan(c.new_amount_fen)} yuan ({kwh_text(ctx.kwh)} kWh): "
          f"{yuan(abs(diff))} yuan {direction_en}.")
    if c.reason:
        zh += f"更正原因：{c.reason}"
        en += f" Reason: {c.reason}"
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
