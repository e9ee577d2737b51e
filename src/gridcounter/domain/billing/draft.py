"""One account's bill for one period, from its usage, tariffs and history: pure, comparable bill by bill.

The bill run (and later the vectorised kernel) call `draft_bill` per account; what it returns is what the
bill shows: status, amount, priced lines, the explanation and the hold codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from gridcounter.domain.readings.codes import finding
from gridcounter.domain.tariffs import (
    RatingError,
    RatingInput,
    Tariff,
    TierStatus,
    rate_segments,
    tier_status,
)

from .cycle import CycleUsage
from .explanation import (
    BillContext,
    CatchUp,
    CategoryChange,
    Correction,
    HoldFinding,
    PriceChange,
    explain,
    explaining_codes,
)
from .periods import BillingPeriod
from .shock import PeriodFigures, assess_shock

DEFAULT_SHOCK_THRESHOLD_PCT = Decimal(50)


@dataclass(frozen=True)
class TariffSegment:
    """The account's tariff and usage category over [start_date, end_date) (from its history)."""

    tariff_id: str
    usage_category: str
    start_date: date
    end_date: date


@dataclass
class AccountFacts:
    """What the account brings to the bill besides its readings."""

    account_id: int
    household_size: int | None = None
    capacity_kva: Decimal | None = None
    contract_demand_kw: Decimal | None = None
    ytd_kwh: Decimal = Decimal(0)  # kWh of live bills earlier in the same calendar year
    previous: PeriodFigures | None = None
    last_year: PeriodFigures | None = None
    recent: list[PeriodFigures] = field(default_factory=list)
    catch_up: CatchUp | None = None
    correction: Correction | None = None
    estimates_in_a_row: int = 0  # consecutive estimated bills just before this period
    max_estimates: int | None = None  # the limit of estimates in a row (rules: estimates.max_consecutive)


@dataclass(frozen=True)
class LineDraft:
    position: int
    code: str
    description: str
    description_en: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount_fen: int
    tier: int | None
    tou_period: str
    segment_start_date: date | None
    segment_end_date: date | None


@dataclass
class BillDraft:
    account_id: int
    period: str
    start_date: date
    end_date: date
    status: str  # ISSUED or HELD
    tariff_id: str
    kwh: Decimal
    amount_fen: int
    is_estimate: bool
    hold_codes: list[str]
    readings: dict
    explanation: list[dict]
    facts: dict
    lines: list[LineDraft]
    reading_ids: list[int]

    @property
    def is_shock(self) -> bool:
        return "BILL_SHOCK" in self.hold_codes


def to_fen(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def segments_changes(segments: list[TariffSegment]) -> list[CategoryChange]:
    """A change of usage category or tariff inside the period, from consecutive segments."""
    return [
        CategoryChange(change_date=b.start_date, from_category=a.usage_category, to_category=b.usage_category,
                       from_tariff=a.tariff_id, to_tariff=b.tariff_id)
        for a, b in zip(segments, segments[1:], strict=False)
    ]


def price_changes(*, tariffs: dict[str, Tariff], segments: list[TariffSegment]) -> list[PriceChange]:
    """Tariff versions that came into force strictly inside a segment (so the segment is split by the engine)."""
    out = []
    for seg in segments:
        tariff = tariffs[seg.tariff_id]
        previous_version = None
        for version in tariff.versions:
            if seg.start_date < version.effective_from < seg.end_date:
                out.append(PriceChange(change_date=version.effective_from, tariff_id=tariff.id,
                                       from_version=str(previous_version.effective_from) if previous_version else "",
                                       to_version=str(version.effective_from)))
            previous_version = version
    return out


def _tier_status(tiers: dict | None) -> TierStatus | None:
    """The quote's tier facts as the bill's tier status (`tier_status`)."""
    if not tiers:
        return None
    return tier_status(thresholds=[Decimal(t) for t in tiers["thresholds"]], before=Decimal(tiers["usage_before"]),
                       after=Decimal(tiers["usage_after"]), basis=tiers.get("basis"))


def _rating_input(*, billing: BillingPeriod, usage: CycleUsage, facts: AccountFacts,
                  tou: bool) -> RatingInput:
    regs = usage.kwh_by_register
    common = dict(start_date=billing.start_date, end_date=billing.end_date, ytd_kwh=facts.ytd_kwh,
                  household_size=facts.household_size, capacity_kva=facts.capacity_kva,
                  contract_demand_kw=None, kvarh=usage.kvarh)
    if tou and any(r in regs for r in ("PEAK", "FLAT", "VALLEY")):
        return RatingInput(peak=regs.get("PEAK", Decimal(0)), flat=regs.get("FLAT", Decimal(0)),
                           valley=regs.get("VALLEY", Decimal(0)), critical_peak=regs.get("CRITICAL_PEAK"), **common)
    return RatingInput(kwh=usage.total_kwh, **common)


_PLAIN = frozenset({str, int, bool, float, type(None)})


def _jsonable(value):
    kind = type(value)
    if kind in _PLAIN:  # the common case first (exact types: subclasses such as enums take the long way)
        return value
    if kind is Decimal or kind is date:
        return str(value)
    if kind is dict:
        return {k if type(k) is str else str(k): _jsonable(v) for k, v in value.items()}
    if kind is list:
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal | date):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def estimate_streak(*, usage: CycleUsage, facts: AccountFacts) -> HoldFinding | None:
    """ESTIMATE_STREAK when this period's reading is missing and the last bills were already estimated up to the
    limit: another estimate would chain them, so the account needs an on-site reading instead."""
    if facts.max_estimates is None or facts.estimates_in_a_row < facts.max_estimates:
        return None
    if not any(h.code == "MISSED" for h in usage.holds):
        return None
    found = finding("ESTIMATE_STREAK", estimates=facts.estimates_in_a_row, limit=facts.max_estimates)
    return HoldFinding(found.code, dict(found.numbers), found.reason_zh, found.reason_en)


