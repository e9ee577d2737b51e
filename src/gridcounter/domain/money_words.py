"""Amounts in Chinese capital numerals (大写金额) as written on receipts: 壹佰贰拾叁元肆角伍分."""
from __future__ import annotations

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
SECTION_UNITS = ("", "万", "亿", "万亿")
MAX_FEN = 10 ** 18 - 1  # below 一万万亿元: more is no amount a counter sees


class AmountTooLarge(ValueError):
    """The amount has more digits than the 大写 units go (万亿)."""


def _yuan_words(yuan: int) -> str:
    digits = str(yuan)
    length = len(digits)
    out: list[str] = []
    zero_pending = False
    for index, char in enumerate(digits):
        position = length - 1 - index
        digit = int(char)
        if digit == 0:
            zero_pending = True
        else:
            if zero_pending and out:
                out.append("零")
            zero_pending = False
            out.append(DIGITS[digit] + SMALL_UNITS[position % 4])
        if position % 4 == 0 and position > 0 and int(digits[max(0, index - 3):index + 1]) != 0:
            # a 万 / 亿 section with any figure in it gets its unit; an all-zero section is skipped
            out.append(SECTION_UNITS[position // 4])
            zero_pending = False  # 壹拾万柒仟: zeros ending a section are not read before the next one
    return "".join(out)


def fen_in_capitals(fen: int) -> str:
    """Integer fen → 大写金额 as on bank slips and receipts (《正确填写票据和结算凭证的基本规定》).

    ``12345`` → 壹佰贰拾叁元肆角伍分; ``10000`` → 壹佰元整; ``32504`` → 叁佰贰拾伍元零肆分;
    ``140950`` → 壹仟肆佰零玖元伍角; ``5`` → 伍分; ``0`` → 零元整; negative amounts start with 负.
    Tens are written 壹拾 (never a bare 拾), so nothing can be added in front.

    Raises TypeError (not an int), AmountTooLarge.
    """
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError("money is integer fen")
    if abs(fen) > MAX_FEN:
        raise AmountTooLarge(f"{fen} fen is beyond the units of 大写金额")
    if fen < 0:
        return "负" + fen_in_capitals(-fen)
    yuan, rest = divmod(fen, 100)
    jiao, fen_digit = divmod(rest, 10)
    if fen == 0:
        return "零元整"
    text = _yuan_words(yuan) + "元" if yuan else ""
    if jiao == 0 and fen_digit == 0:
        return text + "整"
    if jiao:
        text += DIGITS[jiao] + "角"
    elif yuan:
        text += "零"  # 元 then straight to 分: the missing 角 is read as 零
    if fen_digit:
        text += DIGITS[fen_digit] + "分"
    return text
