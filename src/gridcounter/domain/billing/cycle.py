"""One account's consumption over a billing period, from its meters' readings at the route's fixed days."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from gridcounter.domain.readings.codes import SHORT_REASONS, Finding, finding, finding_from_dict

from .explanation import HoldFinding, IntervalFacts, MeterExchange
from .periods import BillingPeriod, MeterSpan, register_use

# Registers that carry active energy; REACTIVE (kvarh) is used for the power factor only.
ENERGY_REGISTERS = ("TOTAL", "PEAK", "FLAT", "VALLEY")
# A reading this many days either side of the fixed day is the fixed day's reading (later ones are
# OFF_SCHEDULE for validation; the bill still finds them and holds on their codes).
WINDOW_DAYS = 7
USABLE_STATUSES = ("ACCEPTED", "HELD")


@dataclass(frozen=True)
class ReadingRef:
    reading_id: int
    meter_id: int
    register: str
    read_date: date
    read_at: str  # ISO timestamp, for ordering and display
    value: Decimal
    source: str
    is_estimate: bool
    status: str
    codes: tuple = ()  # as stored on the reading: code strings or finding dicts


@dataclass(frozen=True)
class InstallationRef:
    meter_id: int
    asset_number: str
    digits: int
    multiplier: Decimal
    registers: tuple[str, ...]
    installed_date: date
    removed_date: date | None
    initial_readings: dict  # register -> value at installation
    final_readings: dict  # register -> value at removal


@dataclass
class CycleUsage:
    kwh_by_register: dict[str, Decimal] = field(default_factory=dict)
    kvarh: Decimal | None = None
    readings: dict = field(default_factory=dict)  # JSON stored on the bill
    reading_ids: list[int] = field(default_factory=list)
    estimated_registers: list[str] = field(default_factory=list)
    estimated_previous: list[str] = field(default_factory=list)
    rolled_over: list[str] = field(default_factory=list)
    meter_exchange: MeterExchange | None = None
    holds: list[HoldFinding] = field(default_factory=list)
    intervals: IntervalFacts | None = None  # usage from 15-minute intervals (kwh_by_register holds their bins)

    @property
    def total_kwh(self) -> Decimal:
        regs = self.kwh_by_register
        if "TOTAL" in regs:
            return regs["TOTAL"]
        return sum((regs.get(r, Decimal(0)) for r in ("CRITICAL_PEAK", "PEAK", "FLAT", "VALLEY")), Decimal(0))

    @property
    def is_estimate(self) -> bool:
        return bool(self.estimated_registers) or (self.intervals is not None and self.intervals.estimated > 0)


def pick_reading(candidates: list[ReadingRef], *, fixed_date: date, window_days: int = WINDOW_DAYS) -> ReadingRef | None:
    """The reading for a fixed day, the rule stated once: among usable readings (USABLE_STATUSES) within
    `window_days` of the day, the closest; then an actual reading before an estimate; then the latest taken
    (`read_at`); then the last entered (highest id). `pick_reading_frame` is its vectorised form."""
    usable = [
        r for r in candidates
        if r.status in USABLE_STATUSES and abs((r.read_date - fixed_date).days) <= window_days
    ]
    if len(usable) < 2:
        return usable[0] if usable else None
    usable.sort(key=lambda r: (abs((r.read_date - fixed_date).days), r.is_estimate, _neg(r.read_at), -r.reading_id))
    return usable[0]


def pick_reading_frame(readings, *, fixed_date: date, keys: list[str], window_days: int = WINDOW_DAYS):
    """The optimisation of `pick_reading` for the bill run: a Polars frame of readings (`reading_id`, `read_date`,
    `read_at` as UTC text that sorts in time order, `is_estimate`, `status`, and `keys`) in, the one row per `keys`
    that `pick_reading` would choose out, with the same statuses, window and order of preference."""
    import polars as pl

    c = pl.col
    return (readings.filter(c("status").is_in(list(USABLE_STATUSES)))
            .with_columns(_distance=(c("read_date") - pl.lit(fixed_date)).dt.total_days().abs())
            .filter(c("_distance") <= window_days)
            .sort([*keys, "_distance", "is_estimate", "read_at", "reading_id"],
                  descending=[*(False for _ in keys), False, False, True, True])
            .group_by(keys, maintain_order=True).first().drop("_distance"))


def _neg(text: str) -> tuple:
    # sort later timestamps first without parsing: invert each character's code point
    return tuple(-ord(c) for c in text)


def hold_from_reading(reading: ReadingRef) -> list[HoldFinding]:
    """The blocking findings of a reading held by validation."""
    if reading.status != "HELD":
        return []
    out: list[HoldFinding] = []
    for item in reading.codes or ():
        found = _as_finding(item)
        if found is None or found.severity == "INFO":
            continue
        out.append(HoldFinding(found.code, {**found.numbers, "reading_id": reading.reading_id},
                               found.reason_zh, found.reason_en))
    if not out:
        out.append(HoldFinding("READING_HELD", {"reading_id": reading.reading_id},
                               f"读数 {reading.value}（{reading.read_date.isoformat()}）待审核。",
                               f"The reading {reading.value} of {reading.read_date.isoformat()} is held for review."))
    return out


def _as_finding(item) -> Finding | None:
    if isinstance(item, dict):
        return finding_from_dict(item)
    code = str(item)
    try:
        return finding(code)
    except (KeyError, ValueError, IndexError):
        zh, en = SHORT_REASONS.get(code, (f"读数校验未通过：{code}。", f"The reading failed the check {code}."))
        return Finding(code=code, severity="ERROR", numbers={}, reason_zh=zh, reason_en=en)


def missed(*, register: str, fixed_date: date, meter: str) -> HoldFinding:
    found = finding("MISSED", fixed_date=fixed_date.isoformat())
    return HoldFinding("MISSED", {**found.numbers, "register": register, "meter": meter},
                       found.reason_zh, found.reason_en)


def _value(mapping: dict, register: str) -> Decimal | None:
    raw = (mapping or {}).get(register)
    return None if raw in (None, "") else Decimal(str(raw))


def cycle_usage(*, billing: BillingPeriod, installations: list[InstallationRef],
                readings_by_meter: dict[int, list[ReadingRef]], window_days: int = WINDOW_DAYS) -> CycleUsage:
    """Consumption per register, the readings used and what stops the bill (missed or held readings).

    Each installation overlapping [start, end) contributes a span: from the reading at the previous fixed
    day (or the meter's initial reading if installed inside the period) to the reading at this fixed day (or
    the final reading if removed inside the period). Two installations in the period are a meter exchange.
    """
    usage = CycleUsage()
    live = sorted(
        (i for i in installations
         if i.installed_date < billing.end_date and (i.removed_date is None or i.removed_date > billing.start_date)),
        key=lambda i: i.installed_date,
    )
    if len(live) > 1:
        old, new = live[0], live[-1]
        usage.meter_exchange = MeterExchange(new.installed_date, old.asset_number, new.asset_number)
    spans: dict[str, list[MeterSpan]] = {}
    register_readings: dict[str, list[dict]] = {}
    for inst in live:
        candidates = readings_by_meter.get(inst.meter_id, [])
        for register in inst.registers:
            by_reg = [r for r in candidates if r.register == register]
            entry = register_entry(meter=inst.asset_number, multiplier=inst.multiplier, digits=inst.digits)
            # start of the span
            if inst.installed_date > billing.start_date:
                start_value = _value(inst.initial_readings, register) or Decimal(0)
                entry["previous"] = {"value": str(start_value), "date": inst.installed_date.isoformat(),
                                     "kind": "INITIAL"}
            else:
                prev = pick_reading(by_reg, fixed_date=billing.start_date, window_days=window_days)
                if prev is None:
                    usage.holds.append(missed(register=register, fixed_date=billing.start_date, meter=inst.asset_number))
                    start_value = None
                else:
                    start_value = prev.value
                    entry["previous"] = _ref_json(prev)
                    usage.reading_ids.append(prev.reading_id)
                    if prev.is_estimate:
                        usage.estimated_previous.append(register)
                    usage.holds.extend(hold_from_reading(prev) if _is_prev_hold(prev) else [])
            # end of the span
            if inst.removed_date is not None and inst.removed_date <= billing.end_date:
                end_value = _value(inst.final_readings, register)
                if end_value is None:
                    usage.holds.append(missed(register=register, fixed_date=inst.removed_date, meter=inst.asset_number))
                else:
                    entry["current"] = {"value": str(end_value), "date": inst.removed_date.isoformat(), "kind": "FINAL"}
            else:
                curr = pick_reading(by_reg, fixed_date=billing.end_date, window_days=window_days)
                if curr is None:
                    usage.holds.append(missed(register=register, fixed_date=billing.end_date, meter=inst.asset_number))
                    end_value = None
                else:
                    end_value = curr.value
                    entry["current"] = _ref_json(curr)
                    usage.reading_ids.append(curr.reading_id)
                    if curr.is_estimate:
                        usage.estimated_registers.append(register)
                    usage.holds.extend(hold_from_reading(curr))
            register_readings.setdefault(register, []).append(entry)
            if start_value is not None and end_value is not None:
                spans.setdefault(register, []).append(
                    MeterSpan(start_value=start_value, end_value=end_value, digits=inst.digits,
                              multiplier=inst.multiplier))
    for register, reg_spans in spans.items():
        use = register_use(reg_spans)
        if use.rolled_over:
            usage.rolled_over.append(register)
        if register == "REACTIVE":
            usage.kvarh = use.kwh
        else:
            usage.kwh_by_register[register] = use.kwh
    usage.readings = register_readings
    if not live:
        usage.holds.append(HoldFinding("NO_METER", {}, "本期没有在装的电能表。", "No meter served the account in this period."))
    return usage


def _is_prev_hold(reading: ReadingRef) -> bool:
    # a previous reading still held was never settled by review: the bill cannot rest on it either
    return reading.status == "HELD"


def _ref_json(r: ReadingRef) -> dict:
    return reading_entry(reading_id=r.reading_id, value=r.value, read_date=r.read_date, source=r.source,
                         is_estimate=r.is_estimate, status=r.status)


# --- the readings a bill stores: {register: [one entry per meter that served it], "_reading_ids": [...]} -----

def reading_entry(*, reading_id: int, value: Decimal, read_date: date, source: str, is_estimate: bool,
                  status: str) -> dict:
    """One reading a bill rests on, as the bill stores it (under an entry's "previous" or "current")."""
    return {"reading_id": reading_id, "value": str(value), "date": read_date.isoformat(), "source": source,
            "is_estimate": is_estimate, "status": status}


def register_entry(*, meter: str, multiplier: Decimal, digits: int) -> dict:
    """One meter's part of a register's readings; "previous" and "current" (`reading_entry`) are added to it."""
    return {"meter": meter, "multiplier": str(multiplier), "digits": digits}


def readings_frame(spans):
    """The optimisation of the readings JSON above for the bill run: per account of `spans` (one row per account,
    meter and register, with `asset_number`, `multiplier_c`, `digits` and `prev_…` / `curr_…` reading columns,
    values in hundredths), the bill's `readings` JSON text, with the same keys in the same order."""
    import polars as pl

    from gridcounter.domain.units import fixed_text

    c = pl.col

    def reading(which: str) -> pl.Expr:
        return pl.struct(reading_id=c(f"{which}_reading_id"), value=fixed_text(c(f"{which}_value_c"), 2),
                         date=c(f"{which}_read_date").dt.strftime("%Y-%m-%d"), source=c(f"{which}_source"),
                         is_estimate=c(f"{which}_is_estimate"), status=c(f"{which}_status"))

    per_register = spans.sort("account_id", "_reg_pos").select(
        "account_id",
        pl.concat_str([c("register").str.replace_all('"', '\\"', literal=True), pl.lit('": ['),
                       pl.struct(meter=c("asset_number"), multiplier=fixed_text(c("multiplier_c"), 2),
                                 digits=c("digits"), previous=reading("prev"), current=reading("curr"))
                       .struct.json_encode(), pl.lit("]")]).alias("_part"),
        pl.concat_str([c("prev_reading_id").cast(pl.String), pl.lit(", "), c("curr_reading_id").cast(pl.String)])
        .alias("_ids"))
    return per_register.group_by("account_id", maintain_order=True).agg(
        pl.concat_str([pl.lit('{"'), c("_part").str.join(', "'), pl.lit(', "_reading_ids": ['), c("_ids").str.join(", "),
                       pl.lit("]}")]).alias("readings"))
