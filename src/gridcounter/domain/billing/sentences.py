"""The sentences a bill explains itself with, each written once as a template with named slots, in Chinese and
English, with the number formats they use.

`explanation` renders them for one bill (`render`, Python strings); the bill run's `explanation_frame.explain_frame`
renders the same templates for a frame of bills (`render_frame`, Polars expressions): `render_frame` is the
optimisation of `render`, and the number formats come in the same pairs (`kwh_text` / `kwh_text_frame`, `yuan` /
`yuan_frame`). A slot is filled with one value for both languages, or with a `Words` pair (one per language).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from string import Formatter

# code (and variant) → (Chinese, English)
SENTENCES: dict[str, tuple[str, str]] = {
    "USAGE_VS_PREVIOUS": (
        "本期用电 {kwh} 千瓦时，比上期（{previous_period}，{previous_kwh} 千瓦时）{more_less} {change}%。",
        "You used {kwh} kWh, {change}% {more_less} than the previous period ({previous_period}, {previous_kwh} kWh)."),
    "USAGE_VS_PREVIOUS.nothing_before": (
        "本期用电 {kwh} 千瓦时，上期（{previous_period}）用电为 0。",
        "You used {kwh} kWh; the previous period ({previous_period}) had no usage."),
    "USAGE_VS_LAST_YEAR": (
        "与去年同期（{last_year_period}，{last_year_kwh} 千瓦时）相比{more_less} {change}%。",
        "That is {change}% {more_less} than the same period last year ({last_year_period}, {last_year_kwh} kWh)."),
    "USAGE_VS_LAST_YEAR.nothing_before": (
        "去年同期（{last_year_period}）用电为 0。",
        "The same period last year ({last_year_period}) had no usage."),
    "SEASONAL": (
        "季节性用电：本期比上期高 {vs_previous}，但与去年同期相当（{vs_last_year}），常见于夏季空调或冬季取暖。",
        "Seasonal usage: {vs_previous} higher than the previous period but in line with the same period last year "
        "({vs_last_year}), as is usual with summer air-conditioning or winter heating."),
    "SEASONAL.vs_last_year": ("{more_less} {change}%", "{change}% {more_less}"),
    "DAYS_IN_PERIOD": (
        "本期自 {start_date} 至 {last_day}，共 {days} 天。",
        "This period runs from {start_date} to {last_day}: {days} days."),
    "DAYS_IN_PERIOD.previous_days": ("上期为 {previous_days} 天。", " The previous period had {previous_days} days."),
    "TIER_STATUS.monthly": ("本期用电 {kwh} 千瓦时，处于第 {tier} 档", "This period's usage is {kwh} kWh, in tier {tier}"),
    "TIER_STATUS.annual": ("今年累计用电 {kwh} 千瓦时，处于第 {tier} 档",
                           "Your usage so far this year is {kwh} kWh, in tier {tier}"),
    "TIER_STATUS.remaining": (
        "，距第 {next_tier} 档（{next_threshold} 千瓦时）还有 {remaining} 千瓦时。",
        "; {remaining} kWh remain before tier {next_tier} starts above {next_threshold} kWh."),
    "TIER_STATUS.top": ("（最高档）。", " (the top tier)."),
    "TIER_STATUS.crossed": (
        "本期用电跨入了更高一档，超出部分按更高电价计费。",
        " This bill crossed into a higher tier; the usage above the threshold is charged at the higher price."),
    "PRICE_CHANGE": (
        "电价于 {change_date} 调整（{tariff}），本期按调整前后的天数分段计费。",
        "The price of {tariff} changed on {change_date}; this period is charged in two parts, pro rata by day."),
    "CATEGORY_CHANGE": (
        "用电类别于 {change_date} 由 {from_category}（{from_tariff}）变更为 {to_category}（{to_tariff}），本期按天数分段计费。",
        "The usage category changed on {change_date} from {from_category} ({from_tariff}) to {to_category} "
        "({to_tariff}); this period is charged in parts, pro rata by day."),
    "INTERVAL_DATA": (
        "本期用电取自智能电表的15分钟间隔数据（应有 {expected} 个间隔，收到 {actual} 个），按电价时段归集：{parts}。",
        "Your usage comes from the meter's 15-minute interval data ({actual} of {expected} intervals received), "
        "added up by the tariff's time-of-use periods: {parts}."),
    "INTERVAL_DATA.part": ("{name} {kwh} 千瓦时", "{name} {kwh} kWh"),
    "INTERVAL_DATA.total_part": ("{name} {kwh} 千瓦时", "{kwh} kWh in all"),
    "ESTIMATED": ("本期读数为估算（{registers}），下次实抄后多退少补。",
                  "This bill uses an estimated reading ({registers}); the next actual reading settles the difference."),
    "ESTIMATED.actual": ("本期读数为实抄读数。", "This bill uses actual meter readings."),
    "ESTIMATED.intervals": (
        "本期有 {estimated} 个15分钟间隔缺数，已按前后实测值线性插值估算（共 {kwh} 千瓦时），本账单为估算账单。",
        "{estimated} of the period's {expected} 15-minute intervals were missing and were interpolated from the "
        "measured ones around them ({kwh} kWh): this bill is an estimate."),
    "ESTIMATED.intervals_measured": ("本期全部15分钟间隔均为实测数据。", "Every 15-minute interval of this period was measured."),
    "METER_EXCHANGE": (
        "电能表于 {exchange_date} 更换（旧表 {old_meter}，新表 {new_meter}），本期用电 = 旧表止码 − 上期读数 + 新表本期读数 − 新表起码。",
        "The meter was exchanged on {exchange_date} (old {old_meter}, new {new_meter}); usage = old meter's final − "
        "previous reading + new meter's reading − its initial reading."),
    "CATCH_UP": (
        "此前 {cycles} 期为估抄，本期实抄后补算差额 {kwh} 千瓦时。",
        "The previous {cycles} period(s) were estimated; this actual reading settles {kwh} kWh of difference."),
    "ROLLOVER": (
        "电能表示数走满一圈后归零（{registers}），已按满码计算。",
        "The meter register passed its last digit and started again from zero ({registers}); counted in full."),
    "HOLD": ("暂缓发行，待审核：{reason}", "Held for review: {reason}"),
    "BILL_SHOCK": (
        "电费突增：本期 {amount} 元，比{basis}（{baseline} 元）高 {increase}%，且无阶梯、调价或估抄等原因；暂缓发行，先告知客户并核查。",
        "Bill shock: {amount} yuan is {increase}% above {basis} ({baseline} yuan) with no tier, price or estimate to "
        "explain it; held until the customer has been told and the readings checked."),
    "CORRECTION_DIFFERENCE": (
        "本账单更正第 {bill} 号账单：原 {old_amount} 元（{old_kwh} 千瓦时），现 {new_amount} 元（{new_kwh} 千瓦时），{direction} {difference} 元。",
        "This bill corrects bill {bill}: was {old_amount} yuan ({old_kwh} kWh), now {new_amount} yuan ({new_kwh} kWh): "
        "{difference} yuan {direction}."),
    "CORRECTION_DIFFERENCE.reason": ("更正原因：{reason}", " Reason: {reason}"),
}


@dataclass(frozen=True)
class Words:
    """A slot's value in each language."""

    zh: object
    en: object

    def of(self, lang: int):
        return self.zh if lang == 0 else self.en


