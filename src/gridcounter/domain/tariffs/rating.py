"""The one rating engine: a tariff and a period's usage in, a quote of priced lines and explaining facts out."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from gridcounter.domain.tariffs.model import (
    TOU_ORDER,
    BasicChargeBasis,
    PriceTable,
    Tariff,
    TariffVersion,
    TierBasis,
    TouPeriod,
)
from gridcounter.domain.tariffs.money import ZERO, kwh, split_proportionally, yuan
from gridcounter.domain.tariffs.power_factor import power_factor

DAYS_PER_MONTH = 30  # part months are charged 1/30 of a month per day
QUANTITY_PLACES = Decimal("0.0001")  # shown quantity of pro-rated kVA·month / kW·month lines

PERIOD_NAMES = {
    TouPeriod.CRITICAL_PEAK: ("尖峰", "critical peak"),
    TouPeriod.PEAK: ("峰", "peak"),
    TouPeriod.FLAT: ("平", "flat"),
    TouPeriod.VALLEY: ("谷", "valley"),
}
TIER_NAMES_ZH = {1: "第一档", 2: "第二档", 3: "第三档", 4: "第四档", 5: "第五档"}

# The line catalogue: every line a rating makes, in the order a bill lists them (energy by tier, then by time-of-use
# period), with its text in Chinese and English and its unit. `rate()` and the kernel's `rate_frame` both print
# these texts (`line_text`, `energy_text`).
LINES: dict[str, tuple[str, str, str]] = {
    "ENERGY": ("电度电费", "Energy", "kWh"),
    "BASIC_CAPACITY": ("基本电费（按容量）", "Basic charge by capacity", "kVA·month"),
    "BASIC_DEMAND": ("基本电费（按需量）", "Basic charge by demand", "kW·month"),
    "BASIC_DEMAND_EXCESS": ("基本电费（超合同需量{pct}%部分）", "Basic charge, demand above {pct} % of contract",
                            "kW·month"),
    "POWER_FACTOR": ("功率因数调整电费（实际{cos_phi}，标准{standard}）",
                     "Power-factor adjustment (cos φ {cos_phi}, standard {standard})", "%"),
}
LINE_ORDER = tuple(LINES)


def line_text(code: str, **slots) -> tuple[str, str]:
    """A line's text in Chinese and English (LINES), its slots filled."""
    zh, en, _unit = LINES[code]
    return zh.format(**slots), en.format(**slots)


def energy_text(*, tier: int | None, period: TouPeriod | None) -> tuple[str, str]:
    """An energy line's text: the ENERGY text, then its tier and its time-of-use period when it has them."""
    zh, en = line_text("ENERGY")
    return (zh + (f" {TIER_NAMES_ZH.get(tier, f'第{tier}档')}" if tier else "") + (f" {PERIOD_NAMES[period][0]}" if period else ""),
            en + (f", tier {tier}" if tier else "") + (f", {PERIOD_NAMES[period][1]}" if period else ""))
TOU_FIELDS = {
    TouPeriod.PEAK: "peak",
    TouPeriod.FLAT: "flat",
    TouPeriod.VALLEY: "valley",
    TouPeriod.CRITICAL_PEAK: "critical_peak",
}
DECIMAL_FIELDS = ("kwh", "peak", "flat", "valley", "critical_peak", "ytd_kwh", "capacity_kva", "demand_kw",
                  "contract_demand_kw", "kvarh")


@dataclass(frozen=True)
class TierStatus:
    """Where a tiered account stands after a bill: usage counted towards the tiers (so far this year for annual
    tiers, this period for monthly ones), the tier reached, and what remains before the next tier."""

    ytd_kwh: Decimal
    tier: int
    next_threshold_kwh: Decimal | None  # None in the top tier
    remaining_kwh: Decimal | None
    crossed: bool  # this bill moved the account into a higher tier
    basis: str = "ANNUAL"  # ANNUAL (cumulative over the calendar year) or MONTHLY


