"""Receipt amounts in 大写: the examples of 《正确填写票据和结算凭证的基本规定》 and the edge cases at the counter."""
import pytest

from gridcounter.domain.money_words import AmountTooLarge, fen_in_capitals


@pytest.mark.parametrize(("fen", "words"), [
    (12345, "壹佰贰拾叁元肆角伍分"),
    (10000, "壹佰元整"),
    (0, "零元整"),
    (5, "伍分"),
    (50, "伍角"),
    (45, "肆角伍分"),
    (1000, "壹拾元整"),
    (1050, "壹拾元伍角"),
    (32504, "叁佰贰拾伍元零肆分"),       # 角 is zero: 零 after 元
    (140950, "壹仟肆佰零玖元伍角"),       # the standard's ¥1,409.50
    (600714, "陆仟零柒元壹角肆分"),       # ¥6,007.14
    (10700053, "壹拾万柒仟元伍角叁分"),   # ¥107,000.53
    (1640902, "壹万陆仟肆佰零玖元零贰分"),  # ¥16,409.02
    (1001000, "壹万零壹拾元整"),
    (10000000000, "壹亿元整"),
    (10000000100, "壹亿零壹元整"),
    (10001000000, "壹亿零壹万元整"),
    (11000000000, "壹亿壹仟万元整"),
    (120000000, "壹佰贰拾万元整"),
    (-12345, "负壹佰贰拾叁元肆角伍分"),
])
def test_amounts_read_as_written_on_a_receipt(fen, words):
    assert fen_in_capitals(fen) == words


def test_money_is_integer_fen_never_a_float():
    with pytest.raises(TypeError):
        fen_in_capitals(123.45)


def test_an_amount_beyond_the_units_is_refused():
    with pytest.raises(AmountTooLarge):
        fen_in_capitals(10 ** 18)
