"""Reading validation (VEE) rules: plain data in, Findings out. No Django, no clock, no I/O."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .codes import Code, Finding, finding

KWH = Decimal("0.01")
RATIO = Decimal("0.01")


class RulesError(ValueError):
    """The validation rules (thresholds) are missing a key or hold a value of the wrong kind."""


@dataclass(frozen=True)
class Thresholds:
    typical_cycles: int = 3
    min_cycles_for_band: int = 3
    min_cycles_for_spike: int = 2
    lookback_days: int = 430
    rollover_max_kwh_without_history: Decimal = Decimal(2000)
    spike_factor: Decimal = Decimal(8)
    spike_min_kwh: Decimal = Decimal(50)
    high_factor: Decimal = Decimal("2.5")
    low_factor: Decimal = Decimal("0.3")
    band_min_expected_kwh: Decimal = Decimal(20)
    max_trend: Decimal = Decimal(3)
    zero_streak_cycles: int = 3
    schedule_tolerance_days: int = 2
    max_consecutive_estimates: int = 2
    estimate_recent_cycles: int = 3
    swap_factor: Decimal = Decimal(4)
    swap_min_misfit_kwh: Decimal = Decimal(100)
    blocking: frozenset[str] = frozenset(
        {"DECREASE", "SPIKE", "HIGH", "LOW", "ZERO_STREAK", "OFF_SCHEDULE", "MISSED", "INACTIVE_METER", "DUPLICATE",
         "ESTIMATE_STREAK", "SWAP_SUSPECTED"}
    )

    @classmethod
    def from_mapping(cls, data: Mapping) -> Thresholds:
        """Build from the parsed rules file (see rules/validation.toml). Raises RulesError naming the key."""

        def get(section: str, key: str, kind):
            try:
                raw = data[section][key]
            except (KeyError, TypeError):
                raise RulesError(f"validation rules: missing [{section}] {key}")
            try:
                if kind is Decimal:
                    if isinstance(raw, bool):
                        raise ValueError
                    return Decimal(str(raw))
                if kind is int:
                    if isinstance(raw, bool) or not isinstance(raw, int):
                        raise ValueError
                    return raw
                return kind(raw)
            except (ValueError, ArithmeticError):
                raise RulesError(f"validation rules: [{section}] {key} = {raw!r} is not a {kind.__name__}")

        blocking = get("blocking", "codes", list)
        unknown = [c for c in blocking if c not in Code.__members__]
        if unknown:
            raise RulesError(f"validation rules: [blocking] codes: unknown code(s) {', '.join(map(str, unknown))}")
        return cls(
            typical_cycles=get("history", "typical_cycles", int),
            min_cycles_for_band=get("history", "min_cycles_for_band", int),
            min_cycles_for_spike=get("history", "min_cycles_for_spike", int),
            lookback_days=get("history", "lookback_days", int),
            rollover_max_kwh_without_history=get("decrease", "rollover_max_kwh_without_history", Decimal),
            spike_factor=get("spike", "factor", Decimal),
            spike_min_kwh=get("spike", "min_kwh", Decimal),
            high_factor=get("band", "high_factor", Decimal),
            low_factor=get("band", "low_factor", Decimal),
            band_min_expected_kwh=get("band", "min_expected_kwh", Decimal),
            max_trend=get("band", "max_trend", Decimal),
            zero_streak_cycles=get("zero_streak", "cycles", int),
            schedule_tolerance_days=get("schedule", "tolerance_days", int),
            max_consecutive_estimates=get("estimates", "max_consecutive", int),
            estimate_recent_cycles=get("estimates", "recent_cycles", int),
            swap_factor=get("swap", "factor", Decimal),
            swap_min_misfit_kwh=get("swap", "min_misfit_kwh", Decimal),
            blocking=frozenset(blocking),
        )

    def is_blocking(self, code: str) -> bool:
        return code in self.blocking


@dataclass(frozen=True)
class PriorReading:
    """An accepted reading of the same meter and register (actual or estimate)."""

    read_date: date
    value: Decimal
    is_estimate: bool = False


@dataclass(frozen=True)
class CycleUse:
    """Consumption of one past cycle [start_date, end_date), in register units."""

    start_date: date
    end_date: date
    kwh: Decimal
    is_estimate: bool = False

    @property
    def days(self) -> int:
        return max((self.end_date - self.start_date).days, 1)

    @property
    def daily(self) -> Decimal:
        return self.kwh / self.days


@dataclass(frozen=True)
class ReadingCheck:
    """Everything the rules need about one new reading."""

    read_date: date
    value: Decimal
    digits: int
    previous: PriorReading | None = None
    history: Sequence[CycleUse] = ()  # past cycles, oldest first, ending at or before previous.read_date
    route_day: int | None = None
    has_account: bool = True
    account_active: bool = True
    meter: str = ""
    multiplier: Decimal = Decimal(1)  # kWh per unit the register advances (a CT meter's ×21,000)


@dataclass(frozen=True)
class Expectation:
    daily: Decimal
    kwh: Decimal
    basis: str  # SAME_MONTH_LAST_YEAR or RECENT_AVERAGE
    cycles: int  # actual cycles of history available

    @property
    def basis_zh(self) -> str:
        return "按去年同月并结合近期趋势" if self.basis == "SAME_MONTH_LAST_YEAR" else "按近期平均"

    @property
    def basis_en(self) -> str:
        return ("same month last year, scaled by the recent trend" if self.basis == "SAME_MONTH_LAST_YEAR"
                else "recent average")


def _q(value: Decimal, exp: Decimal = KWH) -> Decimal:
    return value.quantize(exp, rounding=ROUND_HALF_UP)


def dial_span(digits: int) -> Decimal:
    """The dial of a ``digits``-digit register goes round after 10^digits."""
    return Decimal(10) ** digits


def cycles_from_readings(readings: Sequence[PriorReading], *, digits: int) -> list[CycleUse]:
    """Consumption between consecutive accepted readings (oldest first); a lower value is a rollover."""
    cycles = []
    for before, after in zip(readings, readings[1:], strict=False):
        if after.read_date <= before.read_date:
            continue
        advance = after.value - before.value
        if advance < 0:
            advance += dial_span(digits)
        cycles.append(CycleUse(start_date=before.read_date, end_date=after.read_date, kwh=advance,
                               is_estimate=after.is_estimate))
    return cycles


def _same_month_last_year(history: Sequence[CycleUse], end_date: date) -> CycleUse | None:
    for cycle in reversed(history):
        if not cycle.is_estimate and (cycle.end_date.year, cycle.end_date.month) == (end_date.year - 1, end_date.month):
            return cycle
    return None


def expected_consumption(*, history: Sequence[CycleUse], start_date: date, end_date: date,
                         rules: Thresholds) -> Expectation | None:
    """Expected consumption over [start_date, end_date) from the account's own actual history.

    The same month last year scaled by the recent trend (recent cycles vs. the same cycles a year
    earlier) when there is one; else the recent average daily use. None without any actual history.
    """
    actual = [c for c in history if not c.is_estimate and c.end_date <= start_date]
    if not actual:
        return None
    days = max((end_date - start_date).days, 1)
    recent = actual[-rules.typical_cycles:]
    recent_daily = sum((c.kwh for c in recent), Decimal(0)) / sum(c.days for c in recent)
    last_year = _same_month_last_year(actual, end_date)
    if last_year is None:
        return Expectation(daily=recent_daily, kwh=_q(recent_daily * days), basis="RECENT_AVERAGE", cycles=len(actual))
    trend = Decimal(1)
    year_before = [_same_month_last_year(actual, c.end_date) for c in recent]
    if all(year_before):
        then_daily = sum((c.kwh for c in year_before), Decimal(0)) / sum(c.days for c in year_before)
        if then_daily > 0:
            trend = min(max(recent_daily / then_daily, 1 / rules.max_trend), rules.max_trend)
    daily = last_year.daily * trend
    return Expectation(daily=daily, kwh=_q(daily * days), basis="SAME_MONTH_LAST_YEAR", cycles=len(actual))


def nearest_fixed_date(*, read_date: date, route_day: int) -> date:
    """The route's fixed reading day nearest to ``read_date`` (this, the previous or the next month)."""
    candidates = []
    for shift in (-1, 0, 1):
        month0 = read_date.month - 1 + shift
        year, month = read_date.year + month0 // 12, month0 % 12 + 1
        candidates.append(date(year, month, route_day))
    return min(candidates, key=lambda d: (abs((d - read_date).days), d))