def tier_status(*, thresholds: Sequence[Decimal], before: Decimal, after: Decimal,
                basis: TierBasis | str | None) -> TierStatus:
    """The tier rule, stated once: tier 1 up to thresholds[0] kWh, tier 2 up to thresholds[1] … (upper bounds,
    inclusive), with `before` kWh counted before this bill and `after` with it. The rating engine's tier facts,
    the bill's TIER_STATUS reason and the bill run all take it from here; the kernel's vectorised form
    (`domain.billing.explanation_frame`, TIER_STATUS) is its optimisation and is checked against it."""
    reached = 1 + sum(1 for t in thresholds if t < after)
    following = next((t for t in thresholds if t >= after), None)
    return TierStatus(ytd_kwh=after, tier=reached, next_threshold_kwh=following,
                      remaining_kwh=None if following is None else following - after,
                      crossed=reached > 1 + sum(1 for t in thresholds if t < before),
                      basis=str(basis or TierBasis.ANNUAL))


class RatingError(ValueError):
    """The input cannot be rated under this tariff; `field` names the offending input."""

    def __init__(self, field: str, detail: str):
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


@dataclass(frozen=True, kw_only=True)
class RatingInput:
    """What is rated: a half-open period [start_date, end_date) and its metered quantities.

    Give either `kwh` (untimed total) or the time-of-use registers (`peak`, `flat`, `valley`,
    `critical_peak`; missing registers count as zero). `ytd_kwh` is the usage earlier in the same
    calendar year (for annual tiers).
    """

    start_date: date
    end_date: date
    kwh: Decimal | None = None
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None
    critical_peak: Decimal | None = None
    ytd_kwh: Decimal = ZERO
    household_size: int | None = None
    capacity_kva: Decimal | None = None
    demand_kw: Decimal | None = None
    contract_demand_kw: Decimal | None = None
    kvarh: Decimal | None = None
    basic_charge_basis: BasicChargeBasis | None = None  # None: DEMAND if demand_kw is given, else CAPACITY


@dataclass(frozen=True, slots=True)
class QuoteLine:
    code: str  # ENERGY, BASIC_CAPACITY, BASIC_DEMAND, BASIC_DEMAND_EXCESS, POWER_FACTOR
    description: str
    description_en: str
    quantity: Decimal
    unit: str  # kWh, kVA·month, kW·month, %
    unit_price: Decimal
    amount: Decimal
    segment_start: date
    segment_end: date
    tier: int | None = None
    tou_period: TouPeriod | None = None


@dataclass(frozen=True)
class Quote:
    tariff_id: str  # the tariff in force at the end of the period
    start_date: date
    end_date: date
    total: Decimal
    lines: tuple[QuoteLine, ...]
    facts: Mapping[str, object]


Segment = tuple[Tariff, date, date]


@dataclass(frozen=True, slots=True)
class _Piece:
    tariff: Tariff
    version: TariffVersion
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def rate(tariff: Tariff, inp: RatingInput) -> Quote:
    """Rate `inp` under `tariff`, splitting the period at every version change inside it.

    Raises RatingError when the input does not fit the tariff (the message names the argument).
    """
    return rate_segments([(tariff, inp.start_date, inp.end_date)], inp)