# words that fill slots, (Chinese, English)
WORDS: dict[str, Words] = {
    "more": Words("增加", "more"), "less": Words("减少", "less"), "level": Words("持平", "level"),
    "SAME_PERIOD_LAST_YEAR": Words("去年同期", "the same period last year"),
    "RECENT_AVERAGE": Words("近期平均", "your recent average"),
    "more_to_pay": Words("补收", "more to pay"), "to_be_credited": Words("退还", "to be credited"),
    "list": Words("、", ", "), "parts": Words("，", ", "),
}


def _pieces(template: str) -> list[tuple[str, str | None]]:
    return [(text, name) for text, name, _spec, _conv in Formatter().parse(template)]


def render(key: str, **slots) -> tuple[str, str]:
    """The sentence `key` in Chinese and in English, its slots filled (a `Words` slot gives each language its own)."""
    return tuple(SENTENCES[key][lang].format(**{name: value.of(lang) if isinstance(value, Words) else value
                                                for name, value in slots.items()}) for lang in (0, 1))


def render_frame(key: str, **slots):
    """`render` as two Polars string expressions (Chinese, English): the template's text as literals around its
    slots, each slot an expression, a str, or a `Words` of either."""
    import polars as pl

    def part(value):
        return value if isinstance(value, pl.Expr) else pl.lit(str(value))

    out = []
    for lang in (0, 1):
        parts = []
        for text, name in _pieces(SENTENCES[key][lang]):
            if text:
                parts.append(pl.lit(text))
            if name is not None:
                value = slots[name]
                parts.append(part(value.of(lang) if isinstance(value, Words) else value))
        out.append(pl.concat_str(parts) if parts else pl.lit(""))
    return tuple(out)


def words_frame(condition, yes: str, no: str) -> Words:
    """A `Words` slot that reads WORDS[yes] where `condition` holds and WORDS[no] elsewhere, per language."""
    import polars as pl

    return Words(*(pl.when(condition).then(pl.lit(WORDS[yes].of(lang))).otherwise(pl.lit(WORDS[no].of(lang)))
                   for lang in (0, 1)))


# --- number formats, each with its vectorised form -------------------------------------------------------------

def yuan(fen: int) -> str:
    """123456 -> '1,234.56' (exact: fen are integers; thousands grouped, as the counter's screens show money)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def kwh_text(value: Decimal) -> str:
    """kWh for a sentence: two decimals at most, none when whole, thousands grouped (12345.5 → '12,345.50')."""
    q = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{q.to_integral_value():,}" if q == q.to_integral_value() else f"{q:,f}"


def grouped_frame(n):
    """A non-negative integer expression with its thousands grouped, as Python's f"{n:,}" writes it ("1,234,567"):
    the digits reversed, a comma after every three, the trailing one dropped, reversed back."""
    import polars as pl

    return (n.cast(pl.String).str.reverse().str.replace_all(r"(\d{3})", "${1},").str.strip_chars_end(",")
            .str.reverse())


def yuan_frame(fen):
    """`yuan` of an integer fen expression: "-1,234.56"."""
    import polars as pl

    m = fen.abs()
    return pl.concat_str([pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")), grouped_frame(m // 100),
                          pl.lit("."), (m % 100).cast(pl.String).str.zfill(2)])


def kwh_text_frame(c):
    """`kwh_text` of a non-negative kWh expression in hundredths: two decimals, none when whole, thousands grouped."""
    import polars as pl

    whole = grouped_frame(c // 100)
    return pl.when(c % 100 == 0).then(whole).otherwise(
        pl.concat_str([whole, pl.lit("."), (c % 100).cast(pl.String).str.zfill(2)]))