def check_schedule(*, read_date: date, route_day: int | None, rules: Thresholds) -> Finding | None:
    """OFF_SCHEDULE when read more than the tolerance from the route's fixed reading day."""
    if route_day is None:
        return None
    fixed = nearest_fixed_date(read_date=read_date, route_day=route_day)
    days_off = abs((read_date - fixed).days)
    if days_off <= rules.schedule_tolerance_days:
        return None
    return finding(Code.OFF_SCHEDULE, read_date=read_date.isoformat(), fixed_date=fixed.isoformat(),
                   days_off=days_off, limit=rules.schedule_tolerance_days)


def check_estimate_streak(*, consecutive_estimates: int, rules: Thresholds) -> Finding | None:
    """ESTIMATE_STREAK when another estimate would exceed the limit of estimates in a row."""
    if consecutive_estimates < rules.max_consecutive_estimates:
        return None
    return finding(Code.ESTIMATE_STREAK, estimates=consecutive_estimates, limit=rules.max_consecutive_estimates)


def spike_limit(*, expectation: Expectation | None, days: int, rules: Thresholds) -> Decimal | None:
    """The most consumption that is not a SPIKE over ``days``; None without enough history."""
    if expectation is None or expectation.cycles < rules.min_cycles_for_spike:
        return None
    return max(_q(expectation.daily * days * rules.spike_factor), rules.spike_min_kwh)