def rate_segments(segments: Sequence[Segment], inp: RatingInput) -> Quote:
    """Rate a period made of consecutive (tariff, start, end) segments, e.g. across a change of usage category.

    The segments must cover [inp.start_date, inp.end_date) without gaps. Usage is pro-rated to the
    segments (and to version changes inside them) by days; annual tiers carry the year's usage forward.
    Raises RatingError.
    """
    _check_input(inp)
    pieces = _pieces(segments, inp)
    usage = _usage(inp)
    _check_usage_fits(pieces, usage, inp)
    basis = _basic_charge_basis(pieces, inp)
    cos_phi = _cos_phi(usage, inp)

    weights = [Decimal(p.days) for p in pieces]
    shares = {component: split_proportionally(qty, weights) for component, qty in usage.items()}

    lines: list[QuoteLine] = []
    segment_facts: list[dict[str, object]] = []
    ytd = kwh(Decimal(inp.ytd_kwh))
    year = inp.start_date.year
    first_tier_facts: dict[str, object] | None = None
    last_tier_facts: dict[str, object] | None = None
    pf_facts: dict[str, object] | None = None
    for i, piece in enumerate(pieces):
        if piece.start.year != year:  # a new calendar year starts the annual tiers afresh
            ytd, year, first_tier_facts = kwh(ZERO), piece.start.year, None
        piece_usage = {component: shares[component][i] for component in usage}
        energy_lines, tier_facts = _energy(piece, piece_usage, ytd=ytd, household_size=inp.household_size)
        basic_lines, basic_facts = _basic_charge(piece, inp, basis)
        piece_lines = energy_lines + basic_lines
        piece_pf = _power_factor(piece, piece_lines, cos_phi, inp)
        if piece_pf is not None:
            line, piece_pf_facts = piece_pf
            if line is not None:
                piece_lines.append(line)
            pf_facts = pf_facts or piece_pf_facts
        else:
            piece_pf_facts = None
        ytd += sum(piece_usage.values(), ZERO)
        if tier_facts is not None:
            first_tier_facts = first_tier_facts or tier_facts
            last_tier_facts = tier_facts
        lines.extend(piece_lines)
        segment_facts.append({
            "start_date": piece.start,
            "end_date": piece.end,
            "days": piece.days,
            "months": _months(piece),
            "tariff_id": piece.tariff.id,
            "tariff_name": piece.tariff.name,
            "version_effective_from": piece.version.effective_from,
            "version_source": piece.version.source,
            "kwh": sum(piece_usage.values(), ZERO),
            "usage": {("kwh" if c is None else TOU_FIELDS[c]): q for c, q in piece_usage.items()},
            "tiers": tier_facts,
            "basic_charge": basic_facts,
            "power_factor": piece_pf_facts,
            "subtotal": yuan(sum((line.amount for line in piece_lines), ZERO)),
        })

    tiers_summary = last_tier_facts
    if (last_tier_facts is not None and first_tier_facts is not None and first_tier_facts is not last_tier_facts
            and last_tier_facts["basis"] is TierBasis.ANNUAL and first_tier_facts["basis"] is TierBasis.ANNUAL):
        # annual tiers run on across pieces of the same year: report the whole period's progress
        same_year = [s["tiers"] for s in segment_facts if s["tiers"] is not None
                     and s["start_date"].year == year and s["tiers"]["basis"] is TierBasis.ANNUAL]
        per_tier = [sum(parts, ZERO) for parts in zip(*(t["kwh_per_tier"] for t in same_year), strict=False)]
        tiers_summary = {**last_tier_facts, "usage_before": first_tier_facts["usage_before"], "kwh_per_tier": per_tier}
    total = yuan(sum((line.amount for line in lines), ZERO))
    facts: dict[str, object] = {
        "period": {"start_date": inp.start_date, "end_date": inp.end_date,
                   "days": (inp.end_date - inp.start_date).days},
        "usage": {"kwh": sum(usage.values(), ZERO),
                  **{("kwh" if c is None else TOU_FIELDS[c]): q for c, q in usage.items() if c is not None}},
        "ytd": {"year": year, "before": kwh(Decimal(inp.ytd_kwh)), "after": ytd},
        "tiers": tiers_summary,
        "power_factor": pf_facts or {"assessed": False, "reason": _pf_absent_reason(pieces, inp)},
        "segments": segment_facts,
    }
    return Quote(tariff_id=pieces[-1].tariff.id, start_date=inp.start_date, end_date=inp.end_date,
                 total=total, lines=tuple(lines), facts=facts)


# -- shared rules a vectorised kernel can reuse ------------------------------------------------------------