# Holds that leave no usage to rate: the bill is held at zero until review settles the reading.
UNRATABLE_HOLDS = frozenset({"MISSED", "NO_METER", "DECREASE", "SWAP_SUSPECTED"})


def draft_bill(*, billing: BillingPeriod, usage: CycleUsage, segments: list[TariffSegment],
               tariffs: dict[str, Tariff], facts: AccountFacts,
               shock_threshold_pct: Decimal = DEFAULT_SHOCK_THRESHOLD_PCT) -> BillDraft:
    """Rate the period with the one rating engine and explain the result; hold it on failed readings or shock.

    A bill with missing readings, resting on a reading lower than the previous one that is not a rollover
    (DECREASE), on readings that look swapped with a neighbour's (SWAP_SUSPECTED), or on interval data with a
    blocking finding (GAP, SUM_MISMATCH …), is held at zero kWh and zero yuan, and its explanation states the
    holds, not usage figures: there is nothing trustworthy to rate until review settles the reading. A rating
    error holds the bill with code RATING_ERROR naming the field.
    """
    holds: list[HoldFinding] = list(usage.holds)
    streak = estimate_streak(usage=usage, facts=facts)
    if streak is not None:
        holds.append(streak)
    tariff_id = segments[-1].tariff_id if segments else ""
    lines: list[LineDraft] = []
    amount_fen = 0
    quote_facts: dict = {}
    tier = None
    kwh_total = usage.total_kwh
    # interval data with a blocking finding is as untrustworthy as a missing reading: held at zero
    can_rate = not any(h.code in UNRATABLE_HOLDS for h in holds) and not (usage.intervals and usage.intervals.held)
    if not can_rate:
        kwh_total = Decimal(0)  # the readings are in doubt: no usage is stated until review settles them
    if can_rate:
        try:
            timed = any(tariffs[s.tariff_id].versions[-1].prices.tou for s in segments)
            quote = rate_segments(
                [(tariffs[s.tariff_id], s.start_date, s.end_date) for s in segments],
                _rating_input(billing=billing, usage=usage, facts=facts, tou=timed),
            )
        except (RatingError, KeyError) as error:
            holds.append(HoldFinding("RATING_ERROR", {"error": str(error)}, f"无法计费：{error}",
                                     f"Cannot be rated: {error}"))
        else:
            tariff_id = quote.tariff_id
            amount_fen = to_fen(quote.total)
            quote_facts = _jsonable(dict(quote.facts))
            tier = _tier_status(quote.facts.get("tiers"))
            for position, line in enumerate(quote.lines, start=1):
                lines.append(LineDraft(
                    position=position, code=line.code, description=line.description[:200],
                    description_en=line.description_en[:200], quantity=line.quantity, unit=line.unit,
                    unit_price=line.unit_price, amount_fen=to_fen(line.amount), tier=line.tier,
                    tou_period=str(line.tou_period or ""), segment_start_date=line.segment_start,
                    segment_end_date=line.segment_end,
                ))
    ctx = BillContext(
        period=billing.period, start_date=billing.start_date, end_date=billing.end_date, kwh=kwh_total,
        amount_fen=amount_fen, previous=facts.previous, last_year=facts.last_year, tier=tier,
        price_changes=price_changes(tariffs=tariffs, segments=segments) if all(
            s.tariff_id in tariffs for s in segments) else [],
        category_changes=segments_changes(segments), estimated_registers=list(usage.estimated_registers),
        estimated_previous=list(usage.estimated_previous), meter_exchange=usage.meter_exchange,
        catch_up=facts.catch_up, rolled_over=list(usage.rolled_over), holds=holds,
        correction=facts.correction, intervals=usage.intervals, rated=can_rate,
    )
    if not holds:
        ctx.shock = assess_shock(
            amount_fen=amount_fen, days=billing.days, last_year=facts.last_year, recent=facts.recent,
            previous=facts.previous, explaining_codes=explaining_codes(ctx), threshold_pct=shock_threshold_pct,
            kwh=kwh_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        )
    hold_codes = sorted({h.code for h in holds} | ({"BILL_SHOCK"} if ctx.shock and ctx.shock.is_shock else set()))
    if ctx.correction is not None:
        ctx.correction = replace(ctx.correction, new_amount_fen=amount_fen)
    explanation = [r.as_dict() for r in explain(ctx)]
    return BillDraft(
        account_id=facts.account_id, period=billing.period, start_date=billing.start_date,
        end_date=billing.end_date, status="HELD" if hold_codes else "ISSUED", tariff_id=tariff_id,
        kwh=kwh_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), amount_fen=amount_fen,
        is_estimate=usage.is_estimate, hold_codes=hold_codes, readings=usage.readings, explanation=explanation,
        facts={**quote_facts, "shock": None if ctx.shock is None else _jsonable(ctx.shock.__dict__)},
        lines=lines, reading_ids=list(usage.reading_ids),
    )