def in_kwh(advance: Decimal, multiplier: Decimal) -> Decimal:
    """What an advance of the register (dial units) means in kWh: × the meter's multiplier, to 0.01."""
    return _q(advance * multiplier)


def validate_reading(check: ReadingCheck, *, rules: Thresholds) -> list[Finding]:
    """All findings for one new reading: the rules of rules/validation.toml applied to ``check``.

    The rules compare the register's advance (dial units); the findings state the dial values as read and the
    consumption in kWh after the meter's multiplier (``in_kwh``), which the texts call kWh / 千瓦时.
    """
    findings: list[Finding] = []
    mult = check.multiplier
    if not check.has_account:
        findings.append(finding(Code.INACTIVE_METER, meter=check.meter, read_date=check.read_date.isoformat()))
    off = check_schedule(read_date=check.read_date, route_day=check.route_day, rules=rules)
    if off:
        findings.append(off)
    prev = check.previous
    if prev is None or check.read_date <= prev.read_date:
        return findings
    days = (check.read_date - prev.read_date).days
    history = list(check.history)
    expectation = expected_consumption(history=history, start_date=prev.read_date, end_date=check.read_date,
                                       rules=rules)
    limit = spike_limit(expectation=expectation, days=days, rules=rules)
    kwh = check.value - prev.value
    if kwh < 0:
        rollover_kwh = dial_span(check.digits) - prev.value + check.value
        rollover_limit = limit if limit is not None else rules.rollover_max_kwh_without_history
        if rollover_kwh <= rollover_limit:
            findings.append(finding(Code.ROLLOVER, prev=prev.value, curr=check.value, digits=check.digits,
                                    kwh=in_kwh(rollover_kwh, mult)))
            kwh = rollover_kwh
        else:
            findings.append(finding(Code.DECREASE, prev=prev.value, curr=check.value, digits=check.digits,
                                    rollover_kwh=in_kwh(rollover_kwh, mult), limit_kwh=in_kwh(rollover_limit, mult)))
            return findings
    spiked = False
    if limit is not None and kwh > limit and expectation.kwh > 0:
        spiked = True
        findings.append(finding(Code.SPIKE, kwh=in_kwh(kwh, mult), days=days,
                                expected_kwh=in_kwh(expectation.kwh, mult),
                                ratio=_q(kwh / expectation.kwh, RATIO), limit=rules.spike_factor))
    if (not spiked and expectation is not None and expectation.cycles >= rules.min_cycles_for_band
            and expectation.kwh >= rules.band_min_expected_kwh):
        ratio = kwh / expectation.kwh
        common = dict(kwh=in_kwh(kwh, mult), expected_kwh=in_kwh(expectation.kwh, mult), ratio=_q(ratio, RATIO),
                      basis=expectation.basis_zh,
                      basis_en=expectation.basis_en)
        if ratio > rules.high_factor:
            findings.append(finding(Code.HIGH, limit=rules.high_factor, **common))
        elif ratio < rules.low_factor and kwh > 0:  # zero is left to ZERO_STREAK
            findings.append(finding(Code.LOW, limit=rules.low_factor, **common))
    if kwh == 0 and check.account_active and check.has_account:
        earlier = history[-(rules.zero_streak_cycles - 1):] if rules.zero_streak_cycles > 1 else []
        if len(earlier) == rules.zero_streak_cycles - 1 and all(c.kwh == 0 for c in earlier):
            findings.append(finding(Code.ZERO_STREAK, cycles=rules.zero_streak_cycles))
    return findings