def price_table(version: TariffVersion) -> PriceTable:
    """The unit prices per period and tier in force for `version` (derived once, when the file is loaded)."""
    return version.prices


def month_units(start: date, end: date) -> int:
    """Length of [start, end) in 1/30 months: a whole calendar month is 30, any other day counts 1."""
    units = 0
    day = start
    while day < end:
        month_end = _next_month(day)
        stop = min(end, month_end)
        units += DAYS_PER_MONTH if day.day == 1 and stop == month_end else (stop - day).days
        day = stop
    return units


def tier_thresholds(version: TariffVersion, *, household_size: int | None, units: int) -> tuple[Decimal, ...]:
    """Thresholds in force for a piece of `units`/30 months: large-household bonus added, monthly ones pro-rated.

    Annual thresholds are per calendar year and never pro-rated; monthly ones are scaled by units/30 and
    rounded half up to 0.01 kWh.
    """
    tiers = version.tiers
    if tiers is None:
        return ()
    bonus = ZERO
    if tiers.large_household and is_large_household(version, household_size):
        bonus = tiers.large_household.extra_kwh_per_month
        if tiers.basis is TierBasis.ANNUAL:
            bonus *= 12
    raised = [t + bonus for t in tiers.thresholds]
    if tiers.basis is TierBasis.MONTHLY and units != DAYS_PER_MONTH:
        return tuple(kwh(t * units / DAYS_PER_MONTH) for t in raised)
    return tuple(raised)


def is_large_household(version: TariffVersion, household_size: int | None) -> bool:
    """Whether a household of this size gets the version's large-household allowance."""
    bonus = version.tiers.large_household if version.tiers else None
    return bonus is not None and household_size is not None and household_size >= bonus.min_size


def split_into_tiers(*, level: Decimal, usage: Decimal, thresholds: Sequence[Decimal]) -> list[Decimal]:
    """The part of `usage`, consumed on top of `level` already used, that falls in each tier."""
    bounds = [ZERO, *thresholds]
    parts = []
    top = level + usage
    for t, low in enumerate(bounds):
        high = bounds[t + 1] if t + 1 < len(bounds) else None
        start = max(level, low)
        stop = top if high is None else min(top, high)
        parts.append(max(ZERO, stop - start))
    return parts


def allocate_tiers_to_periods(
    tier_totals: Sequence[Decimal], usage: Mapping[TouPeriod | None, Decimal]
) -> list[dict[TouPeriod | None, Decimal]]:
    """Spread each tier's kWh over the periods in proportion to their usage, to 0.01 kWh.

    Tier by tier, the tier's kWh is split over what each period has not yet had allocated (which is in
    proportion to its usage), with cumulative half-up rounding; the last tier takes what remains. Rows
    and columns sum exactly and no cell is negative.
    """
    remaining = dict(usage)
    cells: list[dict[TouPeriod | None, Decimal]] = []
    for total in tier_totals:
        left = sum(remaining.values(), ZERO)
        if total == left:
            row = dict(remaining)
        else:
            parts = split_proportionally(total, list(remaining.values()))
            row = dict(zip(remaining, parts, strict=True))
        for component, qty in row.items():
            remaining[component] -= qty
        cells.append(row)
    return cells


# -- the steps of rate_segments -------------------------------------------------------------------------


