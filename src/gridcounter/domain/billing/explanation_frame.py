"""Bill explanations and the bill-shock test as Polars columns: the optimisation of `explanation.explain()` and
`shock.assess_shock()` for the bill run, rendering the same sentence templates (`sentences`) and checked against
them (`tests/unit/domain/billing/test_explanation_frame.py`, and each bill run's sample).

For bills of a plain period (one installation, actual accepted readings, one tariff, no price change inside
the period) the reasons are USAGE_VS_PREVIOUS, USAGE_VS_LAST_YEAR, SEASONAL, DAYS_IN_PERIOD, TIER_STATUS,
ESTIMATED ("actual readings") and BILL_SHOCK. `explain_frame` builds their JSON — same codes, numbers and
sentences in both languages as `explain()` — plus the shock assessment `assess_shock()` makes, for a whole
frame at once.

Numbers are integers (`domain.units`): kWh in hundredths (`_c`) or ten-thousandths (`_e4`), money in fen. Every quotient is
computed exactly (Int128) and rounded half up away from zero, like Decimal's ROUND_HALF_UP. Decimal divides
the bill-shock baselines at 28 significant digits before rounding; where the exact value is a tie those
digits could round the other way, so such rows (and rows whose tariff thresholds are not whole hundredths)
are marked ``explain_one_by_one`` and the caller explains them with `explain()` itself.
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import polars as pl

from gridcounter.domain.billing.explanation import BillContext, days_in_period, estimated, reason_envelope
from gridcounter.domain.billing.sentences import (
    WORDS,
    Words,
    kwh_text,
    kwh_text_frame,
    render_frame,
    words_frame,
    yuan_frame,
)
from gridcounter.domain.billing.shock import PeriodFigures
from gridcounter.domain.tariffs import Catalogue, TierBasis, month_units, tier_thresholds
from gridcounter.domain.units import I128, fixed_text, half_up

MAX_THRESHOLDS = 4

__all__ = ["EXPLAIN_INPUT", "explain_frame", "tier_table"]

# The frame `explain_frame` reads (one row per bill; history columns null when there is no such bill).
EXPLAIN_INPUT = {
    "account_id": pl.Int64(), "tariff_id": pl.String(), "household_size": pl.Int64(),
    "total_e4": pl.Int64(),  # the bill's kWh, as the draft's BillContext holds it (4 decimals)
    "used_c": pl.Int64(),  # kWh counted against the tiers (sum of the rated energy components)
    "ytd_c": pl.Int64(), "amount_fen": pl.Int64(),
    "prev_kwh_c": pl.Int64(), "prev_amount_fen": pl.Int64(), "prev_days": pl.Int64(),
    "ly_kwh_c": pl.Int64(), "ly_amount_fen": pl.Int64(), "ly_days": pl.Int64(),
    "r2_amount_fen": pl.Int64(), "r2_days": pl.Int64(), "r3_amount_fen": pl.Int64(), "r3_days": pl.Int64(),
    "r2_kwh_c": pl.Int64(), "r3_kwh_c": pl.Int64(),
}


def tier_table(*, catalogue: Catalogue, keys: list[tuple[str, int | None]], start_date: date,
               end_date: date) -> pl.DataFrame:
    """Per (tariff, household size): tier basis, thresholds in hundredths with their texts, as `_Tiers` reads them.

    `vector_ok` is false where a threshold is not a whole number of hundredths, thresholds are not ascending,
    or there are more than MAX_THRESHOLDS.
    """
    units = month_units(start_date, end_date)
    rows = []
    for tariff_id, household_size in keys:
        tariff = catalogue.tariffs.get(tariff_id)
        found = tariff.version_on(start_date) if tariff is not None else None
        row: dict = {"tariff_id": tariff_id, "household_size": household_size, "tiered": False,
                     "basis": "ANNUAL", "annual": False,
                     "vector_ok": found is not None}
        for i in range(MAX_THRESHOLDS):
            row.update({f"t{i}_c": None, f"t{i}_s": None, f"t{i}_text": None})
        if found is not None:
            version, _end = found
            thresholds = tier_thresholds(version, household_size=household_size, units=units)
            row["tiered"] = version.tiers is not None
            row["basis"] = str(version.prices.basis or "ANNUAL")
            row["annual"] = version.prices.basis is TierBasis.ANNUAL
            exact = all(t.as_tuple().exponent >= -2 for t in thresholds)
            ascending = list(thresholds) == sorted(thresholds)
            row["vector_ok"] = exact and ascending and len(thresholds) <= MAX_THRESHOLDS
            if row["vector_ok"]:
                for i, t in enumerate(thresholds):
                    row.update({f"t{i}_c": int(t * 100), f"t{i}_s": str(t), f"t{i}_text": kwh_text(t)})
        rows.append(row)
    schema = {"tariff_id": pl.String(), "household_size": pl.Int64(), "tiered": pl.Boolean(),
              "basis": pl.String(), "annual": pl.Boolean(), "vector_ok": pl.Boolean()}
    for i in range(MAX_THRESHOLDS):
        schema.update({f"t{i}_c": pl.Int64(), f"t{i}_s": pl.String(), f"t{i}_text": pl.String()})
    return pl.DataFrame(rows, schema=schema, orient="row")


# --- exact integer helpers --------------------------------------------------------------------------------


def _half_up(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """`units.half_up` on Int128."""
    return half_up(num.cast(I128), den)


def _is_tie(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return ((num.abs() * 2) % (den * 2)) == den


class _Pct:
    """`percent_change(new, old)`: (new − old)·100/old to 0.1, ROUND_HALF_UP; None when old is 0."""

    def __init__(self, new: pl.Expr, old: pl.Expr):
        num = (new - old) * 1000
        self.none = old == 0
        self.tenths = _half_up(num, old)  # signed
        self.negative = num < 0  # Decimal keeps the sign of -0.0
        self.tie = _is_tie(num, old)
        self.abs_text = fixed_text(self.tenths.abs(), 1)
        self.text = pl.when(self.none).then(None).otherwise(
            pl.concat_str([pl.when(self.negative).then(pl.lit("-")).otherwise(pl.lit("")), self.abs_text]))
        self.more = ~self.negative | (self.tenths == 0)  # _more_less: -0.0 >= 0

    def more_less(self) -> Words:
        return words_frame(self.more, "more", "less")


def _reason(code: str, numbers: dict[str, pl.Expr], zh: pl.Expr, en: pl.Expr) -> pl.Expr:
    return pl.struct(**reason_envelope(pl.lit(code), pl.struct(**numbers), zh, en)).struct.json_encode()


# --- the frame --------------------------------------------------------------------------------------------

def explain_frame(frame: pl.DataFrame, *, tiers: pl.DataFrame, period: str, previous_period: str,
                  last_year_period: str, start_date: date, end_date: date, threshold_pct: Decimal) -> pl.DataFrame:
    """Explanation JSON, status, hold codes and facts per bill, as `draft_bill` makes them for a plain period.

    `frame` has the EXPLAIN_INPUT columns; `tiers` comes from `tier_table`. Returns account_id, status
    (ISSUED/HELD), is_shock, hold_codes (JSON), explanation (JSON), facts (JSON) and explain_one_by_one (the
    rows the caller must explain with `explain()`: see the module docstring).
    """
    c = pl.col
    days = (end_date - start_date).days
    threshold = Decimal(threshold_pct)
    t10 = int((threshold * 10).to_integral_value(rounding="ROUND_FLOOR"))
    f = frame.join(tiers, on=["tariff_id", "household_size"], how="left", nulls_equal=True)
    f = f.with_columns([c(n).cast(I128) for n in (
        "total_e4", "used_c", "ytd_c", "amount_fen", "prev_kwh_c", "prev_amount_fen", "prev_days", "ly_kwh_c",
        "ly_amount_fen", "ly_days", "r2_amount_fen", "r2_days", "r3_amount_fen", "r3_days", "r2_kwh_c",
        "r3_kwh_c")])

    has_prev, has_ly = c("prev_kwh_c").is_not_null(), c("ly_kwh_c").is_not_null()
    kwh_e4 = c("total_e4")
    kwh_str = fixed_text(kwh_e4, 4)
    kwh_txt = kwh_text_frame(_half_up(kwh_e4, pl.lit(100, dtype=I128)))

    # --- tiers: the vectorised form of `tariffs.tier_status` (the thresholds as the rating engine's) ---
    tiered = c("tiered").fill_null(False)
    before = pl.when(c("annual").fill_null(False)).then(c("ytd_c").fill_null(0)).otherwise(pl.lit(0, dtype=I128))
    after = before + c("used_c").fill_null(0)
    ts = [c(f"t{i}_c").cast(I128) for i in range(MAX_THRESHOLDS)]
    reached = pl.lit(1) + pl.sum_horizontal([(t < after).fill_null(False).cast(pl.Int64) for t in ts])
    tier_before = pl.lit(1) + pl.sum_horizontal([(t < before).fill_null(False).cast(pl.Int64) for t in ts])
    following_c = pl.coalesce([pl.when(t >= after).then(t) for t in ts])
    following_s = pl.coalesce([pl.when(ts[i] >= after).then(c(f"t{i}_s")) for i in range(MAX_THRESHOLDS)])
    following_text = pl.coalesce([pl.when(ts[i] >= after).then(c(f"t{i}_text")) for i in range(MAX_THRESHOLDS)])
    remaining = following_c - after
    crossed = tiered & (reached > tier_before)
    f = f.with_columns(_after=after, _reached=reached, _crossed=crossed, _following_s=following_s,
                       _following_text=following_text, _remaining=remaining)
    monthly = c("basis") == "MONTHLY"
    head = [render_frame(key, kwh=kwh_text_frame(c("_after")), tier=c("_reached").cast(pl.String))
            for key in ("TIER_STATUS.monthly", "TIER_STATUS.annual")]
    remaining_text = render_frame("TIER_STATUS.remaining", next_tier=(c("_reached") + 1).cast(pl.String),
                                  next_threshold=c("_following_text"), remaining=kwh_text_frame(c("_remaining")))
    top, crossed_text = render_frame("TIER_STATUS.top"), render_frame("TIER_STATUS.crossed")
    tier_zh, tier_en = (pl.concat_str([
        pl.when(monthly).then(head[0][lang]).otherwise(head[1][lang]),
        pl.when(c("_remaining").is_not_null()).then(remaining_text[lang]).otherwise(top[lang]),
        pl.when(c("_crossed")).then(crossed_text[lang]).otherwise(pl.lit(""))]) for lang in (0, 1))
    tier_reason = pl.when(tiered).then(_reason("TIER_STATUS", {
        "ytd_kwh": fixed_text(c("_after"), 2), "tier": c("_reached").cast(pl.Int64),
        "next_threshold_kwh": c("_following_s"), "remaining_kwh": pl.when(c("_remaining").is_not_null()).then(
            fixed_text(c("_remaining"), 2)), "crossed": c("_crossed"), "basis": c("basis")}, tier_zh, tier_en))

    # --- usage against the previous period and the same period last year ---
    vs_prev = _Pct(kwh_e4, c("prev_kwh_c") * 100)
    vs_ly = _Pct(kwh_e4, c("ly_kwh_c") * 100)
    prev_none = render_frame("USAGE_VS_PREVIOUS.nothing_before", kwh=kwh_txt, previous_period=previous_period)
    prev_change = render_frame("USAGE_VS_PREVIOUS", kwh=kwh_txt, previous_period=previous_period,
                               previous_kwh=kwh_text_frame(c("prev_kwh_c")), more_less=vs_prev.more_less(),
                               change=vs_prev.abs_text)
    prev_zh, prev_en = (pl.when(vs_prev.none).then(prev_none[lang]).otherwise(prev_change[lang]) for lang in (0, 1))
    prev_reason = pl.when(has_prev).then(_reason("USAGE_VS_PREVIOUS", {
        "kwh": kwh_str, "previous_kwh": fixed_text(c("prev_kwh_c"), 2), "previous_period": pl.lit(previous_period),
        "change_pct": vs_prev.text}, prev_zh, prev_en))
    ly_none = render_frame("USAGE_VS_LAST_YEAR.nothing_before", last_year_period=last_year_period)
    ly_change = render_frame("USAGE_VS_LAST_YEAR", last_year_period=last_year_period,
                             last_year_kwh=kwh_text_frame(c("ly_kwh_c")), more_less=vs_ly.more_less(),
                             change=vs_ly.abs_text)
    ly_zh, ly_en = (pl.when(vs_ly.none).then(ly_none[lang]).otherwise(ly_change[lang]) for lang in (0, 1))
    ly_reason = pl.when(has_ly).then(_reason("USAGE_VS_LAST_YEAR", {
        "kwh": kwh_str, "last_year_kwh": fixed_text(c("ly_kwh_c"), 2), "last_year_period": pl.lit(last_year_period),
        "change_pct": vs_ly.text}, ly_zh, ly_en))

    # --- the bill-shock test (assess_shock), exactly ---
    amount = c("amount_fen")

    def scaled(a: str, d: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        usable = c(a).is_not_null() & (c(a) > 0)
        num = pl.when(c(d) > 0).then(c(a) * days).otherwise(c(a))
        den = pl.when(c(d) > 0).then(c(d)).otherwise(pl.lit(1, dtype=I128))
        return (usable, pl.when(usable).then(num).otherwise(pl.lit(0, dtype=I128)),
                pl.when(usable).then(den).otherwise(pl.lit(1, dtype=I128)))

    ly_ok, ly_num, ly_den = scaled("ly_amount_fen", "ly_days")
    recent = [scaled("prev_amount_fen", "prev_days"), scaled("r2_amount_fen", "r2_days"),
              scaled("r3_amount_fen", "r3_days")]
    n_usable = pl.sum_horizontal([u.cast(pl.Int64) for u, _n, _d in recent]).cast(I128)
    all_dens = recent[0][2] * recent[1][2] * recent[2][2]
    r_num = (recent[0][1] * recent[1][2] * recent[2][2] + recent[1][1] * recent[0][2] * recent[2][2]
             + recent[2][1] * recent[0][2] * recent[1][2])
    # the usage baseline: the same bills' kWh, scaled the same way (assess_shock's `kwh` rule)
    def scaled_kwh(k: str, a: str, d: str) -> pl.Expr:
        usable = c(a).is_not_null() & (c(a) > 0)
        kwh = c(k).fill_null(0)
        return pl.when(usable).then(pl.when(c(d) > 0).then(kwh * days).otherwise(kwh)).otherwise(
            pl.lit(0, dtype=I128))

    ly_k = scaled_kwh("ly_kwh_c", "ly_amount_fen", "ly_days")
    rk = [scaled_kwh("prev_kwh_c", "prev_amount_fen", "prev_days"), scaled_kwh("r2_kwh_c", "r2_amount_fen", "r2_days"),
          scaled_kwh("r3_kwh_c", "r3_amount_fen", "r3_days")]
    rk_num = (rk[0] * recent[1][2] * recent[2][2] + rk[1] * recent[0][2] * recent[2][2]
              + rk[2] * recent[0][2] * recent[1][2])
    f = f.with_columns(
        _basis=pl.when(ly_ok).then(pl.lit("SAME_PERIOD_LAST_YEAR")).when(n_usable > 0).then(
            pl.lit("RECENT_AVERAGE")).otherwise(pl.lit("NONE")),
        _bn=pl.when(ly_ok).then(ly_num).otherwise(r_num),
        _bd=pl.when(ly_ok).then(ly_den).otherwise(all_dens * n_usable),
        _kn=pl.when(ly_ok).then(ly_k).otherwise(rk_num),
        _p_ok=recent[0][0], _pn=recent[0][1], _pd=recent[0][2],
    )
    none_basis = c("_basis") == "NONE"
    bn, bd = c("_bn"), pl.when(none_basis).then(pl.lit(1, dtype=I128)).otherwise(c("_bd"))
    baseline_fen = pl.when(none_basis).then(pl.lit(0, dtype=I128)).otherwise(_half_up(bn, bd))
    inc_num = (amount * bd - bn) * 1000
    inc_den = pl.when(none_basis).then(pl.lit(1, dtype=I128)).otherwise(bn)
    increase = _half_up(inc_num, inc_den)
    above = ~none_basis & (increase > t10)
    # usage against the same baseline: the bill's kWh to 0.01 (half up) as the draft passes it
    kwh_c = (kwh_e4 * 2 + 100) // 200
    kn = c("_kn")
    k_none = none_basis | (kn == 0)
    k_num = (kwh_c * bd - kn) * 1000
    k_den = pl.when(k_none).then(pl.lit(1, dtype=I128)).otherwise(kn)
    k_increase = _half_up(k_num, k_den)
    usage_up = pl.when(k_none).then(kwh_c > 0).otherwise(k_increase > t10)
    is_shock = above & usage_up & ~c("_crossed")
    vs_prev_amount = _half_up((amount * c("_pd") - c("_pn")) * 1000, pl.when(c("_p_ok")).then(c("_pn")).otherwise(1))
    seasonal = (~is_shock & (c("_basis") == "SAME_PERIOD_LAST_YEAR") & c("_p_ok") & (vs_prev_amount > t10) & ~above)
    ties = ~none_basis & (_is_tie(bn, bd) | _is_tie(inc_num, inc_den) | (kn < 0)
                          | (~k_none & _is_tie(k_num, k_den))) | (
        c("_p_ok") & (c("_basis") == "SAME_PERIOD_LAST_YEAR")
        & _is_tie((amount * c("_pd") - c("_pn")) * 1000, pl.when(c("_p_ok")).then(c("_pn")).otherwise(1)))
    inc_text = pl.when(none_basis).then(None).otherwise(pl.concat_str([
        pl.when(inc_num < 0).then(pl.lit("-")).otherwise(pl.lit("")), fixed_text(increase.abs(), 1)]))
    k_text = pl.when(k_none).then(None).otherwise(pl.concat_str([
        pl.when(k_num < 0).then(pl.lit("-")).otherwise(pl.lit("")), fixed_text(k_increase.abs(), 1)]))
    f = f.with_columns(_is_shock=is_shock, _seasonal=seasonal, _baseline=baseline_fen.cast(pl.Int64),
                       _inc_text=inc_text, _k_text=k_text, _ties=ties.fill_null(False))

    basis = words_frame(c("_basis") == "SAME_PERIOD_LAST_YEAR", "SAME_PERIOD_LAST_YEAR", "RECENT_AVERAGE")
    yuan_amount, yuan_base = yuan_frame(amount), yuan_frame(c("_baseline"))
    shock_reason = pl.when(c("_is_shock")).then(_reason("BILL_SHOCK", {
        "amount_fen": amount.cast(pl.Int64), "baseline_fen": c("_baseline"), "basis": c("_basis"),
        "increase_pct": c("_inc_text"), "threshold_pct": pl.lit(str(threshold)), "hold": pl.lit(True)},
        *render_frame("BILL_SHOCK", amount=yuan_amount, basis=basis, baseline=yuan_base, increase=c("_inc_text"))))

    vs_prev_text = pl.when(vs_prev.none).then(pl.lit("")).otherwise(pl.concat_str([vs_prev.abs_text, pl.lit("%")]))
    vs_ly_change = render_frame("SEASONAL.vs_last_year", more_less=vs_ly.more_less(), change=vs_ly.abs_text)
    vs_ly_text = Words(*(pl.when(vs_ly.none).then(pl.lit(WORDS["level"].of(lang))).otherwise(vs_ly_change[lang])
                         for lang in (0, 1)))
    seasonal_reason = pl.when(c("_seasonal") & has_prev & has_ly).then(_reason("SEASONAL", {
        "change_vs_previous_pct": vs_prev.text, "change_vs_last_year_pct": vs_ly.text,
        "last_year_kwh": fixed_text(c("ly_kwh_c"), 2)},
        *render_frame("SEASONAL", vs_previous=vs_prev_text, vs_last_year=vs_ly_text)))

    # --- constant reasons, from the domain's own functions ---
    ctx = BillContext(period=period, start_date=start_date, end_date=end_date, kwh=Decimal(0), amount_fen=0)
    actual = json.dumps(estimated(ctx).as_dict(), ensure_ascii=False)
    plain_days = json.dumps(days_in_period(ctx).as_dict(), ensure_ascii=False)
    distinct_days = [d for d in f["prev_days"].drop_nulls().unique().to_list() if d and d != days]
    days_reason = pl.lit(plain_days)
    for d in distinct_days:
        ctx.previous = PeriodFigures(period=previous_period, kwh=Decimal(0), amount_fen=0, days=int(d))
        days_reason = pl.when(has_prev & (c("prev_days") == d)).then(
            pl.lit(json.dumps(days_in_period(ctx).as_dict(), ensure_ascii=False))).otherwise(days_reason)

    parts = pl.concat_list([shock_reason, prev_reason, ly_reason, seasonal_reason, days_reason, tier_reason,
                            pl.lit(actual)]).list.drop_nulls()
    facts = pl.concat_str([
        pl.lit('{"engine": "KERNEL", "ytd_kwh": "'), fixed_text(c("ytd_c").fill_null(0), 2), pl.lit('", "shock": '),
        pl.struct(is_shock=c("_is_shock"), seasonal=c("_seasonal"), basis=c("_basis"), baseline_fen=c("_baseline"),
                  increase_pct=c("_inc_text"), threshold_pct=pl.lit(str(threshold)),
                  usage_increase_pct=c("_k_text")).struct.json_encode(),
        pl.lit("}")])
    one_by_one = (~c("vector_ok").fill_null(False) | c("_ties") | (c("total_e4") < 0) | (c("amount_fen") < 0)
              | (c("prev_kwh_c") < 0).fill_null(False) | (c("ly_kwh_c") < 0).fill_null(False))
    return f.select(
        "account_id",
        pl.when(c("_is_shock")).then(pl.lit("HELD")).otherwise(pl.lit("ISSUED")).alias("status"),
        c("_is_shock").alias("is_shock"),
        pl.when(c("_is_shock")).then(pl.lit('["BILL_SHOCK"]')).otherwise(pl.lit("[]")).alias("hold_codes"),
        pl.concat_str([pl.lit("["), parts.list.join(", "), pl.lit("]")]).alias("explanation"),
        facts.alias("facts"),
        one_by_one.alias("explain_one_by_one"),
    )