# ---- the bill run's view of one account and period ------------------------------------------------


@dataclass(frozen=True)
class CycleReading:
    """A stored reading as the bill run sees it."""

    read_date: date
    value: Decimal
    is_estimate: bool = False
    held: bool = False
    findings: tuple[Finding, ...] = ()
    reading_id: int | None = None


@dataclass(frozen=True)
class RegisterUse:
    prev: Decimal
    curr: Decimal
    kwh: Decimal  # (curr - prev, rollover handled) x meter multiplier, to 0.01 ROUND_HALF_UP
    is_estimate: bool
    prev_date: date | None = None
    curr_date: date | None = None
    prev_reading_id: int | None = None
    curr_reading_id: int | None = None


@dataclass(frozen=True)
class CycleResult:
    account_id: int
    registers: dict[str, RegisterUse] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    blocking: bool = False

    @property
    def codes(self) -> list[str]:
        return sorted({f.code for f in self.findings})


def validate_cycle(*, account_id: int, registers: Sequence[str], previous: Mapping[str, CycleReading | None],
                   current: Mapping[str, CycleReading | None], history: Mapping[str, Sequence[CycleUse]],
                   digits: int, multiplier: Decimal, fixed_date: date, route_day: int | None,
                   account_active: bool, rules: Thresholds) -> CycleResult:
    """Consumption per register between the previous and the current fixed-day readings, and findings.

    A register without a current (or previous) reading gives MISSED. Findings stored on the current
    reading (e.g. DUPLICATE, SWAP_SUSPECTED, found when it arrived) are carried over; the reading rules
    are applied again with the history given. ``blocking`` when any finding is blocking or a reading is held.
    """
    uses: dict[str, RegisterUse] = {}
    findings: list[Finding] = []
    blocking = False
    for register in registers:
        prev, curr = previous.get(register), current.get(register)
        if curr is None or prev is None:
            findings.append(finding(Code.MISSED, fixed_date=fixed_date.isoformat()))
            blocking = blocking or rules.is_blocking(Code.MISSED)
            continue
        check = ReadingCheck(read_date=curr.read_date, value=curr.value, digits=digits,
                             previous=PriorReading(prev.read_date, prev.value, prev.is_estimate),
                             history=history.get(register, ()), route_day=route_day, account_active=account_active,
                             multiplier=multiplier)
        found = validate_reading(check, rules=rules)
        seen = {f.code for f in found}
        found += [f for f in curr.findings if f.code not in seen]
        findings += found
        blocking = blocking or curr.held or any(rules.is_blocking(f.code) for f in found)
        advance = curr.value - prev.value
        if advance < 0:
            advance += dial_span(digits)
        uses[register] = RegisterUse(
            prev=prev.value, curr=curr.value, kwh=_q(advance * multiplier), is_estimate=curr.is_estimate,
            prev_date=prev.read_date, curr_date=curr.read_date, prev_reading_id=prev.reading_id,
            curr_reading_id=curr.reading_id,
        )
    return CycleResult(account_id=account_id, registers=uses, findings=findings, blocking=blocking)