def _check_input(inp: RatingInput) -> None:
    if not isinstance(inp.start_date, date) or not isinstance(inp.end_date, date):
        raise RatingError("start_date", "start_date and end_date must be dates")
    if inp.end_date <= inp.start_date:
        raise RatingError("end_date", f"must be after start_date ({inp.start_date}); the period is [start, end)")
    for name in DECIMAL_FIELDS:
        value = getattr(inp, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise RatingError(name, f"must be a Decimal, not {type(value).__name__}")
        if not Decimal(value).is_finite():
            raise RatingError(name, "must be a finite number")
        if value < 0:
            raise RatingError(name, f"must not be negative (got {value})")
    if inp.ytd_kwh is None:
        raise RatingError("ytd_kwh", "must be a number (0 when nothing was used earlier this year)")
    if inp.household_size is not None and (
        isinstance(inp.household_size, bool) or not isinstance(inp.household_size, int) or inp.household_size < 1
    ):
        raise RatingError("household_size", f"must be a whole number of people, at least 1 (got {inp.household_size})")
    if inp.basic_charge_basis is not None and not isinstance(inp.basic_charge_basis, BasicChargeBasis):
        raise RatingError("basic_charge_basis", "must be CAPACITY or DEMAND")


def _pieces(segments: Sequence[Segment], inp: RatingInput) -> list[_Piece]:
    if not segments:
        raise RatingError("segments", "at least one (tariff, start, end) segment is required")
    pieces: list[_Piece] = []
    cursor = inp.start_date
    for tariff, start, end in segments:
        if start != cursor:
            raise RatingError("segments", f"segment starting {start} should start on {cursor} (no gaps or overlaps)")
        if end <= start:
            raise RatingError("segments", f"segment {start}–{end} is empty")
        day = start
        while day < end:
            found = tariff.version_on(day)
            if found is None:
                raise RatingError("start_date", f"tariff {tariff.id} has no version in force on {day}")
            version, version_end = found
            stop = end if version_end is None else min(end, version_end)
            if version.prices.basis is TierBasis.ANNUAL:
                stop = min(stop, date(day.year + 1, 1, 1))
            pieces.append(_Piece(tariff=tariff, version=version, start=day, end=stop))
            day = stop
        cursor = end
    if cursor != inp.end_date:
        raise RatingError("segments", f"segments end on {cursor}, the period on {inp.end_date}")
    return pieces


def _usage(inp: RatingInput) -> dict[TouPeriod | None, Decimal]:
    """The metered quantities, to 0.01 kWh: {None: kwh} or {period: kWh} in TOU_ORDER."""
    timed = {p: getattr(inp, f) for p, f in TOU_FIELDS.items() if getattr(inp, f) is not None}
    if inp.kwh is not None and timed:
        raise RatingError("kwh", "give either kwh or the peak/flat/valley readings, not both")
    if inp.kwh is None and not timed:
        raise RatingError("kwh", "give kwh, or the peak/flat/valley readings")
    if inp.kwh is not None:
        return {None: kwh(Decimal(inp.kwh))}
    return {p: kwh(Decimal(timed[p])) for p in TOU_ORDER if p in timed}


def _check_usage_fits(pieces: list[_Piece], usage: Mapping[TouPeriod | None, Decimal], inp: RatingInput) -> None:
    seen: set[int] = set()
    for piece in pieces:
        if id(piece.version) in seen:
            continue
        seen.add(id(piece.version))
        prices, tariff_id = piece.version.prices, piece.tariff.id
        if None in usage:
            if prices.untimed is None:
                raise RatingError("kwh", f"tariff {tariff_id} is time-of-use only: give peak, flat and valley")
            continue
        if not prices.tou:
            field = next(iter(usage))
            raise RatingError(TOU_FIELDS[field], f"tariff {tariff_id} has no time-of-use prices: give kwh")
        for period, qty in usage.items():
            if qty > 0 and period not in prices.tou:
                offered = ", ".join(TOU_FIELDS[p] for p in prices.tou)
                raise RatingError(TOU_FIELDS[period], f"tariff {tariff_id} has no {PERIOD_NAMES[period][1]} period"
                                                      f" (its periods: {offered})")
    if usage.get(TouPeriod.CRITICAL_PEAK, ZERO) > 0 and not any(
        _months_of(p.start, p.end) & p.version.prices.critical_months for p in pieces
    ):
        months = sorted({m for p in pieces for m in p.version.prices.critical_months})
        raise RatingError("critical_peak", f"critical-peak kWh given, but {inp.start_date}–{inp.end_date} has no"
                                           f" critical-peak month (months {', '.join(map(str, months))})")


def _basic_charge_basis(pieces: list[_Piece], inp: RatingInput) -> BasicChargeBasis | None:
    charged = [p for p in pieces if p.version.basic_charge is not None]
    if not charged:
        return None
    tariff_id = charged[0].tariff.id
    basis = inp.basic_charge_basis
    if basis is None:
        if inp.demand_kw is not None and inp.capacity_kva is not None:
            raise RatingError("basic_charge_basis", "both capacity_kva and demand_kw are given: say which basis"
                                                    " the customer chose (CAPACITY or DEMAND)")
        if inp.demand_kw is not None:
            basis = BasicChargeBasis.DEMAND
        elif inp.capacity_kva is not None:
            basis = BasicChargeBasis.CAPACITY
        else:
            raise RatingError("capacity_kva", f"two-part tariff {tariff_id} needs capacity_kva, or demand_kw with"
                                              " contract_demand_kw")
    if basis is BasicChargeBasis.CAPACITY and inp.capacity_kva is None:
        raise RatingError("capacity_kva", "is required for a basic charge by capacity")
    if basis is BasicChargeBasis.DEMAND:
        if inp.demand_kw is None:
            raise RatingError("demand_kw", "is required for a basic charge by demand")
        if inp.contract_demand_kw is None:
            raise RatingError("contract_demand_kw", "is required with demand_kw (excess demand is judged against it)")
    for piece in charged:
        charge = piece.version.basic_charge
        assert charge is not None
        price = charge.capacity_price if basis is BasicChargeBasis.CAPACITY else charge.demand_price
        if price is None:
            raise RatingError("basic_charge_basis", f"tariff {piece.tariff.id} has no basic charge by {basis.lower()}")
    return basis


def _cos_phi(usage: Mapping[TouPeriod | None, Decimal], inp: RatingInput) -> Decimal | None:
    if inp.kvarh is None:
        return None
    return power_factor(kwh=sum(usage.values(), ZERO), kvarh=Decimal(inp.kvarh))


def _energy(
    piece: _Piece, usage: Mapping[TouPeriod | None, Decimal], *, ytd: Decimal, household_size: int | None
) -> tuple[list[QuoteLine], dict[str, object] | None]:
    prices = piece.version.prices
    tiered = piece.version.tiers is not None
    thresholds = tier_thresholds(piece.version, household_size=household_size, units=month_units(piece.start, piece.end))
    level = ytd if prices.basis is TierBasis.ANNUAL else ZERO
    total = sum(usage.values(), ZERO)
    tier_totals = [kwh(part) for part in split_into_tiers(level=level, usage=total, thresholds=thresholds)]
    cells = allocate_tiers_to_periods(tier_totals, usage)
    lines: list[QuoteLine] = []
    for t, row in enumerate(cells):
        tier = t + 1 if tiered else None
        for period, qty in row.items():
            if qty == 0:
                continue
            unit_price = prices.tou[period][t] if period is not None else prices.untimed[t]  # type: ignore[index]
            zh, en = energy_text(tier=tier, period=period)
            lines.append(QuoteLine(
                code="ENERGY", description=zh, description_en=en,
                quantity=qty, unit=LINES["ENERGY"][2], unit_price=unit_price, amount=yuan(qty * unit_price),
                segment_start=piece.start, segment_end=piece.end, tier=tier, tou_period=period,
            ))
    if not tiered:
        return lines, None
    status = tier_status(thresholds=thresholds, before=level, after=level + total, basis=prices.basis)
    return lines, {
        "basis": prices.basis,
        "thresholds": list(thresholds),
        "usage_before": level,
        "usage_after": status.ytd_kwh,
        "kwh_per_tier": tier_totals,
        "tier_reached": status.tier,
        "kwh_to_next_threshold": status.remaining_kwh,
        "large_household": is_large_household(piece.version, household_size),
    }


def _basic_charge(
    piece: _Piece, inp: RatingInput, basis: BasicChargeBasis | None
) -> tuple[list[QuoteLine], dict[str, object] | None]:
    charge = piece.version.basic_charge
    if charge is None or basis is None:
        return [], None
    units = month_units(piece.start, piece.end)
    common = {"segment_start": piece.start, "segment_end": piece.end}

    def line(code: str, size: Decimal, price: Decimal, **slots) -> QuoteLine:
        # The amount is taken from the exact pro-rated quantity; the shown quantity is rounded to 4 places.
        zh, en = line_text(code, **slots)
        return QuoteLine(code=code, description=zh, description_en=en,
                         quantity=(size * units / DAYS_PER_MONTH).quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP),
                         unit=LINES[code][2], unit_price=price, amount=yuan(size * price * units / DAYS_PER_MONTH),
                         **common)

    whole_months = piece.start.day == 1 and piece.end.day == 1
    facts: dict[str, object] = {"basis": basis, "months": _months(piece), "prorated": not whole_months}
    if basis is BasicChargeBasis.CAPACITY:
        assert charge.capacity_price is not None and inp.capacity_kva is not None
        capacity = Decimal(inp.capacity_kva)
        facts["capacity_kva"] = capacity
        return [line("BASIC_CAPACITY", capacity, charge.capacity_price)], facts
    assert charge.demand_price is not None and inp.demand_kw is not None and inp.contract_demand_kw is not None
    demand, contract = Decimal(inp.demand_kw), Decimal(inp.contract_demand_kw)
    allowed = contract * charge.excess_demand_ratio
    within = min(demand, allowed)
    excess = demand - within
    pct = (charge.excess_demand_ratio * 100).normalize()
    facts.update({"demand_kw": demand, "contract_demand_kw": contract, "allowed_demand_kw": allowed,
                  "excess_demand_kw": excess})
    lines = [line("BASIC_DEMAND", within, charge.demand_price)]
    if excess > 0:
        lines.append(line("BASIC_DEMAND_EXCESS", excess, charge.demand_price * charge.excess_demand_multiplier,
                          pct=f"{pct:f}"))
    return lines, facts


def _power_factor(
    piece: _Piece, piece_lines: list[QuoteLine], cos_phi: Decimal | None, inp: RatingInput
) -> tuple[QuoteLine | None, dict[str, object]] | None:
    table = piece.version.power_factor
    if table is None:
        return None
    if inp.kvarh is None:
        return None, {"assessed": False, "reason": "no reactive energy (kvarh) given"}
    if cos_phi is None:
        return None, {"assessed": False, "reason": "no energy used: power factor undefined"}
    percent = table.percent_for(cos_phi)
    base = sum((line.amount for line in piece_lines), ZERO)
    unit_price = base / 100  # yuan per 1 % (exact: base has two decimals)
    zh, en = line_text("POWER_FACTOR", cos_phi=cos_phi, standard=table.standard)
    line = QuoteLine(
        code="POWER_FACTOR", description=zh, description_en=en,
        quantity=percent, unit=LINES["POWER_FACTOR"][2], unit_price=unit_price, amount=yuan(percent * unit_price),
        segment_start=piece.start, segment_end=piece.end,
    )
    return line, {"assessed": True, "cos_phi": cos_phi, "standard": table.standard, "percent": percent,
                  "charged_on": base, "table": table.id, "source": table.source, "kvarh": Decimal(inp.kvarh)}


def _pf_absent_reason(pieces: list[_Piece], inp: RatingInput) -> str:
    if not any(p.version.power_factor for p in pieces):
        return "the tariff has no power-factor adjustment"
    return "no reactive energy (kvarh) given" if inp.kvarh is None else "no energy used: power factor undefined"


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _months_of(start: date, end: date) -> set[int]:
    months, day = set(), start
    while day < end:
        months.add(day.month)
        day = _next_month(day)
    return months


def _months(piece: _Piece) -> Decimal:
    units = month_units(piece.start, piece.end)
    return (Decimal(units) / DAYS_PER_MONTH).quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP)

